//! The OpenAPI document as the conformance tests read it: its operations, `$ref` resolution,
//! structural checks, and validation of one answer (status, content type, JSON body) against
//! what the document says the operation returns.

use serde_json::{json, Value};

/// The document Herald ships (and serves at `/api/v1/openapi.json`).
pub const SOURCE: &str = include_str!("../../../src/api/openapi.json");

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// One operation: its method (upper case), its path template and its object in the document.
pub struct Operation<'a> {
    pub method: String,
    pub path: &'a str,
    pub object: &'a Value,
}

impl Operation<'_> {
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// What the server answered, kept whole so it can be checked and reported.
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).chars().take(400).collect()
    }
}

pub struct OpenApi {
    pub doc: Value,
}

impl OpenApi {
    pub fn parse(text: &str) -> Self {
        let doc: Value = serde_json::from_str(text).expect("the OpenAPI document is JSON");
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")),
            "the checks read the document as OpenAPI 3.1 (JSON Schema 2020-12), it declares {}",
            doc["openapi"]
        );
        OpenApi { doc }
    }

    pub fn operations(&self) -> Vec<Operation<'_>> {
        let mut all = Vec::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths is an object") {
            for method in METHODS {
                if let Some(object) = item.get(method) {
                    all.push(Operation {
                        method: method.to_uppercase(),
                        path,
                        object,
                    });
                }
            }
        }
        all
    }

    pub fn operation(&self, method: &str, path: &str) -> Operation<'_> {
        self.operations()
            .into_iter()
            .find(|op| op.method == method && op.path == path)
            .unwrap_or_else(|| panic!("{method} {path} is not in the document"))
    }

    /// Follows a local `$ref` (`#/a/b`) to its target; other values come back as they are.
    pub fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        let mut value = value;
        for _ in 0..16 {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return value;
            };
            value = self
                .pointer(reference)
                .unwrap_or_else(|| panic!("unresolved $ref {reference}"));
        }
        panic!("a $ref chain longer than 16")
    }

    pub fn pointer(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        self.doc.pointer(pointer)
    }

    /// Statuses the operation documents, as written (`"200"`, `"4XX"`, `"default"`).
    pub fn statuses(&self, op: &Operation) -> Vec<String> {
        op.object["responses"]
            .as_object()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn documents(&self, op: &Operation, status: u16) -> bool {
        self.response(op, status).is_some()
    }

    /// The response object for `status`: the exact code, else its range (`4XX`), else `default`.
    pub fn response<'a>(&'a self, op: &'a Operation, status: u16) -> Option<&'a Value> {
        let responses = &op.object["responses"];
        let range = format!("{}XX", status / 100);
        [status.to_string(), range, "default".to_owned()]
            .iter()
            .find_map(|key| responses.get(key))
            .map(|r| self.resolve(r))
    }

    /// The JSON schema of the operation's request body, when it takes JSON.
    pub fn request_schema<'a>(&'a self, op: &'a Operation) -> Option<&'a Value> {
        let body = self.resolve(op.object.get("requestBody")?);
        body["content"].get("application/json")?.get("schema")
    }

    /// Checks one answer against the operation: the status is documented, the content type is
    /// one the response lists, and a JSON body validates against its schema.
    pub fn check(&self, op: &Operation, answer: &Answer) -> Result<(), String> {
        let Some(response) = self.response(op, answer.status) else {
            return Err(format!(
                "status {} is not documented (documented: {:?}); body: {}",
                answer.status,
                self.statuses(op),
                answer.text()
            ));
        };
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            return if answer.body.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "status {} documents no body, the answer has one: {}",
                    answer.status,
                    answer.text()
                ))
            };
        };
        let media = answer
            .content_type
            .as_deref()
            .map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .ok_or_else(|| format!("status {} has no Content-Type", answer.status))?;
        let Some(entry) = content.get(&media) else {
            return Err(format!(
                "status {}: Content-Type {media} is not one of {:?}",
                answer.status,
                content.keys().collect::<Vec<_>>()
            ));
        };
        let Some(schema) = entry.get("schema") else {
            return Ok(());
        };
        if media != "application/json" {
            return Ok(());
        }
        let body = answer
            .json()
            .ok_or_else(|| format!("status {}: the body is not JSON: {}", answer.status, answer.text()))?;
        self.validate(schema, &body).map_err(|e| {
            format!(
                "status {}: the body does not fit the schema: {e}; body: {body}",
                answer.status
            )
        })
    }

    /// Validates `instance` against `schema` (a schema object of the document, possibly a
    /// `$ref`), with formats asserted and every `$ref` resolved within the document.
    pub fn validate(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        self.validate_with(schema, instance, true)
    }

    /// As [`Self::validate`], with objects as open as the document leaves them (for requests,
    /// where the document may promise to ignore unknown members).
    pub fn validate_with(&self, schema: &Value, instance: &Value, closed: bool) -> Result<(), String> {
        let validator = self.validator(schema, closed)?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// The schema wrapped in a root that carries the document's components, so that
    /// `#/components/schemas/…` pointers resolve against it. Objects are closed (see
    /// [`close_objects`]): a field the document does not list is a disagreement too.
    fn validator(&self, schema: &Value, closed: bool) -> Result<jsonschema::Validator, String> {
        let mut components = self.doc["components"].clone();
        let mut schema = schema.clone();
        let open = extended_components(&self.doc);
        if let Some(schemas) = components
            .get_mut("schemas")
            .and_then(Value::as_object_mut)
            .filter(|_| closed)
        {
            for (name, component) in schemas.iter_mut() {
                if !open.contains(name) {
                    close_objects(component);
                }
            }
        }
        if closed {
            close_objects(&mut schema);
        }
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
            "components": components,
        });
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("the schema does not compile: {e}"))
    }

    /// Structural problems: every `$ref` resolves, every operation has a unique
    /// `operationId` and responses, every path parameter is declared, every schema compiles.
    pub fn structural_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut refs = Vec::new();
        collect_refs(&self.doc, "#", &mut refs);
        for (at, reference) in refs {
            if self.pointer(&reference).is_none() {
                problems.push(format!("{at}: $ref {reference} does not resolve"));
            }
        }
        let mut ids = std::collections::BTreeMap::new();
        for op in self.operations() {
            match op.object["operationId"].as_str() {
                Some(id) if !id.is_empty() => {
                    if let Some(other) = ids.insert(id.to_owned(), op.key()) {
                        problems.push(format!("operationId {id} is used by {other} and {}", op.key()));
                    }
                }
                _ => problems.push(format!("{} has no operationId", op.key())),
            }
            match op.object["responses"].as_object() {
                Some(r) if !r.is_empty() => {
                    for (status, response) in r {
                        let known = status == "default"
                            || status.parse::<u16>().is_ok_and(|s| (100..600).contains(&s))
                            || ["1XX", "2XX", "3XX", "4XX", "5XX"].contains(&status.as_str());
                        if !known {
                            problems.push(format!("{}: {status} is not a status code", op.key()));
                        }
                        if !self.resolve(response)["description"].is_string() {
                            problems.push(format!("{} {status}: a response needs a description", op.key()));
                        }
                    }
                }
                _ => problems.push(format!("{} has no responses", op.key())),
            }
            problems.extend(self.parameter_problems(&op));
        }
        collect_schema_problems(self, &self.doc, "#", &mut problems);
        problems
    }

    /// Each `{name}` in the path is a declared, required path parameter, and the reverse.
    fn parameter_problems(&self, op: &Operation) -> Vec<String> {
        let item = &self.doc["paths"][op.path];
        let declared: Vec<&Value> = [&item["parameters"], &op.object["parameters"]]
            .into_iter()
            .filter_map(Value::as_array)
            .flatten()
            .map(|p| self.resolve(p))
            .filter(|p| p["in"] == "path")
            .collect();
        let in_template: Vec<&str> = op
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let mut problems = Vec::new();
        for name in &in_template {
            match declared.iter().find(|p| p["name"] == *name) {
                None => problems.push(format!("{}: path parameter {name} is not declared", op.key())),
                Some(p) if p["required"] != true => {
                    problems.push(format!("{}: path parameter {name} must be required", op.key()))
                }
                Some(_) => {}
            }
        }
        for p in declared {
            if !p["name"].as_str().is_some_and(|n| in_template.contains(&n)) {
                problems.push(format!("{}: parameter {} is not in the path", op.key(), p["name"]));
            }
        }
        problems
    }
}

