//! `/api/openapi.json`, generated from the route table.

use crate::uploads::{self};
use axum::Json;
use serde_json::{Value, json};

use super::*;

/// The OpenAPI document, generated from [`ROUTES`].
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "maxLength": 128}}))
            .chain(query_params(r))
            .collect();
        let mut responses = serde_json::Map::new();
        let ok = match (r.method, r.path) {
            ("GET", "/") => {
                json!({"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}})
            }
            ("GET", "/api/events") => {
                json!({"description": "An event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}})
            }
            ("POST", "/api/session") | ("DELETE", "/api/session") => json!({"description": "Done"}),
            _ => {
                json!({"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}})
            }
        };
        let ok_code = if r.path == "/api/session" {
            "204"
        } else {
            "200"
        };
        responses.insert(ok_code.into(), ok);
        let error = json!({"description": "Error", "content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}});
        let mut codes = vec!["400", "429"];
        if r.auth {
            codes.extend(["401", "404"]);
        }
        if r.kind == RouteKind::Upload {
            codes.extend(["202", "403", "409", "413", "415"]);
        }
        for c in codes {
            responses.insert(c.into(), error.clone());
        }
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{}{}", r.method.to_lowercase(), r.path.replace(['/', '{', '}', '.'], "_")),
            "parameters": params,
            "responses": responses,
        });
        if r.auth {
            op["security"] = json!([{"bearer": []}, {"cookie": []}]);
        }
        if r.method == "POST" && r.path == "/api/session" {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {
                "type": "object", "required": ["credential"],
                "properties": {"credential": {"type": "string", "maxLength": 200}}}}}});
        }
        if r.path == "/api/uploads" {
            op["requestBody"] = json!({"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}});
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "SMART-API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The shop's read-only window for clients: contracts with proofs, live job status, uploads and approvals. Nothing here can start, change or cancel a job."},
        "paths": paths,
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "smart_credential"}}},
    })
}

pub(super) fn query_params(r: &RouteSpec) -> Vec<Value> {
    match r.path {
        "/api/uploads" => vec![
            json!({"name": "doc_type", "in": "query", "required": true, "schema": {"type": "string", "enum": uploads::CLIENT_TYPES.iter().map(|t| uploads::type_name(*t)).collect::<Vec<_>>()}}),
            json!({"name": "job", "in": "query", "required": false, "schema": {"type": "string", "maxLength": 128}}),
            json!({"name": "title", "in": "query", "required": false, "schema": {"type": "string", "maxLength": 200}}),
            json!({"name": "rating", "in": "query", "required": false, "description": "feedback only: 1 to 5", "schema": {"type": "integer", "minimum": 1, "maximum": 5}}),
        ],
        "/api/events" => vec![
            json!({"name": "after", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}}),
        ],
        _ => Vec::new(),
    }
}

pub(super) async fn openapi() -> Json<Value> {
    Json(openapi_document())
}
