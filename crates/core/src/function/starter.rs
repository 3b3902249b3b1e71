//! Each language's spelling of a signature: the types (which the Java and C# harnesses also check a method against)
//! and starter code, which the reader's view offers when a function capsule has none of its own.

use super::{Signature, ValueType};
use crate::judge::FunctionCall;
use crate::model::{Capsule, CapsuleCode, Language};

/// A capsule's starter: its own, or for a function capsule without one, the function declared from its signature
/// (what readers are offered and what validation runs).
pub fn of_capsule(capsule: &Capsule) -> CapsuleCode {
    if capsule.starter.source.is_some() || capsule.starter.module_base64.is_some() {
        return capsule.starter.clone();
    }
    let declared = || {
        let language = Language::parse(&capsule.language)?;
        let function = FunctionCall::of(language, capsule.entry.as_ref()?).ok()??;
        starter(language, &function.signature)
    };
    CapsuleCode { source: declared(), module_base64: None }
}

/// The Java type of `value_type`: primitives where Java allows them (`boxed` false, outside generics and not
/// optional), boxed otherwise.
pub fn java_type(value_type: &ValueType, boxed: bool) -> String {
    match value_type {
        ValueType::Int if boxed => "Long".into(),
        ValueType::Int => "long".into(),
        ValueType::Float if boxed => "Double".into(),
        ValueType::Float => "double".into(),
        ValueType::Bool if boxed => "Boolean".into(),
        ValueType::Bool => "boolean".into(),
        ValueType::String => "String".into(),
        ValueType::List(inner) => format!("List<{}>", java_type(inner, true)),
        ValueType::Map(inner) => format!("Map<String, {}>", java_type(inner, true)),
        ValueType::Optional(inner) => java_type(inner, true),
    }
}

/// The C# type of `value_type`: an optional value type is nullable (`long?`); reference types are nullable already.
pub fn csharp_type(value_type: &ValueType) -> String {
    match value_type {
        ValueType::Int => "long".into(),
        ValueType::Float => "double".into(),
        ValueType::Bool => "bool".into(),
        ValueType::String => "string".into(),
        ValueType::List(inner) => format!("List<{}>", csharp_type(inner)),
        ValueType::Map(inner) => format!("Dictionary<string, {}>", csharp_type(inner)),
        ValueType::Optional(inner) => match **inner {
            ValueType::Int | ValueType::Float | ValueType::Bool => format!("{}?", csharp_type(inner)),
            _ => csharp_type(inner),
        },
    }
}

fn python_type(value_type: &ValueType) -> String {
    match value_type {
        ValueType::Int => "int".into(),
        ValueType::Float => "float".into(),
        ValueType::Bool => "bool".into(),
        ValueType::String => "str".into(),
        ValueType::List(inner) => format!("list[{}]", python_type(inner)),
        ValueType::Map(inner) => format!("dict[str, {}]", python_type(inner)),
        ValueType::Optional(inner) => format!("{} | None", python_type(inner)),
    }
}

fn javascript_type(value_type: &ValueType) -> String {
    match value_type {
        ValueType::Int | ValueType::Float => "number".into(),
        ValueType::Bool => "boolean".into(),
        ValueType::String => "string".into(),
        ValueType::List(inner) => format!("Array<{}>", javascript_type(inner)),
        ValueType::Map(inner) => format!("Object<string, {}>", javascript_type(inner)),
        ValueType::Optional(inner) => format!("({}|null)", javascript_type(inner)),
    }
}

fn ruby_type(value_type: &ValueType) -> String {
    match value_type {
        ValueType::Int => "Integer".into(),
        ValueType::Float => "Float".into(),
        ValueType::Bool => "true/false".into(),
        ValueType::String => "String".into(),
        ValueType::List(inner) => format!("Array<{}>", ruby_type(inner)),
        ValueType::Map(inner) => format!("Hash<String, {}>", ruby_type(inner)),
        ValueType::Optional(inner) => format!("{}, or nil", ruby_type(inner)),
    }
}

