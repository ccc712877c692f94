//! Building requests for an operation (valid ones, and one per violated
//! constraint), sending them, and judging each answer against the
//! document.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::doc::{In, Operation};
use crate::generate::{Fixture, Gen};
use crate::world::World;

#[derive(Debug, Clone)]
pub struct Req {
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// Sent as this bearer token.
    pub token: Option<String>,
    /// What this request breaks, for invalid ones.
    pub what: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

/// A value as it travels in a path, query or header.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Percent-encodes a path segment (everything but RFC 3986 unreserved).
fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Req {
    pub fn describe(&self, op: &Operation) -> String {
        let query: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let mut body = self.body.as_ref().map(Value::to_string).unwrap_or_default();
        if body.len() > 400 {
            body = format!("{}... ({} bytes)", clip(&body, 400), body.len());
        }
        format!(
            "{} {}?{} [{}] {}",
            op.method,
            self.path,
            query.join("&"),
            headers.join(", "),
            body
        )
    }

    pub async fn send(&self, world: &World, op: &Operation) -> Answer {
        let mut req = world
            .http
            .request(op.method.clone(), format!("{}{}", world.base, self.path))
            .query(&self.query);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = &self.body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }
}

/// A schema-valid request for `op`, its ids from the world.
pub fn valid<'d>(g: &mut Gen<'d>, world: &World, op: &'d Operation) -> Req {
    let mut fixture = |name: &str| world.fixture(op, name);
    let mut req = Req {
        path: op.path.clone(),
        query: Vec::new(),
        headers: Vec::new(),
        body: None,
        token: op.secured.then(|| world.caller(op).to_owned()),
        what: "valid".into(),
    };
    for p in &op.params {
        // Real ids always go in; generated optional values now and then.
        let value = match fixture(&p.name) {
            Fixture::Use(v) => v,
            Fixture::Omit => continue,
            Fixture::Generate if p.required || g.rng.chance(60) => {
                match g.valid(&p.schema, &p.name, &mut |_| Fixture::Generate) {
                    Some(v) => v,
                    None => continue,
                }
            }
            Fixture::Generate => continue,
        };
        let text = as_text(&value);
        match p.location {
            In::Path => {
                req.path = req
                    .path
                    .replace(&format!("{{{}}}", p.name), &encode_segment(&text));
            }
            In::Query => req.query.push((p.name.clone(), text)),
            In::Header => req.headers.push((p.name.clone(), text)),
        }
    }
    if let Some(schema) = &op.body {
        let mut body = g.valid(schema, "", &mut fixture).unwrap_or(Value::Null);
        world.fixup(op, &mut body);
        req.body = Some(body);
    }
    req
}

/// One request per broken constraint, each otherwise `base`.
pub fn invalid<'d>(g: &mut Gen<'d>, world: &World, op: &'d Operation, base: &Req) -> Vec<Req> {
    let mut fixture = |name: &str| world.fixture(op, name);
    let mut out = Vec::new();
    for p in &op.params {
        let mut variants = g.violations(&p.schema, false, &mut fixture);
        if p.required && p.location != In::Path {
            variants.push(crate::generate::Violation {
                what: "missing".into(),
                value: None,
            });
        }
        for v in variants {
            let mut req = base.clone();
            req.what = format!("{} {}: {}", location(p.location), p.name, v.what);
            let text = v.value.as_ref().map(as_text);
            match p.location {
                In::Path => {
                    let Some(text) = text.filter(|t| !t.is_empty()) else {
                        continue;
                    };
                    let mut path = op.path.clone();
                    for other in &op.params {
                        if other.location == In::Path && other.name != p.name {
                            let current = segment(base, op, &other.name);
                            path = path.replace(&format!("{{{}}}", other.name), &current);
                        }
                    }
                    req.path = path.replace(&format!("{{{}}}", p.name), &encode_segment(&text));
                }
                In::Query | In::Header => {
                    let list = if p.location == In::Query {
                        &mut req.query
                    } else {
                        &mut req.headers
                    };
                    list.retain(|(k, _)| k != &p.name);
                    if let Some(text) = text {
                        list.push((p.name.clone(), text));
                    }
                }
            }
            out.push(req);
        }
    }
    if let Some(schema) = &op.body {
        for v in g.violations(schema, true, &mut fixture) {
            let mut req = base.clone();
            req.what = format!("body {}", v.what);
            let mut body = v.value.unwrap_or(Value::Null);
            if !v.what.starts_with("receipt") {
                world.fixup(op, &mut body);
            }
            req.body = Some(body);
            out.push(req);
        }
    }
    // Each its own operation: a reused idempotency key would be refused
    // as such (409) before the broken constraint is looked at.
    for req in &mut out {
        fresh_keys(g, op, req);
    }
    out
}

