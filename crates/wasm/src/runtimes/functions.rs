//! Function capsules in the WebAssembly runtimes: each language's harness program around a submission's source, and
//! the notation its arguments travel in (codecapsule_core::function::protocol). Python's harness is core's, shared
//! with the native judge; JavaScript's ([`harness.js`](harness.js)) is here.

use codecapsule_core::function::{Signature, python};
use codecapsule_core::model::Language;
use serde_json::Value;

const JAVASCRIPT_HARNESS: &str = include_str!("harness.js");

/// The program that serves `signature`'s calls from `source` in `language`; `None` for a language without a harness.
pub(super) fn harness_program(language: Language, source: &str, signature: &Signature) -> Option<String> {
    let name = Value::String(signature.name.clone());
    match language {
        Language::Python => Some(python::harness_program(source, "main.py", signature)),
        // One module: the harness starts on the program's first line (its line numbers stay its own), and is
        // declared after it (a function declaration is hoisted).
        Language::Javascript => Some(format!(
            "const __codecapsule = __codecapsule_harness(std, JSON, Object, Array, String, Number, Error);{source}\n\
             {JAVASCRIPT_HARNESS}\n__codecapsule.serve({name}, {arity}, typeof {function} === \"function\" ? \
             {function} : undefined);\n",
            arity = signature.params.len(),
            function = signature.name,
        )),
        _ => None,
    }
}

/// A call's arguments as `language`'s harness reads them: a Python literal, or JSON.
pub(super) fn arguments(language: Language, args: &[Value]) -> String {
    match language {
        Language::Python => python::arguments(args),
        _ => Value::Array(args.to_vec()).to_string(),
    }
}
