//! `loadctl import openapi spec.yaml|json`: one request per operation, grouped in a
//! weighted mix (reads weigh more than writes), each checked against its documented
//! success status. Path, query and header parameters and request bodies are filled from
//! the document's examples, defaults and enums, else with a value of the schema's type and
//! format. OpenAPI 3.0 and 3.1, YAML or JSON, `$ref` anywhere in the file.
//!
//! The document is read as plain JSON values rather than through a typed model: 3.0 and
//! 3.1 differ (`type` lists, `examples` arrays, `nullable`) in ways the filler must take
//! either way, and a typed crate for one version refuses the other.

use serde_json::{json, Value};

use super::curl::escape_templates;
use super::scenario::{step_name, Scenario, Step};
use super::ImportError;

/// How deep a schema is followed when a body is made up from it (`$ref` cycles end here).
const MAX_DEPTH: usize = 6;
/// Operations imported at most.
const MAX_OPERATIONS: usize = 500;
const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// The document, read from YAML or JSON, with errors at their line and column.
pub fn read(text: &str, json_hint: bool) -> Result<Value, ImportError> {
    let parsed: Result<Value, ImportError> = if json_hint || text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| ImportError::At {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    } else {
        serde_yaml::from_str::<Value>(text).map_err(|e| match e.location() {
            Some(l) => ImportError::At {
                line: l.line(),
                column: l.column(),
                message: e.to_string(),
            },
            None => ImportError::Parse(e.to_string()),
        })
    };
    let doc = parsed?;
    match doc.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.") => Ok(doc),
        Some(v) => Err(ImportError::Unsupported(format!(
            "OpenAPI {v}: only 3.0 and 3.1"
        ))),
        None if doc.get("swagger").is_some() => Err(ImportError::Unsupported(
            "Swagger 2.0: convert it to OpenAPI 3 first (swagger2openapi, or the editor's export)"
                .into(),
        )),
        None => Err(ImportError::Parse(
            "no `openapi` version field: is this an OpenAPI document?".into(),
        )),
    }
}

/// Follows `$ref` (`#/components/...`) within the document.
fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    let mut cur = v;
    for _ in 0..MAX_DEPTH {
        let Some(r) = cur.get("$ref").and_then(Value::as_str) else {
            return cur;
        };
        let Some(ptr) = r.strip_prefix('#') else {
            return cur;
        };
        match doc.pointer(ptr) {
            Some(next) => cur = next,
            None => return cur,
        }
    }
    cur
}

