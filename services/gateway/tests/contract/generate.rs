//! Values from schemas: schema-valid ones (every documented constraint
//! honoured, leaning to the boundaries) and violations that break exactly
//! one constraint each.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use crate::doc::Doc;
use crate::pattern::Pattern;
use crate::rng::Rng;

/// What the test's world knows about a field, by name.
pub enum Fixture {
    /// Use this value (an id of an object the test created...).
    Use(Value),
    /// Leave the field out of valid requests (its valid values are issued
    /// by the server, e.g. page tokens).
    Omit,
    /// Generate it from its schema.
    Generate,
}

/// A broken value, and what is broken (`too long`, `below minimum`...).
pub struct Violation {
    pub what: String,
    /// `None`: the field is left out.
    pub value: Option<Value>,
}

fn violation(what: impl Into<String>, value: Value) -> Violation {
    Violation {
        what: what.into(),
        value: Some(value),
    }
}

/// The facts of a schema the generator uses, with a nullable `oneOf`
/// unwrapped.
pub struct Facts<'a> {
    pub schema: &'a Value,
    pub kind: &'a str,
}

const LONG_TEXT: i128 = 3000;

pub struct Gen<'d> {
    pub doc: &'d Doc,
    pub rng: Rng,
    pub now: DateTime<Utc>,
}

impl<'d> Gen<'d> {
    pub fn new(doc: &'d Doc, seed: u64) -> Self {
        Self {
            doc,
            rng: Rng::new(seed),
            now: Utc::now(),
        }
    }

