//! Function-call tests: a capsule that asks for a function (`entry.kind = "function"` with a `name`), its typed
//! signature, the harness protocol every language's harness speaks, and turning one harness run into each call's
//! [`Outcome`](crate::judge::Outcome).
//!
//! - [`types`]: the value types and the signature, checked against every test's values at the edge;
//! - [`protocol`]: how a harness is started and how it answers (records behind a per-run nonce), and the loop that
//!   runs every call in as few processes as the calls allow ([`protocol::run_calls`]);
//! - [`python`]: the Python harness, shared by the native and the WebAssembly judge;
//! - [`starter`]: starter code from the signature, per language.

pub mod protocol;
pub mod python;
pub mod starter;
pub mod types;

pub use types::{Signature, TypeMismatch, ValueType, is_identifier};

use serde_json::Value;

/// How many processes (or WebAssembly instances) a function capsule's calls run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// One for the whole submission: every call in turn, each with freshly built arguments and its own time limit.
    #[default]
    PerSubmission,
    /// A fresh one per test, for capsules whose function may keep state between calls.
    PerTest,
}

impl Isolation {
    /// Whether this is the default (then the wire leaves it out).
    pub fn is_default(&self) -> bool {
        *self == Isolation::default()
    }
}

/// `value` as JSON with `, ` and `: ` between items (as the call reads in a message), cut to about `max_chars`
/// characters with `…` when longer.
pub fn render_value(value: &Value, max_chars: usize) -> String {
    let mut out = String::new();
    write_value(value, &mut out, max_chars);
    if out.chars().count() > max_chars {
        out = out.chars().take(max_chars.saturating_sub(1)).collect();
        out.push('…');
    }
    out
}

fn write_value(value: &Value, out: &mut String, max_chars: usize) {
    // Past the cut there is no point in rendering more: the rest is dropped anyway.
    if out.len() > max_chars * 4 {
        return;
    }
    match value {
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_value(item, out, max_chars);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            out.push('{');
            for (index, (key, item)) in entries.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(": ");
                write_value(item, out, max_chars);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The longest rendering of a call in a message, in characters.
pub const CALL_TEXT_CHARS: usize = 200;

/// The call as a message names it: `two_sum([2, 7, 11, 15], 9)`.
pub fn call_text(name: &str, args: &[Value]) -> String {
    let args = Value::Array(args.to_vec());
    let rendered = render_value(&args, CALL_TEXT_CHARS);
    let inner = rendered.strip_prefix('[').map(|rest| rest.strip_suffix(']').unwrap_or(rest)).unwrap_or(&rendered);
    format!("{name}({inner})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calls_read_as_code_and_long_ones_are_cut() {
        assert_eq!(call_text("two_sum", &[json!([2, 7, 11, 15]), json!(9)]), "two_sum([2, 7, 11, 15], 9)");
        assert_eq!(call_text("f", &[json!({"a": "é", "b": null})]), "f({\"a\": \"é\", \"b\": null})");
        assert_eq!(call_text("none", &[]), "none()");
        let long = call_text("f", &[json!(vec![1; 1000])]);
        assert!(long.chars().count() <= CALL_TEXT_CHARS + 3 && long.contains('…'), "{long}");
    }
}