/// Components that another schema extends through `allOf`: they stay open, since the
/// extension adds fields of its own (the extending schema is closed instead).
fn extended_components(doc: &Value) -> std::collections::BTreeSet<String> {
    let mut refs = Vec::new();
    collect_refs(doc, "#", &mut refs);
    refs.into_iter()
        .filter(|(at, _)| at.rsplit('/').nth(1) == Some("allOf"))
        .filter_map(|(_, r)| r.strip_prefix("#/components/schemas/").map(str::to_owned))
        .collect()
}

/// Adds `unevaluatedProperties: false` to every object schema (one with `properties` or
/// `allOf`) that does not say whether it takes other fields, except the members of an `allOf`,
/// which would refuse each other's fields.
fn close_objects(schema: &mut Value) {
    close_objects_in(schema, false);
}

fn close_objects_in(schema: &mut Value, in_all_of: bool) {
    match schema {
        Value::Object(map) => {
            let object_like = map.contains_key("properties") || map.contains_key("allOf");
            let says = map.contains_key("additionalProperties") || map.contains_key("unevaluatedProperties");
            if object_like && !says && !in_all_of {
                map.insert("unevaluatedProperties".into(), Value::Bool(false));
            }
            for (key, value) in map.iter_mut() {
                match (key.as_str(), value) {
                    // Examples and defaults are data, not schemas.
                    ("examples" | "example" | "default" | "const" | "enum", _) => {}
                    ("allOf", Value::Array(members)) => {
                        for m in members {
                            close_objects_in(m, true);
                        }
                    }
                    ("properties" | "patternProperties" | "$defs", Value::Object(named)) => {
                        for v in named.values_mut() {
                            close_objects_in(v, false);
                        }
                    }
                    (_, v) => close_objects_in(v, false),
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                close_objects_in(v, false);
            }
        }
        _ => {}
    }
}

fn collect_refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                out.push((at.to_owned(), r.to_owned()));
            }
            for (k, v) in map {
                collect_refs(v, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_refs(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Compiles every `schema` value found in the document (components, parameters, bodies).
fn collect_schema_problems(api: &OpenApi, value: &Value, at: &str, out: &mut Vec<String>) {
    let Value::Object(map) = value else {
        if let Value::Array(items) = value {
            for (i, v) in items.iter().enumerate() {
                collect_schema_problems(api, v, &format!("{at}/{i}"), out);
            }
        }
        return;
    };
    for (k, v) in map {
        let here = format!("{at}/{k}");
        if k == "schema" || at == "#/components/schemas" {
            if let Err(e) = api.validator(v, true) {
                out.push(format!("{here}: {e}"));
            }
        } else {
            collect_schema_problems(api, v, &here, out);
        }
    }
}
