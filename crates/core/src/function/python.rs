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
        PYTHON.write(value, &mut out);
        out.push_str(", ");
    }
    out.push(')');
    out
}

/// Python's spelling of JSON: JSON's numbers and strings are Python's literals (serde_json writes no escape Python
/// reads otherwise).
const PYTHON: Literals = Literals { null: "None", truth: ["True", "False"], pair: ": ", hash: "#" };

/// How a language spells JSON values as literals, where its own differ (Python's and Ruby's harnesses evaluate their
/// arguments with the language's parser, which is faster there than a JSON decoder written in the language).
pub struct Literals {
    /// `null`.
    pub null: &'static str,
    /// `true` and `false`.
    pub truth: [&'static str; 2],
    /// Between a key and its value.
    pub pair: &'static str,
    /// How `#` is written inside a string (Ruby escapes it: it starts interpolation).
    pub hash: &'static str,
}

impl Literals {
    /// Appends `value` as this language's literal.
    pub fn write(&self, value: &Value, out: &mut String) {
        match value {
            Value::Null => out.push_str(self.null),
            Value::Bool(truth) => out.push_str(self.truth[usize::from(!truth)]),
            Value::String(_) => out.push_str(&value.to_string().replace('#', self.hash)),
            Value::Number(_) => out.push_str(&value.to_string()),
            Value::Array(items) => {
                out.push('[');
                for item in items {
                    self.write(item, out);
                    out.push_str(", ");
                }
                out.push(']');
            }
            Value::Object(entries) => {
                out.push('{');
                for (key, item) in entries {
                    self.write(&Value::String(key.clone()), out);
                    out.push_str(self.pair);
                    self.write(item, out);
                    out.push_str(", ");
                }
                out.push('}');
            }
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
