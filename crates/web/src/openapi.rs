//! GET /api/openapi.json: the API's OpenAPI 3.1 document (`openapi.json` beside this crate, one document for every
//! route of every function), answered by each deployment with the operations of the routes it serves: one function's
//! own in production, all of them in the local dev host. devhost/tests/openapi.rs holds the document to the code (every
//! route, every problem code) and devhost/tests/schemathesis.rs holds the answers to the document.

use serde_json::Value;

/// The whole document.
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// The path of the document itself.
pub const PATH: &str = "/api/openapi.json";

/// The document with the operations of `routes` (`METHOD /path`, as GET /api/health lists them) and no others.
pub fn for_routes(routes: &[String]) -> Value {
    let mut document: Value = serde_json::from_str(DOCUMENT).unwrap_or_default();
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        paths.retain(|path, item| {
            if let Some(operations) = item.as_object_mut() {
                operations.retain(|method, _| {
                    routes.iter().any(|route| *route == format!("{} {path}", method.to_uppercase()))
                });
            }
            item.as_object().is_some_and(|operations| !operations.is_empty())
        });
    }
    document
}