/// Starter code for `signature` in `language`: the function declared where the harness looks for it, with its types,
/// and a body for the reader to write. `None` for wasm and wat, whose exports are no source a reader edits.
pub fn starter(language: Language, signature: &Signature) -> Option<String> {
    let name = &signature.name;
    let names = || signature.params.iter().map(|(param, _)| param.as_str()).collect::<Vec<_>>().join(", ");
    let typed = |spell: &dyn Fn(&ValueType) -> String, join: &str| {
        signature
            .params
            .iter()
            .map(|(param, value_type)| match join {
                "suffix" => format!("{param}: {}", spell(value_type)),
                _ => format!("{} {param}", spell(value_type)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let code = match language {
        Language::Python => format!(
            "def {name}({}) -> {}:\n    # Write your code here.\n    pass\n",
            typed(&python_type, "suffix"),
            python_type(&signature.returns)
        ),
        Language::Javascript => {
            let mut doc = String::from("/**\n");
            for (param, value_type) in &signature.params {
                doc.push_str(&format!(" * @param {{{}}} {param}\n", javascript_type(value_type)));
            }
            doc.push_str(&format!(" * @returns {{{}}}\n */\n", javascript_type(&signature.returns)));
            format!("{doc}function {name}({}) {{\n  // Write your code here.\n}}\n", names())
        }
        Language::Ruby => {
            let mut doc = String::new();
            for (param, value_type) in &signature.params {
                doc.push_str(&format!("# {param}: {}\n", ruby_type(value_type)));
            }
            doc.push_str(&format!("# returns: {}\n", ruby_type(&signature.returns)));
            format!("{doc}def {name}({})\n  # Write your code here.\nend\n", names())
        }
        Language::Java => {
            let returns = java_type(&signature.returns, false);
            let placeholder = match signature.returns {
                ValueType::Int => "0",
                ValueType::Float => "0.0",
                ValueType::Bool => "false",
                _ => "null",
            };
            format!(
                "import java.util.*;\n\npublic class Solution {{\n    public static {returns} {name}({}) {{\n        \
                 // Write your code here.\n        return {placeholder};\n    }}\n}}\n",
                typed(&|value_type| java_type(value_type, false), "prefix")
            )
        }
        Language::Csharp => {
            let returns = csharp_type(&signature.returns);
            format!(
                "using System;\nusing System.Collections.Generic;\n\npublic class Solution\n{{\n    public static \
                 {returns} {name}({})\n    {{\n        // Write your code here.\n        return default({returns});\n    \
                 }}\n}}\n",
                typed(&csharp_type, "prefix")
            )
        }
        Language::Wasm | Language::Wat => return None,
    };
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_sum() -> Signature {
        Signature {
            name: "two_sum".into(),
            params: vec![("nums".into(), ValueType::parse("list[int]").unwrap()), ("target".into(), ValueType::Int)],
            returns: ValueType::parse("list[int]").unwrap(),
        }
    }

    #[test]
    fn starters_declare_the_function_where_each_harness_looks() {
        let python = starter(Language::Python, &two_sum()).unwrap();
        assert!(python.starts_with("def two_sum(nums: list[int], target: int) -> list[int]:\n"), "{python}");
        let java = starter(Language::Java, &two_sum()).unwrap();
        assert!(java.contains("public static List<Long> two_sum(List<Long> nums, long target)"), "{java}");
        let csharp = starter(Language::Csharp, &two_sum()).unwrap();
        assert!(csharp.contains("public static List<long> two_sum(List<long> nums, long target)"), "{csharp}");
        assert!(starter(Language::Javascript, &two_sum()).unwrap().contains("function two_sum(nums, target) {"));
        assert!(starter(Language::Ruby, &two_sum()).unwrap().contains("def two_sum(nums, target)\n"));
        assert_eq!(starter(Language::Wat, &two_sum()), None);
    }

    #[test]
    fn optional_types_are_nullable_in_each_language() {
        let optional = ValueType::parse("optional[int]").unwrap();
        assert_eq!(java_type(&optional, false), "Long");
        assert_eq!(csharp_type(&optional), "long?");
        assert_eq!(csharp_type(&ValueType::parse("optional[string]").unwrap()), "string");
        assert_eq!(python_type(&ValueType::parse("map[optional[float]]").unwrap()), "dict[str, float | None]");
    }
}
