//! The served OpenAPI document as the fuzzer reads it: its operations
//! (method, path, parameters, body, documented statuses) and `$ref`
//! resolution.

use std::collections::BTreeSet;

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
    Header,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub location: In,
    pub required: bool,
    pub schema: Value,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub method: reqwest::Method,
    /// The template, `/v1/videos/{video_id}`.
    pub path: String,
    pub params: Vec<Param>,
    pub body: Option<Value>,
    /// Documented statuses (`"200"`, `"404"`...).
    pub statuses: BTreeSet<String>,
    pub secured: bool,
}

impl Operation {
    /// `GET /v1/videos/{video_id}`.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Whether the document lists `status` for this operation (exactly: a
    /// range such as `4XX` tells a client nothing it can act on).
    pub fn documents(&self, status: u16) -> bool {
        self.statuses.contains(&status.to_string())
    }
}

pub struct Doc {
    pub root: Value,
}

impl Doc {
    /// Follows `$ref`s (`#/components/schemas/X`) until a schema.
    pub fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..16 {
            let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
                return schema;
            };
            let pointer = reference.trim_start_matches('#');
            schema = self.root.pointer(pointer).unwrap_or(&Value::Null);
        }
        schema
    }

    /// Every operation, in document order (paths sorted, then methods).
    pub fn operations(&self) -> Vec<Operation> {
        let mut out = Vec::new();
        let Some(paths) = self.root["paths"].as_object() else {
            return out;
        };
        for (path, item) in paths {
            for method in ["get", "put", "post", "patch", "delete"] {
                let Some(op) = item.get(method) else { continue };
                let params = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(item["parameters"].as_array().into_iter().flatten())
                    .map(|p| self.param(p))
                    .collect();
                let body = op["requestBody"]["content"]["application/json"]["schema"]
                    .as_object()
                    .map(|s| Value::Object(s.clone()));
                let statuses = op["responses"]
                    .as_object()
                    .map(|r| r.keys().cloned().collect())
                    .unwrap_or_default();
                let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
                out.push(Operation {
                    method: method.to_uppercase().parse().expect("method"),
                    path: path.clone(),
                    params,
                    body,
                    statuses,
                    secured,
                });
            }
        }
        out
    }

    fn param(&self, p: &Value) -> Param {
        let p = self.resolve(p);
        let location = match p["in"].as_str() {
            Some("path") => In::Path,
            Some("header") => In::Header,
            _ => In::Query,
        };
        Param {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            location,
            required: p["required"].as_bool().unwrap_or(location == In::Path),
            schema: {
                // A parameter's example travels with its schema.
                let mut schema = p.get("schema").cloned().unwrap_or(Value::Null);
                if let (Some(example), Some(s)) = (p.get("example"), schema.as_object_mut()) {
                    s.entry("example").or_insert(example.clone());
                }
                schema
            },
        }
    }
}