    /// The kind (`string`, `object`...) of a schema, through refs and nullable wrappers.
    pub fn facts(&self, schema: &'d Value) -> Facts<'d> {
        let mut schema = self.doc.resolve(schema);
        // `oneOf: [{type: null}, X]` wraps an optional X; an object's own
        // `oneOf` (beside its properties) is a rule across its fields.
        for key in ["oneOf", "anyOf"] {
            if schema.get("properties").is_some() {
                break;
            }
            let mut branches = schema[key].as_array().into_iter().flatten();
            if let Some(b) = branches.find(|b| b["type"] != "null") {
                schema = self.doc.resolve(b);
            }
        }
        let kind = match &schema["type"] {
            Value::String(t) => t.as_str(),
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("string"),
            _ if schema.get("properties").is_some() || schema.get("allOf").is_some() => "object",
            _ => "string",
        };
        Facts { schema, kind }
    }

    /// `allOf` parts merged into one object schema: its properties, the
    /// required ones, and whether others are refused.
    pub fn object_parts(
        &self,
        schema: &'d Value,
    ) -> (Vec<(&'d str, &'d Value)>, Vec<&'d str>, bool) {
        let mut props = Vec::new();
        let mut required = Vec::new();
        let mut closed = schema["additionalProperties"] == Value::Bool(false);
        let parts: Vec<&'d Value> = match schema["allOf"].as_array() {
            Some(parts) => parts.iter().map(|p| self.doc.resolve(p)).collect(),
            None => vec![schema],
        };
        for part in parts {
            if let Some(p) = part["properties"].as_object() {
                props.extend(p.iter().map(|(k, v)| (k.as_str(), v)));
            }
            required.extend(
                part["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
            closed |= part["additionalProperties"] == Value::Bool(false);
        }
        (props, required, closed)
    }

    /// A schema-valid value; `None` when the fixture says to leave it out.
    pub fn valid(
        &mut self,
        schema: &'d Value,
        name: &str,
        fixture: &mut dyn FnMut(&str) -> Fixture,
    ) -> Option<Value> {
        match fixture(name) {
            Fixture::Use(v) => return Some(v),
            Fixture::Omit => return None,
            Fixture::Generate => {}
        }
        let f = self.facts(schema);
        let s = f.schema;
        if let Some(values) = s["enum"].as_array() {
            return Some(self.rng.pick(values).clone());
        }
        Some(match f.kind {
            "object" => self.valid_object(s, fixture),
            "array" => {
                let (lo, hi) = (int(&s["minItems"]).unwrap_or(0), int(&s["maxItems"]));
                let n = match hi {
                    Some(hi) => self.lean(lo, hi),
                    None => self.rng.range(lo, lo + 3),
                };
                let mut items: Vec<Value> = Vec::new();
                for _ in 0..n * 4 {
                    if items.len() as i128 >= n {
                        break;
                    }
                    let item = self.valid(&s["items"], "", fixture);
                    let item = item.unwrap_or(Value::Null);
                    if s["uniqueItems"] != true || !items.contains(&item) {
                        items.push(item);
                    }
                }
                Value::Array(items)
            }
            "integer" => number(self.valid_integer(s)),
            "number" => {
                let lo = s["minimum"].as_f64().unwrap_or(-1e6);
                let hi = s["maximum"].as_f64().unwrap_or(1e6);
                json!(match self.rng.below(3) {
                    0 => lo,
                    1 => hi,
                    _ => self.rng.float(lo, hi),
                })
            }
            "boolean" => json!(self.rng.chance(50)),
            _ => Value::String(self.valid_string(s, name)),
        })
    }

    fn valid_object(&mut self, s: &'d Value, fixture: &mut dyn FnMut(&str) -> Fixture) -> Value {
        let branch = s["oneOf"].as_array().map(|b| self.rng.below(b.len()));
        self.object_in_branch(s, branch, fixture)
    }

    /// An object valid for `s` and, when `s` has a `oneOf` rule across its
    /// fields, for its branch `branch` (fields it requires present, fields
    /// its `not` names absent, its narrowed property schemas honoured), with
    /// at least `minProperties` fields.
    fn object_in_branch(
        &mut self,
        s: &'d Value,
        branch: Option<usize>,
        fixture: &mut dyn FnMut(&str) -> Fixture,
    ) -> Value {
        let (props, mut required, _) = self.object_parts(s);
        let rule = branch.map(|i| Branch::of(&s["oneOf"][i]));
        if let Some(rule) = &rule {
            required.extend(rule.required.iter().copied());
        }
        let min_props = int(&s["minProperties"]).unwrap_or(0) as usize;
        let mut out = Map::new();
        for (key, prop) in &props {
            let forbidden = rule.as_ref().is_some_and(|r| r.forbidden.contains(key));
            let wanted = required.contains(key) || self.rng.chance(60);
            if forbidden || !wanted {
                continue;
            }
            let narrowed = rule.as_ref().and_then(|r| r.narrowed(key));
            if let Some(v) = self.valid_narrowed(prop, narrowed, key, fixture) {
                out.insert((*key).to_owned(), v);
            }
        }
        for (key, prop) in &props {
            let forbidden = rule.as_ref().is_some_and(|r| r.forbidden.contains(key));
            if out.len() >= min_props || forbidden || out.contains_key(*key) {
                continue;
            }
            if let Some(v) = self.valid(prop, key, fixture) {
                out.insert((*key).to_owned(), v);
            }
        }
        Value::Object(out)
    }

    /// A value for `prop` as a rule's branch narrows it: to some of its
    /// enum (`enum`), to the rest of it (`not: {enum}`), or to another schema.
    fn valid_narrowed(
        &mut self,
        prop: &'d Value,
        narrowed: Option<&'d Value>,
        key: &str,
        fixture: &mut dyn FnMut(&str) -> Fixture,
    ) -> Option<Value> {
        let Some(n) = narrowed else {
            return self.valid(prop, key, fixture);
        };
        if let Some(values) = n["enum"].as_array() {
            return Some(self.rng.pick(values).clone());
        }
        if let Some(excluded) = n["not"]["enum"].as_array() {
            let all = self.facts(prop).schema["enum"].as_array();
            let rest: Vec<&Value> = all
                .into_iter()
                .flatten()
                .filter(|v| !excluded.contains(v))
                .collect();
            return Some((*self.rng.pick(&rest)).clone());
        }
        self.valid(n, key, fixture)
    }

    /// `lo`, `hi` or something between, a third of the time each.
    fn lean(&mut self, lo: i128, hi: i128) -> i128 {
        match self.rng.below(3) {
            0 => lo,
            1 => hi,
            _ => self.rng.range(lo, hi),
        }
    }

    fn valid_integer(&mut self, s: &Value) -> i128 {
        let (floor, ceiling) = int_bounds(s);
        let lo = int(&s["minimum"])
            .or(int(&s["exclusiveMinimum"]).map(|m| m + 1))
            .unwrap_or(floor);
        let hi = int(&s["maximum"])
            .or(int(&s["exclusiveMaximum"]).map(|m| m - 1))
            .unwrap_or(ceiling);
        if self.rng.chance(25) {
            // Small values in range, where most real traffic is.
            return self.rng.range(lo.max(0).min(hi), (lo.max(0) + 10).min(hi));
        }
        self.lean(lo, hi)
    }

    pub fn valid_string(&mut self, s: &Value, name: &str) -> String {
        let min = int(&s["minLength"]).unwrap_or(0);
        let max = int(&s["maxLength"]);
        match s["format"].as_str() {
            Some("uuid") => return self.rng.uuid(),
            Some("date-time") => return self.time_for(name).to_rfc3339(),
            // A day whose validity moves with time (a birth date) comes
            // with its example; other days are near ones, ordered by name.
            Some("date") => {
                if let Some(example) = example(s) {
                    return example;
                }
                let days = if name.contains("end") { 5 } else { 0 } + self.rng.range(0, 3) as i64;
                return (self.now + Duration::days(days))
                    .format("%Y-%m-%d")
                    .to_string();
            }
            _ => {}
        }
        if let Some(p) = s["pattern"].as_str() {
            let pattern = Pattern::parse(p).unwrap_or_else(|e| panic!("pattern {p:?}: {e}"));
            // An unanchored pattern (`\S`: not blank) holds for trimmed text.
            for _ in 0..200 {
                let v = if pattern.anchored() {
                    pattern.generate(&mut self.rng)
                } else {
                    self.free_text(min, max)
                };
                let n = v.chars().count() as i128;
                if n >= min && max.is_none_or(|m| n <= m) {
                    return v;
                }
            }
            panic!("no string of {min}..{max:?} characters matches {p:?}");
        }
        self.free_text(min, max)
    }

    /// Text of `min..=max` characters, leaning to the bounds; without a
    /// maximum, now and then a long one.
    fn free_text(&mut self, min: i128, max: Option<i128>) -> String {
        let len = match max {
            Some(max) => self.lean(min, max),
            None if self.rng.chance(15) => LONG_TEXT,
            None => self.lean(min, min + 12),
        };
        self.text(len as usize)
    }

    /// Text of `len` characters that trims to itself: letters (some beyond
    /// ASCII), digits and inner spaces.
    pub fn text(&mut self, len: usize) -> String {
        const CHARS: &[char] = &[
            'a', 'b', 'e', 'o', 'r', 's', 't', 'M', 'K', 'é', 'ü', 'ж', '日', '3', '7', ' ',
        ];
        (0..len)
            .map(|i| {
                let c = *self.rng.pick(CHARS);
                if c == ' ' && (i == 0 || i + 1 == len) {
                    'x'
                } else {
                    c
                }
            })
            .collect()
    }

    /// Times in the near future; an end after a start.
    fn time_for(&mut self, name: &str) -> DateTime<Utc> {
        let base = if name.contains("end") || name.contains("deadline") {
            Duration::days(10)
        } else {
            Duration::hours(2)
        };
        self.now + base + Duration::minutes(self.rng.range(0, 2 * 24 * 60) as i64)
    }

    /// Every single-constraint violation of `schema` (for a JSON body when
    /// `json`, else for a query, path or header value).
    pub fn violations(
        &mut self,
        schema: &'d Value,
        json: bool,
        fixture: &mut dyn FnMut(&str) -> Fixture,
    ) -> Vec<Violation> {
        let f = self.facts(schema);
        let s = f.schema;
        let mut out = Vec::new();
        if s.get("enum").is_some() {
            out.push(violation("not one of the enum", json!("zz_not_listed")));
        }
        match f.kind {
            "object" => self.object_violations(s, fixture, &mut out),
            "array" => self.array_violations(s, fixture, &mut out),
            "integer" => {
                let (floor, ceiling) = int_bounds(s);
                let min = int(&s["minimum"]).unwrap_or(floor);
                out.push(violation("below minimum", number(min - 1)));
                let max = int(&s["maximum"]).unwrap_or(ceiling);
                out.push(violation("above maximum", number(max + 1)));
                out.push(violation("a fraction", json!(1.5)));
                out.push(violation("not a number", json!("abc")));
            }
            "number" => {
                if let Some(min) = s["minimum"].as_f64() {
                    out.push(violation("below minimum", json!(min - 0.5)));
                }
                if let Some(max) = s["maximum"].as_f64() {
                    out.push(violation("above maximum", json!(max + 0.5)));
                }
                out.push(violation("not a number", json!("abc")));
            }
            "boolean" => out.push(violation("not a boolean", json!("maybe"))),
            _ => self.string_violations(s, json, &mut out),
        }
        out
    }

    fn string_violations(&mut self, s: &Value, json: bool, out: &mut Vec<Violation>) {
        match s["format"].as_str() {
            Some("uuid") => out.push(violation("not a UUID", json!("not-a-uuid"))),
            Some("date-time") => out.push(violation("not a date-time", json!("2024-13-40T99:00"))),
            Some("date") => out.push(violation("not a date", json!("2024-13-45"))),
            _ => {}
        }
        if s.get("enum").is_none() && s["format"].as_str().is_none_or(|f| f != "uuid") {
            let base = self.valid_string(s, "");
            if let Some(min) = int(&s["minLength"]).filter(|m| *m > 0) {
                let short: String = base.chars().take((min - 1) as usize).collect();
                out.push(violation("shorter than minLength", json!(short)));
            }
            if let Some(max) = int(&s["maxLength"]) {
                let fill = base.chars().last().unwrap_or('a');
                let mut long = base.clone();
                while (long.chars().count() as i128) <= max {
                    long.push(fill);
                }
                out.push(violation("longer than maxLength", json!(long)));
            }
            if let Some(p) = s["pattern"].as_str() {
                let pattern = Pattern::parse(p).unwrap_or_else(|e| panic!("pattern {p:?}: {e}"));
                if !pattern.anchored() {
                    let blank = " ".repeat(min_len(s).max(1) as usize);
                    out.push(violation("blank", json!(blank)));
                } else if let Some(c) = pattern.breaker() {
                    let mut broken: Vec<char> = base.chars().collect();
                    let at = broken.len() / 2;
                    if broken.is_empty() {
                        broken.push(c);
                    } else {
                        broken[at] = c;
                    }
                    let broken: String = broken.into_iter().collect();
                    out.push(violation(
                        format!("breaks the pattern ({c:?})"),
                        json!(broken),
                    ));
                }
            }
        }
        if json {
            out.push(violation("not a string", json!(12345)));
        }
    }

    fn array_violations(
        &mut self,
        s: &'d Value,
        fixture: &mut dyn FnMut(&str) -> Fixture,
        out: &mut Vec<Violation>,
    ) {
        let items: &'d Value = &s["items"];
        if let Some(min) = int(&s["minItems"]).filter(|m| *m > 0) {
            let fewer: Vec<Value> = (1..min)
                .filter_map(|_| self.valid(items, "", fixture))
                .collect();
            out.push(violation("fewer than minItems", json!(fewer)));
        }
        if let Some(max) = int(&s["maxItems"]) {
            let mut more = Vec::new();
            for _ in 0..=max.min(500) {
                more.push(self.valid(items, "", fixture).unwrap_or(Value::Null));
            }
            if s["uniqueItems"] == true {
                more = (0..=max)
                    .map(|i| self.unique_item(items, i))
                    .collect::<Option<Vec<_>>>()
                    .unwrap_or(more);
            }
            out.push(violation("more than maxItems", json!(more)));
        }
        let first = self.valid(items, "", fixture).unwrap_or(Value::Null);
        if s["uniqueItems"] == true {
            out.push(violation(
                "duplicate items",
                json!([first.clone(), first.clone()]),
            ));
        }
        for v in self.violations(items, true, fixture) {
            if let Some(value) = v.value {
                out.push(violation(format!("[0] {}", v.what), json!([value])));
            }
        }
        out.push(violation("not an array", json!("x")));
    }

    /// The `i`-th of distinct items (for arrays whose items must differ).
    fn unique_item(&mut self, items: &'d Value, i: i128) -> Option<Value> {
        let f = self.facts(items);
        if let Some(values) = f.schema["enum"].as_array() {
            return values.get(i as usize).cloned();
        }
        let mut fixture = |_: &str| Fixture::Generate;
        let v = self.valid(items, "", &mut fixture)?;
        Some(match v.as_str() {
            Some(s) => json!(format!("{s}{i}")),
            None => v,
        })
    }

    fn object_violations(
        &mut self,
        s: &'d Value,
        fixture: &mut dyn FnMut(&str) -> Fixture,
        out: &mut Vec<Violation>,
    ) {
        let (props, required, closed) = self.object_parts(s);
        let base = match self.valid_object(s, fixture) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        for key in &required {
            let mut without = base.clone();
            without.remove(*key);
            out.push(violation(format!("{key}: missing"), Value::Object(without)));
        }
        for (key, prop) in props {
            for v in self.violations(prop, true, fixture) {
                let mut with = base.clone();
                match v.value {
                    Some(value) => with.insert(key.to_owned(), value),
                    None => with.remove(key),
                };
                out.push(violation(format!("{key}: {}", v.what), Value::Object(with)));
            }
        }
        self.cross_field_violations(s, fixture, out);
        if closed {
            let mut extra = base.clone();
            extra.insert("zz_unknown".into(), json!(1));
            out.push(violation("an unknown property", Value::Object(extra)));
        }
        out.push(violation("not an object", json!("x")));
    }
}

/// One branch of an object's `oneOf` rule across its fields.
struct Branch<'d> {
    required: Vec<&'d str>,
    /// Fields this branch's `not: {anyOf: [{required: [f]}...]}` excludes.
    forbidden: Vec<&'d str>,
    properties: &'d Value,
}

impl<'d> Branch<'d> {
    fn of(b: &'d Value) -> Self {
        let names = |v: &'d Value| -> Vec<&'d str> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect()
        };
        Self {
            required: names(&b["required"]),
            forbidden: b["not"]["anyOf"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| names(&r["required"]))
                .collect(),
            properties: &b["properties"],
        }
    }

