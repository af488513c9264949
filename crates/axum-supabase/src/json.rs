//! Strict JSON for JOSE headers and claim sets (RFC 8725 §3.7, RFC 7515 §4).
//!
//! serde_json alone is lenient in three ways that matter for tokens: a member
//! name given twice keeps the last value (how `alg` smuggling works), a member
//! we ignore is skipped without checking its UTF-8, and skipped members may
//! nest without limit. Here every byte must be UTF-8, every value is visited
//! (so serde_json's depth limit applies everywhere), and a duplicate member
//! name at any depth is refused.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a segment is not a strict JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not UTF-8, not JSON, too deep, or not an object.
    Invalid,
    /// A member name appears twice in one object.
    Duplicate,
}

/// Parses `text` as one JSON object, strictly.
pub(crate) fn object(text: &[u8]) -> Result<Map<String, Value>, JsonError> {
    let text = std::str::from_utf8(text).map_err(|_| JsonError::Invalid)?;
    let duplicate = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Strict {
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|value| de.end().map(|()| value));
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Err(_) if duplicate.get() => Err(JsonError::Duplicate),
        _ => Err(JsonError::Invalid),
    }
}

/// Builds a [`Value`] like serde_json's own visitor, but refuses duplicate names.
/// The flag tells a duplicate apart from a syntax error without reading messages.
#[derive(Clone, Copy)]
struct Strict<'a> {
    duplicate: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            if map.contains_key(&name) {
                self.duplicate.set(true);
                return Err(de::Error::custom("duplicate member name"));
            }
            let value = access.next_value_seed(self)?;
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_parse() {
        let map = object(br#"{"a":1,"b":[true,null,"x",{"c":-2.5}]}"#).unwrap_or_default();
        assert_eq!(map.len(), 2);
        assert_eq!(map["b"][3]["c"], -2.5);
    }

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert_eq!(
            object(br#"{"alg":"HS256","alg":"none"}"#),
            Err(JsonError::Duplicate)
        );
        assert_eq!(object(br#"{"a":{"b":1,"b":2}}"#), Err(JsonError::Duplicate));
        assert_eq!(object(br#"{"a":[{"b":1,"b":1}]}"#), Err(JsonError::Duplicate));
        // The same name under escapes is the same name.
        assert_eq!(object(br#"{"alg":1,"\u0061lg":2}"#), Err(JsonError::Duplicate));
        assert!(object(br#"{"a":{"b":1},"b":2}"#).is_ok());
    }

    #[test]
    fn every_byte_is_checked() {
        assert_eq!(object(b"{\"x\":\"\xff\"}"), Err(JsonError::Invalid));
        assert_eq!(object(br#"{"x":"\ud800"}"#), Err(JsonError::Invalid));
        assert_eq!(object(b"{} x"), Err(JsonError::Invalid));
        assert_eq!(object(b"[]"), Err(JsonError::Invalid));
        assert_eq!(object(b"\"s\""), Err(JsonError::Invalid));
    }

    #[test]
    fn deep_nesting_is_a_clean_error() {
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(object(deep.as_bytes()), Err(JsonError::Invalid));
        let ok = format!("{{\"x\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert!(object(ok.as_bytes()).is_ok());
    }
}
