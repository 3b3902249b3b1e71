//! The Python harness ([`harness.py`](harness.py)), shared by the native CPython judge and CPython in WebAssembly:
//! the program to run for a function capsule, and the notation its arguments travel in (Python literals, which the
//! harness evaluates without builtins: CPython's own parser, where a JSON decoder written in Python would be slow).

use super::Signature;
use serde_json::Value;

/// The harness's text: it defines `_codecapsule_harness`, which [`harness_call`] calls.
pub const HARNESS: &str = include_str!("harness.py");

/// The harness with its last line: the call that loads `source` and serves calls of `signature`'s function;
/// tracebacks name the program's file `file_name`.
pub fn harness_program(source: &str, file_name: &str, signature: &Signature) -> String {
    format!("{HARNESS}\n{}", harness_call(source, file_name, signature))
}

/// The line that starts the harness (once [`HARNESS`] has defined it) on `source`.
pub fn harness_call(source: &str, file_name: &str, signature: &Signature) -> String {
    let text = |text: &str| Value::String(text.to_string()).to_string();
    let params: Vec<String> = signature.params.iter().map(|(name, _)| text(name)).collect();
    format!(
        "_codecapsule_harness({}, {}, {}, ({}{}))\n",
        text(source),
        text(file_name),
        text(&signature.name),
        params.join(", "),
        if params.len() == 1 { "," } else { "" }
    )
}

/// A call's arguments as a Python tuple literal: `([2, 7, 11, 15], 9)`.
pub fn arguments(args: &[Value]) -> String {
    let mut out = String::from("(");
    for value in args {
        literal(value, &mut out);
        out.push_str(", ");
    }
    out.push(')');
    out
}

fn literal(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        // JSON's numbers and strings are Python's literals: serde_json writes no escape Python reads otherwise.
        Value::Number(_) | Value::String(_) => out.push_str(&value.to_string()),
        Value::Array(items) => {
            out.push('[');
            for item in items {
                literal(item, out);
                out.push_str(", ");
            }
            out.push(']');
        }
        Value::Object(entries) => {
            out.push('{');
            for (key, item) in entries {
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(": ");
                literal(item, out);
                out.push_str(", ");
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_are_python_literals() {
        assert_eq!(arguments(&[json!([2, 7]), json!(9)]), "([2, 7, ], 9, )");
        assert_eq!(arguments(&[json!({"a": [true, null]}), json!(2.5)]), "({\"a\": [True, None, ], }, 2.5, )");
        assert_eq!(arguments(&[]), "()");
        assert_eq!(arguments(&[json!("é\n\"x")]), "(\"é\\n\\\"x\", )");
    }
}