/// New idempotency keys (header and body) where the request does not break them.
fn fresh_keys<'d>(g: &mut Gen<'d>, op: &'d Operation, req: &mut Req) {
    let what = req.what.to_lowercase();
    if what.contains("idempotency") {
        return;
    }
    for p in op.params.iter().filter(|p| p.location == In::Header) {
        if let Some((_, value)) = req.headers.iter_mut().find(|(k, _)| k == &p.name) {
            *value = g.valid_string(&g.facts(&p.schema).schema.clone(), &p.name);
        }
    }
    if let Some(key) = req
        .body
        .as_mut()
        .and_then(|b| b.get_mut("idempotency_key"))
        .filter(|k| k.is_string())
    {
        *key = Value::String(format!("fz-{}", g.rng.uuid()));
    }
}

fn location(l: In) -> &'static str {
    match l {
        In::Path => "path",
        In::Query => "query",
        In::Header => "header",
    }
}

/// The value `base` put in for path parameter `name`.
fn segment(base: &Req, op: &Operation, name: &str) -> String {
    let template: Vec<&str> = op.path.split('/').collect();
    let actual: Vec<&str> = base.path.split('/').collect();
    template
        .iter()
        .zip(&actual)
        .find(|(t, _)| **t == format!("{{{name}}}"))
        .map(|(_, a)| (*a).to_owned())
        .unwrap_or_default()
}

/// At most `n` bytes of `s`, cut at a character boundary.
fn clip(s: &str, n: usize) -> &str {
    let end = s
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take_while(|end| *end <= n)
        .last()
        .unwrap_or(0);
    &s[..end]
}

/// A problem worth failing the test for.
pub struct Finding {
    pub op: String,
    pub request: String,
    pub status: StatusCode,
    pub body: String,
    pub why: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "- {}: {}\n    request: {}\n    answer: {} {}",
            self.op, self.why, self.request, self.status, self.body
        )
    }
}

pub fn finding(op: &Operation, req: &Req, answer: &Answer, why: impl Into<String>) -> Finding {
    let body = clip(&answer.body.to_string(), 300).to_owned();
    Finding {
        op: op.name(),
        request: req.describe(op),
        status: answer.status,
        body,
        why: why.into(),
    }
}

/// What is wrong with the answer to a valid request, if anything.
pub fn judge_valid(op: &Operation, answer: &Answer) -> Option<String> {
    let status = answer.status;
    if status.is_server_error() {
        return Some("server error".into());
    }
    if !op.documents(status.as_u16()) {
        return Some(format!("status {} is not documented", status.as_u16()));
    }
    // 400 is the request's shape; a documented 422 is a business rule
    // about the state of things (an ended room, an empty wallet).
    if status == StatusCode::BAD_REQUEST {
        return Some("a schema-valid request was refused".into());
    }
    None
}

/// What is wrong with the answer to a request that breaks one
/// constraint: `seen` holds the statuses the valid requests got (a refusal
/// for the same reason proves nothing either way).
pub fn judge_invalid(
    op: &Operation,
    answer: &Answer,
    seen: &BTreeSet<u16>,
) -> Result<(), Option<String>> {
    let status = answer.status;
    if status.is_success() {
        return Err(Some("a schema-violating request was accepted".into()));
    }
    if status.is_server_error() {
        return Err(Some("server error".into()));
    }
    if !op.documents(status.as_u16()) {
        return Err(Some(format!(
            "status {} is not documented",
            status.as_u16()
        )));
    }
    if status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY {
        return Ok(());
    }
    if seen.contains(&status.as_u16()) {
        return Err(None);
    }
    Err(Some(format!(
        "refused with {} instead of 400 (the violation went unnoticed)",
        status.as_u16()
    )))
}