    fn narrowed(&self, key: &str) -> Option<&'d Value> {
        self.properties.get(key)
    }
}

impl<'d> Gen<'d> {
    /// For each branch of the object's `oneOf`: a field it requires left
    /// out, and a field it excludes put in (each then matches no branch).
    fn cross_field_violations(
        &mut self,
        s: &'d Value,
        fixture: &mut dyn FnMut(&str) -> Fixture,
        out: &mut Vec<Violation>,
    ) {
        let (props, base_required, _) = self.object_parts(s);
        let branches = s["oneOf"].as_array().map_or(0, Vec::len);
        for i in 0..branches {
            let rule = Branch::of(&s["oneOf"][i]);
            let Value::Object(base) = self.object_in_branch(s, Some(i), fixture) else {
                continue;
            };
            for key in rule.required.iter().filter(|k| !base_required.contains(k)) {
                let mut without = base.clone();
                without.remove(*key);
                out.push(violation(
                    format!("rule {i}: {key} left out"),
                    Value::Object(without),
                ));
            }
            for key in &rule.forbidden {
                let Some((_, prop)) = props.iter().find(|(k, _)| k == key) else {
                    continue;
                };
                let mut with = base.clone();
                if let Some(v) = self.valid(prop, key, fixture) {
                    with.insert((*key).to_owned(), v);
                    out.push(violation(
                        format!("rule {i}: {key} put in"),
                        Value::Object(with),
                    ));
                }
            }
        }
        if int(&s["minProperties"]).is_some_and(|m| m > 0) {
            out.push(violation("fewer than minProperties", json!({})));
        }
    }
}

fn min_len(s: &Value) -> i128 {
    int(&s["minLength"]).unwrap_or(0)
}

/// The schema's example, if it gives one.
fn example(s: &Value) -> Option<String> {
    s.get("example")
        .or_else(|| s["examples"].get(0))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

pub fn int(v: &Value) -> Option<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i128))
}

/// The range the integer's `format` allows (OpenAPI's int32 and int64 are signed).
fn int_bounds(s: &Value) -> (i128, i128) {
    match s["format"].as_str() {
        Some("int32") => (i128::from(i32::MIN), i128::from(i32::MAX)),
        _ => (i128::from(i64::MIN), i128::from(i64::MAX)),
    }
}

/// An integer as JSON; beyond 64 bits, the nearest float (still not an integer the server takes).
pub fn number(n: i128) -> Value {
    i64::try_from(n)
        .map(Value::from)
        .or_else(|_| u64::try_from(n).map(Value::from))
        .unwrap_or_else(|_| json!(n as f64))
}
