//! The JSON Schema subset of structured outputs, checked on our side: strict mode's rules on the schema we send
//! ([`check_strict`]), and the answer against it ([`validate`]) with the limits the schema states (`maxLength`,
//! `maxItems`, `minItems`, `enum`), so that a model's output is data of a known shape and size, never instructions.

use serde_json::Value;

/// Strict mode's rules: every object lists all its properties in `required` and sets `additionalProperties: false`.
pub fn check_strict(schema: &Value) -> Result<(), String> {
    check_strict_at(schema, "$")
}

fn check_strict_at(schema: &Value, path: &str) -> Result<(), String> {
    match schema["type"].as_str() {
        Some("object") => {
            if schema["additionalProperties"] != Value::Bool(false) {
                return Err(format!("{path}: objects need \"additionalProperties\": false"));
            }
            let properties = schema["properties"].as_object().ok_or(format!("{path}: objects need properties"))?;
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|names| names.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for (name, property) in properties {
                if !required.contains(&name.as_str()) {
                    return Err(format!("{path}.{name}: every property must be required"));
                }
                check_strict_at(property, &format!("{path}.{name}"))?;
            }
            Ok(())
        }
        Some("array") => check_strict_at(&schema["items"], &format!("{path}[]")),
        Some("string" | "integer" | "number" | "boolean" | "null") => Ok(()),
        _ => Err(format!("{path}: a type is required (object, array, string, integer, number, boolean)")),
    }
}

/// The answer against the schema: types, required and unknown properties, enums, sizes.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    validate_at(schema, value, "$")
}

fn validate_at(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{path}: {value} is not one of {}", Value::Array(allowed.clone())));
    }
    let wrong = |expected: &str| Err(format!("{path}: expected {expected}, got {}", kind(value)));
    match schema["type"].as_str() {
        Some("object") => {
            let Value::Object(fields) = value else { return wrong("an object") };
            let properties = schema["properties"].as_object().cloned().unwrap_or_default();
            for name in fields.keys() {
                if !properties.contains_key(name) {
                    return Err(format!("{path}: unexpected property `{name}`"));
                }
            }
            for (name, property) in &properties {
                let field = fields.get(name).ok_or(format!("{path}: missing property `{name}`"))?;
                validate_at(property, field, &format!("{path}.{name}"))?;
            }
            Ok(())
        }
        Some("array") => {
            let Value::Array(items) = value else { return wrong("an array") };
            if let Some(max) = schema["maxItems"].as_u64()
                && items.len() as u64 > max
            {
                return Err(format!("{path}: {} items, at most {max}", items.len()));
            }
            if let Some(min) = schema["minItems"].as_u64()
                && (items.len() as u64) < min
            {
                return Err(format!("{path}: {} items, at least {min}", items.len()));
            }
            items
                .iter()
                .enumerate()
                .try_for_each(|(index, item)| validate_at(&schema["items"], item, &format!("{path}[{index}]")))
        }
        Some("string") => {
            let Value::String(text) = value else { return wrong("a string") };
            match schema["maxLength"].as_u64() {
                Some(max) if text.chars().count() as u64 > max => Err(format!("{path}: longer than {max} characters")),
                _ => Ok(()),
            }
        }
        Some("integer") if value.is_i64() || value.is_u64() => Ok(()),
        Some("integer") => wrong("an integer"),
        Some("number") if value.is_number() => Ok(()),
        Some("number") => wrong("a number"),
        Some("boolean") if value.is_boolean() => Ok(()),
        Some("boolean") => wrong("a boolean"),
        Some("null") if value.is_null() => Ok(()),
        _ => wrong("a value of the schema's type"),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "additionalProperties": false, "required": ["title", "tests"], "properties": {
            "title": {"type": "string", "maxLength": 10},
            "tests": {"type": "array", "maxItems": 2, "items": {"type": "object", "additionalProperties": false,
                "required": ["stdin", "kind"], "properties": {"stdin": {"type": "string"}, "kind": {"type": "string", "enum": ["a", "b"]}}}}
        }})
    }

    #[test]
    fn strict_mode_rules_are_checked() {
        assert_eq!(check_strict(&schema()), Ok(()));
        let mut loose = schema();
        loose["required"] = json!(["title"]);
        assert_eq!(check_strict(&loose), Err("$.tests: every property must be required".into()));
        let mut open = schema();
        open["properties"]["tests"]["items"]["additionalProperties"] = json!(true);
        assert!(check_strict(&open).unwrap_err().starts_with("$.tests[]: objects need"));
    }

    #[test]
    fn answers_are_validated_with_paths() {
        assert_eq!(validate(&schema(), &json!({"title": "t", "tests": [{"stdin": "", "kind": "a"}]})), Ok(()));
        let cases = [
            (json!({"title": "t"}), "$: missing property `tests`"),
            (json!({"title": "t", "tests": [], "x": 1}), "$: unexpected property `x`"),
            (json!({"title": "much too long", "tests": []}), "$.title: longer than 10 characters"),
            (
                json!({"title": "t", "tests": [{"stdin": 1, "kind": "a"}]}),
                "$.tests[0].stdin: expected a string, got a number",
            ),
            (
                json!({"title": "t", "tests": [{"stdin": "", "kind": "c"}]}),
                "$.tests[0].kind: \"c\" is not one of [\"a\",\"b\"]",
            ),
            (
                json!({"title": "t", "tests": [{"stdin": "", "kind": "a"}, {"stdin": "", "kind": "a"}, {"stdin": "", "kind": "a"}]}),
                "$.tests: 3 items, at most 2",
            ),
        ];
        for (value, error) in cases {
            assert_eq!(validate(&schema(), &value), Err(error.to_string()));
        }
    }
}
