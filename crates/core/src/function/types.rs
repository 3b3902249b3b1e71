//! The value types of a function entry (`int`, `float`, `bool`, `string`, `list[T]`, `map[T]`, `optional[T]`) and
//! the signature they make up: the common ground of the six languages, checked against test values at the edge.

use serde_json::Value;

/// How deeply types may nest (`list[list[...]]`): deeper is a 422, so no harness recurses without bound.
pub const MAX_TYPE_DEPTH: usize = 8;
/// Parameters a function may take.
pub const MAX_PARAMS: usize = 16;
/// A function's or a parameter's name, at most this many bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// The type of a parameter or of a return value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueType {
    /// A 64-bit signed integer.
    Int,
    /// A 64-bit float.
    Float,
    /// true or false.
    Bool,
    /// A Unicode string.
    String,
    /// A JSON array of one element type.
    List(Box<ValueType>),
    /// A JSON object with string keys and one value type.
    Map(Box<ValueType>),
    /// The type, or JSON null.
    Optional(Box<ValueType>),
}

/// A value that is not of its type: where below the value, and what was found there.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeMismatch {
    /// The path below the checked value (`[1]`, `["key"]`), empty for the value itself.
    pub path: String,
    /// The type expected there.
    pub expected: ValueType,
    /// The value found there, rendered short.
    pub found: String,
}

impl TypeMismatch {
    /// In words: "is 2.5, not an int" or "has 2.5 at `[1]`, not an int".
    pub fn describe(&self) -> String {
        let expected = self.expected.with_article();
        if self.path.is_empty() {
            format!("is {}, not {expected}", self.found)
        } else {
            format!("has {} at `{}`, not {expected}", self.found, self.path)
        }
    }
}

impl ValueType {
    /// Parses a type as the contract spells it; the error says what is wrong and what would be right.
    pub fn parse(text: &str) -> Result<ValueType, String> {
        parse_at(text.trim(), 1)
    }

    /// Checks `value` against the type at any depth.
    pub fn check(&self, value: &Value) -> Result<(), TypeMismatch> {
        self.check_at(value, &mut String::new())
    }

    fn check_at(&self, value: &Value, path: &mut String) -> Result<(), TypeMismatch> {
        let fits = match (self, value) {
            (ValueType::Optional(_), Value::Null) => return Ok(()),
            (ValueType::Optional(inner), _) => return inner.check_at(value, path),
            (ValueType::Int, Value::Number(number)) => number.is_i64(),
            (ValueType::Float, Value::Number(_)) | (ValueType::Bool, Value::Bool(_)) => true,
            (ValueType::String, Value::String(_)) => true,
            (ValueType::List(element), Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    let length = path.len();
                    path.push_str(&format!("[{index}]"));
                    element.check_at(item, path)?;
                    path.truncate(length);
                }
                true
            }
            (ValueType::Map(element), Value::Object(entries)) => {
                for (key, item) in entries {
                    let length = path.len();
                    path.push_str(&format!("[{}]", Value::String(key.clone())));
                    element.check_at(item, path)?;
                    path.truncate(length);
                }
                true
            }
            _ => false,
        };
        if fits {
            Ok(())
        } else {
            Err(TypeMismatch { path: path.clone(), expected: self.clone(), found: super::render_value(value, 40) })
        }
    }

    /// `value` (of this type) with every integer where a float is expected written as a float (`3` as `3.0`): each
    /// language's harness then builds a float (Ruby's `3 / 2` is 1, `3.0 / 2` is 1.5).
    pub fn normalise(&self, value: Value) -> Value {
        match (self, value) {
            (ValueType::Float, Value::Number(number)) if !number.is_f64() => number
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or(Value::Number(number)),
            (ValueType::Optional(inner), value) if !value.is_null() => inner.normalise(value),
            (ValueType::List(inner), Value::Array(items)) => {
                Value::Array(items.into_iter().map(|item| inner.normalise(item)).collect())
            }
            (ValueType::Map(inner), Value::Object(entries)) => {
                Value::Object(entries.into_iter().map(|(key, item)| (key, inner.normalise(item))).collect())
            }
            (_, value) => value,
        }
    }

    /// "an int", "a list[int]": the type with its article, for messages.
    pub fn with_article(&self) -> String {
        let name = self.to_string();
        let article = if matches!(self, ValueType::Int | ValueType::Optional(_)) { "an" } else { "a" };
        format!("{article} {name}")
    }

    /// How deeply the type nests: 1 for a scalar.
    pub fn depth(&self) -> usize {
        match self {
            ValueType::Int | ValueType::Float | ValueType::Bool | ValueType::String => 1,
            ValueType::List(inner) | ValueType::Map(inner) | ValueType::Optional(inner) => 1 + inner.depth(),
        }
    }
}

