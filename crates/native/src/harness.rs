//! The Java and C# function-call harnesses ([`harness/`](harness)). Java's is the same for every capsule (compiled once
//! per judge process; the signature arrives on stdin); C#'s is compiled with the program, its one line of constants
//! written from the signature (codecapsule_core::function). Python's harness is core's.

use codecapsule_core::function::starter::{csharp_type, java_type};
use codecapsule_core::function::{Signature, ValueType};

const CSHARP: &str = include_str!("harness/CodeCapsuleHarness.cs");
const CONSTANTS: &str = "    // CONSTANTS\n";

fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    items.into_iter().collect::<Vec<_>>().join(", ")
}

/// The Java types a method may declare for `value_type`: a scalar that is not optional as a primitive or boxed.
fn java_spellings(value_type: &ValueType) -> Vec<String> {
    let mut spellings = vec![java_type(value_type, false)];
    let boxed = java_type(value_type, true);
    if !spellings.contains(&boxed) {
        spellings.push(boxed);
    }
    spellings
}

/// The Java harness's source: the same for every capsule, compiled once per judge process.
pub const JAVA_SOURCE: &str = include_str!("harness/CodeCapsuleHarness.java");

/// What the Java harness reads after the header line: `signature` as six lines (the name; `classes`, the program's
/// types to look in; the parameters' contract types; each parameter's Java spellings; the return type's; the
/// declaration expected).
pub fn java_signature_lines(signature: &Signature, classes: &[String]) -> String {
    let expected = format!(
        "{} {}({})",
        java_type(&signature.returns, false),
        signature.name,
        list(signature.params.iter().map(|(name, value_type)| format!("{} {name}", java_type(value_type, false))))
    );
    let params = signature.params.iter();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{expected}\n",
        signature.name,
        classes.join(" "),
        params.clone().map(|(_, value_type)| value_type.to_string()).collect::<Vec<_>>().join(" "),
        params.map(|(_, value_type)| java_spellings(value_type).join("|")).collect::<Vec<_>>().join("\t"),
        java_spellings(&signature.returns).join("|"),
    )
}

/// How the CLR names `value_type` (`Type.ToString()`), which the C# harness compares a method's types with.
fn clr_name(value_type: &ValueType) -> String {
    match value_type {
        ValueType::Int => "System.Int64".into(),
        ValueType::Float => "System.Double".into(),
        ValueType::Bool => "System.Boolean".into(),
        ValueType::String => "System.String".into(),
        ValueType::List(inner) => format!("System.Collections.Generic.List`1[{}]", clr_name(inner)),
        ValueType::Map(inner) => format!("System.Collections.Generic.Dictionary`2[System.String,{}]", clr_name(inner)),
        ValueType::Optional(inner) => match **inner {
            ValueType::Int | ValueType::Float | ValueType::Bool => format!("System.Nullable`1[{}]", clr_name(inner)),
            _ => clr_name(inner),
        },
    }
}

/// The C# harness for `signature`.
pub fn csharp(signature: &Signature) -> String {
    let params = signature.params.iter();
    let expected = format!(
        "{} {}({})",
        csharp_type(&signature.returns),
        signature.name,
        list(params.clone().map(|(name, value_type)| format!("{} {name}", csharp_type(value_type))))
    );
    let constants = format!(
        "    const string Name = {name};\n    static readonly string[] Params = {{{params}}};\n    static readonly \
         string[] ParamTypes = {{{clr}}};\n    const string ReturnType = {returns};\n    const string Expected = \
         {expected};\n",
        name = quoted(&signature.name),
        params = list(params.clone().map(|(_, value_type)| quoted(&value_type.to_string()))),
        clr = list(params.map(|(_, value_type)| quoted(&clr_name(value_type)))),
        returns = quoted(&clr_name(&signature.returns)),
        expected = quoted(&expected),
    );
    CSHARP.replace(CONSTANTS, &constants)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_reaches_both_harnesses() {
        let signature = Signature {
            name: "two_sum".into(),
            params: vec![("nums".into(), ValueType::parse("list[int]").unwrap()), ("t".into(), ValueType::Int)],
            returns: ValueType::parse("map[optional[int]]").unwrap(),
        };
        let java = java_signature_lines(&signature, &["Helper".into(), "Solution".into()]);
        assert_eq!(
            java,
            "two_sum\nHelper Solution\nlist[int] int\nList<Long>\tlong|Long\nMap<String, Long>\n\
             Map<String, Long> two_sum(List<Long> nums, long t)\n"
        );
        let csharp = csharp(&signature);
        assert!(csharp.contains(
            r#"ReturnType = "System.Collections.Generic.Dictionary`2[System.String,System.Nullable`1[System.Int64]]";"#
        ));
    }
}