/// The first type of a schema (3.1 writes `["string", "null"]`).
fn type_of(s: &Value) -> Option<&str> {
    match s.get("type") {
        Some(Value::String(t)) => Some(t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

/// A value the document wrote, sent as written: a `{{` in it is not a template.
fn literal(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(escape_templates(s)),
        Value::Array(a) => Value::Array(a.iter().map(literal).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (escape_templates(k), literal(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// An example value for `schema`: its example, default or first enum value, else one of
/// its type and format, objects with their properties (required ones at least).
fn example(doc: &Value, schema: &Value, depth: usize) -> Value {
    let s = deref(doc, schema);
    for key in ["example", "default", "const"] {
        if let Some(v) = s.get(key) {
            return literal(v);
        }
    }
    if let Some(v) = s
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return literal(v);
    }
    if let Some(v) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return literal(v);
    }
    for combo in ["allOf", "oneOf", "anyOf"] {
        if let Some(parts) = s.get(combo).and_then(Value::as_array) {
            if combo == "allOf" {
                let mut merged = serde_json::Map::new();
                for p in parts {
                    if let Value::Object(m) = example(doc, p, depth + 1) {
                        merged.extend(m);
                    }
                }
                return Value::Object(merged);
            }
            if let Some(first) = parts.first() {
                return example(doc, first, depth + 1);
            }
        }
    }
    if depth >= MAX_DEPTH {
        return Value::Null;
    }
    let format = s.get("format").and_then(Value::as_str).unwrap_or("");
    match type_of(s).unwrap_or(if s.get("properties").is_some() {
        "object"
    } else {
        "string"
    }) {
        "integer" => json!(s.get("minimum").and_then(Value::as_i64).unwrap_or(1).max(1)),
        "number" => json!(s
            .get("minimum")
            .and_then(Value::as_f64)
            .unwrap_or(1.0)
            .max(1.0)),
        "boolean" => json!(true),
        "array" => json!([s
            .get("items")
            .map_or(Value::Null, |i| example(doc, i, depth + 1))]),
        "object" => {
            let mut m = serde_json::Map::new();
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (k, p) in props {
                    m.insert(k.clone(), example(doc, p, depth + 1));
                }
            }
            Value::Object(m)
        }
        _ => json!(match format {
            "uuid" => "{{uuid}}",
            "date" => "2026-01-01",
            "date-time" => "2026-01-01T00:00:00Z",
            "email" => "user{{seq}}@example.com",
            "uri" | "url" => "http://127.0.0.1/",
            _ => "string",
        }),
    }
}

/// A parameter's value as text.
fn param_value(doc: &Value, p: &Value) -> String {
    let v = match p.get("example") {
        Some(v) => literal(v),
        None => p
            .get("examples")
            .and_then(Value::as_object)
            .and_then(|m| m.values().next())
            .map(|e| deref(doc, e).get("value").map_or(Value::Null, literal))
            .filter(|v| !v.is_null())
            .unwrap_or_else(|| example(doc, p.get("schema").unwrap_or(&Value::Null), 0)),
    };
    match v {
        Value::String(s) => s,
        Value::Null => "1".into(),
        other => other.to_string(),
    }
}

/// `true` when the operation id or `method_path` name matches one of the globs (`*`).
fn wanted(filters: &[String], names: &[&str]) -> bool {
    fn glob(p: &str, s: &str) -> bool {
        match p.split_once('*') {
            None => p == s,
            Some((head, tail)) => {
                s.len() >= head.len()
                    && s.starts_with(head)
                    && (0..=s.len() - head.len()).any(|i| {
                        s.is_char_boundary(head.len() + i) && glob(tail, &s[head.len() + i..])
                    })
            }
        }
    }
    filters.is_empty() || filters.iter().any(|f| names.iter().any(|n| glob(f, n)))
}

fn operation(
    doc: &Value,
    path: &str,
    method: &str,
    op: &Value,
    item: &Value,
    taken: &[String],
    dropped: &mut Vec<String>,
) -> Step {
    let id = op.get("operationId").and_then(Value::as_str);
    let mut params: Vec<&Value> = Vec::new();
    for list in [item.get("parameters"), op.get("parameters")]
        .into_iter()
        .flatten()
    {
        params.extend(list.as_array().into_iter().flatten().map(|p| deref(doc, p)));
    }
    let mut filled = path.to_string();
    let mut query = Vec::new();
    let mut headers = Vec::new();
    for p in &params {
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        match p.get("in").and_then(Value::as_str) {
            Some("path") => filled = filled.replace(&format!("{{{name}}}"), &param_value(doc, p)),
            Some("query") if required => {
                let v: String =
                    url::form_urlencoded::byte_serialize(param_value(doc, p).as_bytes()).collect();
                query.push(format!("{name}={v}"));
            }
            Some("header") if required => headers.push((name.to_string(), param_value(doc, p))),
            Some("cookie") if required => dropped.push(format!(
                "{method} {path}: cookie parameter `{name}` (add it as a Cookie header)"
            )),
            _ => {}
        }
    }
    if !query.is_empty() {
        filled = format!("{filled}?{}", query.join("&"));
    }
    let content = op
        .get("requestBody")
        .map(|b| deref(doc, b))
        .and_then(|b| b.get("content"))
        .and_then(Value::as_object);
    let mut body = None;
    if let Some(c) = content {
        let json = c.iter().find(|(t, _)| t.contains("json"));
        match json {
            Some((ctype, media)) => {
                let v = media
                    .get("example")
                    .map(literal)
                    .or_else(|| {
                        media
                            .get("examples")
                            .and_then(Value::as_object)
                            .and_then(|m| m.values().next())
                            .map(|e| deref(doc, e).get("value").map_or(Value::Null, literal))
                    })
                    .unwrap_or_else(|| {
                        example(doc, media.get("schema").unwrap_or(&Value::Null), 0)
                    });
                headers.push(("Content-Type".into(), ctype.clone()));
                body = Some(v.to_string());
            }
            None => dropped.push(format!(
                "{method} {path}: a body of {} (only JSON bodies are made up)",
                c.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        }
    }
    let expect = op
        .get("responses")
        .and_then(Value::as_object)
        .and_then(|r| {
            r.keys()
                .filter_map(|k| k.parse::<u16>().ok())
                .filter(|c| (200..300).contains(c))
                .min()
        });
    let name = step_name(id.unwrap_or(&format!("{method} {path}")), taken);
    let mut comments = vec![format!(
        "{} {path}{}",
        method.to_uppercase(),
        op.get("summary")
            .and_then(Value::as_str)
            .map(|s| format!(": {s}"))
            .unwrap_or_default()
    )];
    if let Some(c) = expect {
        comments.push(format!("documented success: {c}"));
    }
    Step {
        name,
        method: method.to_uppercase(),
        path: filled,
        headers,
        // Document values were made literal where they were read; `{{uuid}}` and `{{seq}}`
        // are the generated ones.
        body,
        expect_status: expect.filter(|c| *c != 200),
        weight: Some(if method == "get" { 3.0 } else { 1.0 }),
        comments,
        ..Default::default()
    }
}

/// The scenario of an OpenAPI document; `filters` pick operations by id or `method_path`.
pub fn import(doc: &Value, source: &str, filters: &[String]) -> Result<Scenario, ImportError> {
    let title = doc
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("api");
    let target = doc
        .pointer("/servers/0/url")
        .and_then(Value::as_str)
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .map(|u| u.trim_end_matches('/').to_string());
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .ok_or_else(|| ImportError::Parse("no `paths` in the document".into()))?;
    let mut steps: Vec<Step> = Vec::new();
    let mut dropped = Vec::new();
    for (path, item) in paths {
        let item = deref(doc, item);
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let id = op.get("operationId").and_then(Value::as_str).unwrap_or("");
            let alt = step_name(&format!("{m} {path}"), &[]);
            if !wanted(filters, &[id, &alt]) {
                continue;
            }
            if steps.len() >= MAX_OPERATIONS {
                dropped.push(format!("operations beyond the first {MAX_OPERATIONS}"));
                break;
            }
            let taken: Vec<String> = steps.iter().map(|s| s.name.clone()).collect();
            steps.push(operation(doc, path, m, op, item, &taken, &mut dropped));
        }
    }
    if steps.is_empty() {
        return Err(ImportError::Empty(if filters.is_empty() {
            "the document has no operations".into()
        } else {
            format!("no operation matches --operations {}", filters.join(","))
        }));
    }
    // A base path in the server URL (`https://api/v2`) is the requests' prefix.
    let (target, prefix) = match target.as_deref().map(url::Url::parse) {
        Some(Ok(u)) => (
            Some(u.origin().ascii_serialization()),
            u.path().trim_end_matches('/').to_string(),
        ),
        _ => (None, String::new()),
    };
    for s in &mut steps {
        s.path = format!("{prefix}{}", s.path);
    }
    if target.is_none() {
        dropped.push("no absolute server URL in `servers`: give --target when running".into());
    }
    Ok(Scenario {
        name: step_name(title, &[]),
        description: format!(
            "Imported from the OpenAPI document {source}: {} operations",
            steps.len()
        ),
        header: vec![format!(
            "Imported by `loadctl import openapi` from {source} ({title}, OpenAPI {}).",
            doc.get("openapi").and_then(Value::as_str).unwrap_or("3")
        )],
        target,
        flow: false,
        steps,
        dropped,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_values_stay_literal_and_generated_ones_are_templates() {
        let doc = json!({});
        let v = example(
            &doc,
            &json!({"type": "object", "properties": {
            "note": {"type": "string", "example": "a {{b}}"}, "id": {"type": "string", "format": "uuid"}}}),
            0,
        );
        assert_eq!(v, json!({"note": "a {{\"{{\"}}b}}", "id": "{{uuid}}"}));
    }

    #[test]
    fn globs_pick_operations() {
        let f = vec!["get*".to_string(), "postOrder".to_string()];
        assert!(wanted(&f, &["getPet", "x"]) && wanted(&f, &["postOrder"]));
        assert!(!wanted(&f, &["deletePet", "delete_pet"]));
    }

    #[test]
    fn schemas_give_values_of_their_type() {
        let doc = json!({"components": {"schemas": {"Pet": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "id": {"type": "string", "format": "uuid"}, "tag": {"$ref": "#/components/schemas/Tag"}}},
            "Tag": {"type": ["string", "null"], "enum": ["cat", "dog"]}}}});
        let v = example(&doc, &json!({"$ref": "#/components/schemas/Pet"}), 0);
        assert_eq!(v, json!({"name": "string", "id": "{{uuid}}", "tag": "cat"}));
    }
}