fn parse_at(text: &str, depth: usize) -> Result<ValueType, String> {
    if depth > MAX_TYPE_DEPTH {
        return Err(format!("nests deeper than {MAX_TYPE_DEPTH} levels"));
    }
    let scalar = match text {
        "int" => Some(ValueType::Int),
        "float" => Some(ValueType::Float),
        "bool" => Some(ValueType::Bool),
        "string" => Some(ValueType::String),
        _ => None,
    };
    if let Some(scalar) = scalar {
        return Ok(scalar);
    }
    let Some((outer, rest)) = text.split_once('[') else {
        return Err(format!("`{text}` is not a type: use int, float, bool, string, list[T], map[T] or optional[T]"));
    };
    let Some(inner) = rest.strip_suffix(']') else {
        return Err(format!("`{text}` has no closing `]`"));
    };
    let inner = Box::new(parse_at(inner.trim(), depth + 1)?);
    match outer.trim() {
        "list" => Ok(ValueType::List(inner)),
        "map" => Ok(ValueType::Map(inner)),
        "optional" => Ok(ValueType::Optional(inner)),
        other => Err(format!("`{other}[...]` is not a type: the containers are list[T], map[T] and optional[T]")),
    }
}

impl std::fmt::Display for ValueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueType::Int => f.write_str("int"),
            ValueType::Float => f.write_str("float"),
            ValueType::Bool => f.write_str("bool"),
            ValueType::String => f.write_str("string"),
            ValueType::List(inner) => write!(f, "list[{inner}]"),
            ValueType::Map(inner) => write!(f, "map[{inner}]"),
            ValueType::Optional(inner) => write!(f, "optional[{inner}]"),
        }
    }
}

/// A checked function signature: what the harness of every language calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The function's name.
    pub name: String,
    /// The parameters, by name and type.
    pub params: Vec<(String, ValueType)>,
    /// The return type.
    pub returns: ValueType,
}

