//! Function capsules in the WebAssembly runtimes: each language's harness program around a submission's source, and
//! the notation its arguments travel in (codecapsule_core::function::protocol). Python's harness is core's, shared
//! with the native judge; JavaScript's ([`harness.js`](harness.js)) and Ruby's ([`harness.rb`](harness.rb)) are here.

use codecapsule_core::function::Signature;
use codecapsule_core::function::python::{self, Literals};
use codecapsule_core::model::Language;
use serde_json::Value;

const JAVASCRIPT_HARNESS: &str = include_str!("harness.js");
const RUBY_HARNESS: &str = include_str!("harness.rb");

/// The program that serves `signature`'s calls from `source` in `language`; `None` for a language without a harness.
/// `python_harness` is CPython's compiled harness ([`super::launch::LoadedRuntime::python_harness`]), loaded instead
/// of compiling the harness's text when there is one.
pub(super) fn harness_program(
    language: Language,
    source: &str,
    signature: &Signature,
    python_harness: Option<&str>,
) -> Option<String> {
    let name = Value::String(signature.name.clone());
    match language {
        Language::Python => Some(match python_harness {
            Some(hex) => format!(
                "import marshal\nexec(marshal.loads(bytes.fromhex('{hex}')))\n{}",
                python::harness_call(source, "main.py", signature)
            ),
            None => python::harness_program(source, "main.py", signature),
        }),
        // One module: the harness starts on the program's first line (its line numbers stay its own), and is
        // declared after it (a function declaration is hoisted).
        Language::Javascript => Some(format!(
            "const __codecapsule = __codecapsule_harness(std, JSON, Object, Array, String, Number, Error);{source}\n\
             {JAVASCRIPT_HARNESS}\n__codecapsule.serve({name}, {arity}, typeof {function} === \"function\" ? \
             {function} : undefined);\n",
            arity = signature.params.len(),
            function = signature.name,
        )),
        Language::Ruby => {
            let params: Vec<String> = signature.params.iter().map(|(param, _)| format!("{param:?}")).collect();
            Some(format!(
                "{RUBY_HARNESS}\ncodecapsule_harness.({:?}, {name}, [{}])\n",
                super::ruby::hex(source),
                params.join(", ")
            ))
        }
        _ => None,
    }
}

/// A call's arguments as `language`'s harness reads them: a Python or Ruby literal, or JSON.
pub(super) fn arguments(language: Language, args: &[Value]) -> String {
    match language {
        Language::Python => python::arguments(args),
        Language::Ruby => {
            let mut out = String::new();
            RUBY.write(&Value::Array(args.to_vec()), &mut out);
            out
        }
        _ => Value::Array(args.to_vec()).to_string(),
    }
}

/// Ruby's spelling of JSON: JSON's numbers and escapes are Ruby's, with `#` escaped (it starts interpolation).
const RUBY: Literals = Literals { null: "nil", truth: ["true", "false"], pair: " => ", hash: "\\#" };

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ruby_arguments_are_literals_that_interpolate_nothing() {
        let args = [json!({"#{exit}": [true, null, 2.5]}), json!("a\"b\n")];
        assert_eq!(arguments(Language::Ruby, &args), r##"[{"\#{exit}" => [true, nil, 2.5, ], }, "a\"b\n", ]"##);
    }
}
