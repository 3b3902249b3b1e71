//! Structs are JSON objects. serde's derived `Deserialize` for a struct also takes a JSON array of its fields in order
//! (`"starter": [null, null]` for `{"source": null, "module_base64": null}`), which no client of ours means and which
//! hides mistakes. [`ObjectsOnly`] wraps a deserializer, all the way down, so that every struct refuses an array: a
//! 422 naming the field, as any other wrong type. Everything else (lists, maps, numbers, `serde_json::Value`) reads
//! as before.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A deserializer whose structs, at any depth, refuse arrays.
pub struct ObjectsOnly<D>(pub D);

/// The visitor of one value: passes everything on, wrapping what it reads further; `struct_fields` when the value is
/// a struct (then an array is refused).
struct Wrapped<V> {
    visitor: V,
    struct_fields: bool,
}

impl<V> Wrapped<V> {
    fn any(visitor: V) -> Wrapped<V> {
        Wrapped { visitor, struct_fields: false }
    }
}

/// What a visitor expects, as text.
struct Expecting<'a, V>(&'a V);

impl<'de, V: Visitor<'de>> fmt::Display for Expecting<'_, V> {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(formatter)
    }
}

/// A map's or a sequence's access, handing out its values through [`ObjectsOnly`].
struct Access<A>(A);

/// A seed that deserializes through [`ObjectsOnly`].
struct Seed<S>(S);

macro_rules! forward_deserialize {
    ($($method:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Wrapped::any(visitor))
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectsOnly<D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any,
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Wrapped::any(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Wrapped::any(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Wrapped::any(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Wrapped::any(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, Wrapped { visitor, struct_fields: true })
    }

    /// Enums pass as they are: ours are tagged objects or plain strings.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident: $type:ty),* $(,)?) => {
        $(fn $method<E: de::Error>(self, value: $type) -> Result<V::Value, E> {
            self.visitor.$method(value)
        })*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrapped<V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        self.visitor.expecting(formatter)
    }

    forward_visit!(
        visit_bool: bool,
        visit_i8: i8,
        visit_i16: i16,
        visit_i32: i32,
        visit_i64: i64,
        visit_i128: i128,
        visit_u8: u8,
        visit_u16: u16,
        visit_u32: u32,
        visit_u64: u64,
        visit_u128: u128,
        visit_f32: f32,
        visit_f64: f64,
        visit_char: char,
        visit_str: &str,
        visit_borrowed_str: &'de str,
        visit_string: String,
        visit_bytes: &[u8],
        visit_borrowed_bytes: &'de [u8],
        visit_byte_buf: Vec<u8>,
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(ObjectsOnly(deserializer))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(ObjectsOnly(deserializer))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        // An internally tagged enum (`{"kind": "function", "export": …}`) reads its value through
        // `deserialize_any`, so only its visitor's own description tells it from a list; serde would take
        // `["function", "add"]` as the tag and the fields in order.
        let tagged_enum = || format!("{}", Expecting(&self.visitor)).starts_with("internally tagged enum");
        if self.struct_fields || tagged_enum() {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &"an object"));
        }
        self.visitor.visit_seq(Access(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(Access(map))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_enum(data)
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Access<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Access<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(seed)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(ObjectsOnly(deserializer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Code {
        source: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Entry {
        Function { export: String },
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Request {
        code: Code,
        #[serde(default)]
        entry: Option<Entry>,
        #[serde(default)]
        codes: Vec<Code>,
        maybe: Option<Code>,
        numbers: Vec<i64>,
        anything: serde_json::Value,
    }

    fn read(json: &str) -> Result<Request, serde_json::Error> {
        Request::deserialize(ObjectsOnly(&mut serde_json::Deserializer::from_str(json)))
    }

    #[test]
    fn a_struct_is_an_object_at_any_depth_and_everything_else_reads_as_before() {
        let fine = read(
            r#"{"code": {"source": "x"}, "codes": [{"source": null}], "maybe": {"source": "y"},
                "entry": {"kind": "function", "export": "add"}, "numbers": [1, 2], "anything": [1, {"a": [2]}]}"#,
        )
        .unwrap();
        assert_eq!(fine.entry, Some(Entry::Function { export: "add".into() }));
        assert_eq!(fine.codes, vec![Code { source: None }]);
        assert_eq!(fine.numbers, vec![1, 2]);
        assert_eq!(fine.anything, serde_json::json!([1, {"a": [2]}]));
        for refused in [
            r#"{"code": ["x"], "maybe": null, "numbers": [], "anything": 0}"#,
            r#"{"code": {"source": "x"}, "codes": [["x"]], "maybe": null, "numbers": [], "anything": 0}"#,
            r#"{"code": {"source": "x"}, "maybe": ["y"], "numbers": [], "anything": 0}"#,
            r#"[{"source": "x"}, [], null, [], 0]"#,
            r#"{"code": {"source": "x"}, "entry": ["function", "add"], "maybe": null, "numbers": [], "anything": 0}"#,
        ] {
            let err = read(refused).unwrap_err();
            assert!(err.to_string().contains("invalid type: sequence, expected an object"), "{refused}: {err}");
        }
    }
}