/// Why a signature is not one the judges take: the part at fault (`name`, `params`, `params[1].name`,
/// `params[1].type`, `returns`) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureError {
    /// The part at fault, as an entry's field below `entry.` names it.
    pub part: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` {}", self.part, self.reason)
    }
}

impl Signature {
    /// The signature of `name`, taking `params` (name and type, as the contract spells them) and returning
    /// `returns`, checked: the one place an entry's or a spec's signature is checked.
    pub fn new(name: &str, params: &[(&str, &str)], returns: &str) -> Result<Signature, SignatureError> {
        let error = |part: String, reason: String| SignatureError { part, reason };
        if !is_identifier(name) {
            return Err(error(
                "name".into(),
                format!(
                    "`{name}` is not a name every language takes: ASCII letters, digits and `_`, not starting with a \
                     digit or `__`, at most {MAX_NAME_BYTES} bytes, and no keyword"
                ),
            ));
        }
        if params.len() > MAX_PARAMS {
            return Err(error("params".into(), format!("has {} parameters; at most {MAX_PARAMS}", params.len())));
        }
        let mut checked: Vec<(String, ValueType)> = Vec::with_capacity(params.len());
        for (index, (param, value_type)) in params.iter().enumerate() {
            if !is_identifier(param) || *param == name {
                return Err(error(
                    format!("params[{index}].name"),
                    format!("`{param}` is not a parameter name every language takes (nor may it be the function's)"),
                ));
            }
            if checked.iter().any(|(seen, _)| seen == param) {
                return Err(error(format!("params[{index}].name"), format!("`{param}` is used twice")));
            }
            let value_type =
                ValueType::parse(value_type).map_err(|reason| error(format!("params[{index}].type"), reason))?;
            checked.push((param.to_string(), value_type));
        }
        let returns = ValueType::parse(returns).map_err(|reason| error("returns".into(), reason))?;
        Ok(Signature { name: name.to_string(), params: checked, returns })
    }

    /// Parses `name(param: type, ...) -> type`, as [`Signature`]'s `Display` writes it (what a generated spec gives),
    /// and checks it as [`Signature::new`] does.
    pub fn parse(text: &str) -> Result<Signature, String> {
        let shape = "write it as `name(param: type, ...) -> type`";
        let (head, returns) = text.split_once("->").ok_or_else(|| format!("`{text}` has no `->`: {shape}"))?;
        let (name, params) = head.trim().split_once('(').ok_or_else(|| format!("`{text}` has no `(`: {shape}"))?;
        let params = params.trim().strip_suffix(')').ok_or_else(|| format!("`{text}` has no `)`: {shape}"))?;
        let mut split = Vec::new();
        // Types hold no commas (a map's keys are strings), so parameters split at every one.
        for param in params.split(',').map(str::trim).filter(|param| !param.is_empty()) {
            let (param_name, value_type) =
                param.split_once(':').ok_or_else(|| format!("`{param}` has no type: {shape}"))?;
            split.push((param_name.trim(), value_type.trim()));
        }
        Signature::new(name.trim(), &split, returns.trim()).map_err(|err| err.to_string())
    }

    /// The entry that calls this function (in every language but wasm and wat).
    pub fn entry(&self) -> crate::model::Entry {
        crate::model::Entry::Function {
            export: None,
            name: Some(self.name.clone()),
            params: self
                .params
                .iter()
                .map(|(name, value_type)| crate::model::Param {
                    name: name.clone(),
                    value_type: value_type.to_string(),
                })
                .collect(),
            returns: Some(self.returns.to_string()),
            isolation: Default::default(),
        }
    }
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let params: Vec<String> =
            self.params.iter().map(|(name, value_type)| format!("{name}: {value_type}")).collect();
        write!(f, "{}({}) -> {}", self.name, params.join(", "), self.returns)
    }
}

/// A name every language takes as a function or parameter name: ASCII letters, digits and `_`, not starting with a
/// digit, at most [`MAX_NAME_BYTES`] bytes, and no keyword of the six languages.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    starts_well
        && name.len() <= MAX_NAME_BYTES
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&name)
        && !name.starts_with("__")
}

/// Keywords of Python, JavaScript, Ruby, Java and C# (and the harnesses' reserved names): a name must be free in all.
const KEYWORDS: &[&str] = &[
    "abstract",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "base",
    "begin",
    "bool",
    "boolean",
    "break",
    "byte",
    "case",
    "catch",
    "char",
    "checked",
    "class",
    "const",
    "continue",
    "decimal",
    "def",
    "default",
    "defined",
    "del",
    "delegate",
    "delete",
    "do",
    "double",
    "elif",
    "else",
    "elsif",
    "end",
    "ensure",
    "enum",
    "eval",
    "event",
    "except",
    "explicit",
    "export",
    "extends",
    "extern",
    "false",
    "False",
    "final",
    "finally",
    "fixed",
    "float",
    "for",
    "foreach",
    "from",
    "function",
    "global",
    "goto",
    "if",
    "implements",
    "implicit",
    "import",
    "in",
    "instanceof",
    "int",
    "interface",
    "internal",
    "is",
    "lambda",
    "let",
    "lock",
    "long",
    "module",
    "namespace",
    "native",
    "new",
    "next",
    "nil",
    "None",
    "nonlocal",
    "not",
    "null",
    "object",
    "operator",
    "or",
    "out",
    "override",
    "package",
    "params",
    "pass",
    "private",
    "protected",
    "public",
    "raise",
    "readonly",
    "redo",
    "ref",
    "rescue",
    "retry",
    "return",
    "sbyte",
    "sealed",
    "self",
    "short",
    "sizeof",
    "stackalloc",
    "static",
    "strictfp",
    "string",
    "struct",
    "super",
    "switch",
    "synchronized",
    "then",
    "this",
    "throw",
    "throws",
    "transient",
    "true",
    "True",
    "try",
    "typeof",
    "uint",
    "ulong",
    "undef",
    "unless",
    "unchecked",
    "unsafe",
    "until",
    "ushort",
    "using",
    "var",
    "virtual",
    "void",
    "volatile",
    "when",
    "while",
    "with",
    "yield",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_parse_and_print_back_canonically() {
        for text in ["int", "list[int]", "map[list[optional[string]]]", "optional[float]", "bool"] {
            assert_eq!(ValueType::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(ValueType::parse(" list[ int ] ").unwrap().to_string(), "list[int]");
        assert!(ValueType::parse("set[int]").unwrap_err().contains("list[T], map[T] and optional[T]"));
        assert!(ValueType::parse("integer").unwrap_err().contains("is not a type"));
        assert!(ValueType::parse("list[int").unwrap_err().contains("closing"));
    }

    #[test]
    fn nesting_is_bounded_at_its_edge() {
        let nested = |depth: usize| format!("{}int{}", "list[".repeat(depth - 1), "]".repeat(depth - 1));
        assert_eq!(ValueType::parse(&nested(MAX_TYPE_DEPTH)).unwrap().depth(), MAX_TYPE_DEPTH);
        assert!(ValueType::parse(&nested(MAX_TYPE_DEPTH + 1)).unwrap_err().contains("deeper than 8"));
    }

    #[test]
    fn values_are_checked_at_any_depth_and_the_path_is_named() {
        let list = ValueType::parse("list[int]").unwrap();
        assert!(list.check(&json!([1, 2, -3])).is_ok());
        let err = list.check(&json!([1, 2.5])).unwrap_err();
        assert_eq!(err.describe(), "has 2.5 at `[1]`, not an int");
        let map = ValueType::parse("map[optional[list[string]]]").unwrap();
        assert!(map.check(&json!({"a": null, "b": ["x", "é"]})).is_ok());
        assert_eq!(map.check(&json!({"a": [1]})).unwrap_err().describe(), "has 1 at `[\"a\"][0]`, not a string");
        assert_eq!(ValueType::Bool.check(&json!(1)).unwrap_err().describe(), "is 1, not a bool");
        assert!(ValueType::Float.check(&json!(3)).is_ok(), "an int literal is a float");
        assert!(ValueType::Int.check(&json!(u64::MAX)).is_err(), "past 64-bit signed");
    }

    #[test]
    fn signatures_parse_and_print_back() {
        let text = "two_sum(nums: list[int], target: int) -> list[int]";
        let signature = Signature::parse(text).unwrap();
        assert_eq!(signature.to_string(), text);
        assert_eq!(
            Signature::parse(" f( ) -> map[optional[bool]] ").unwrap().to_string(),
            "f() -> map[optional[bool]]"
        );
        assert!(Signature::parse("f(x) -> int").unwrap_err().contains("has no type"));
        assert!(Signature::parse("f(x: int, x: int) -> int").unwrap_err().contains("used twice"));
        assert!(Signature::parse("class(x: int) -> int").is_err());
        assert!(Signature::parse("f(x: int)").unwrap_err().contains("->"));
    }

    #[test]
    fn integers_where_floats_are_expected_become_floats() {
        let value_type = ValueType::parse("map[list[optional[float]]]").unwrap();
        let normalised = value_type.normalise(json!({"a": [3, null, 2.5]}));
        assert_eq!(normalised.to_string(), r#"{"a":[3.0,null,2.5]}"#);
        assert_eq!(ValueType::Int.normalise(json!(3)).to_string(), "3");
    }

    #[test]
    fn identifiers_are_common_to_every_language() {
        assert!(is_identifier("two_sum") && is_identifier("_x1") && is_identifier("Solve"));
        for bad in ["", "1x", "two-sum", "class", "def", "end", "__init__", "é", &"x".repeat(MAX_NAME_BYTES + 1)] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }
}
