//! Small CBOR helpers for building CTAP requests (canonical key order) and reading
//! responses (integer- or text-keyed maps) with errors that name the missing field.

use ciborium::value::Value;

use super::error::{ClientError, Result};

/// Parse exactly one CBOR item that fills `bytes`.
pub(crate) fn decode(bytes: &[u8], what: &str) -> Result<Value> {
    let mut rest = bytes;
    let value = decode_prefix(&mut rest, what)?;
    if !rest.is_empty() {
        return Err(ClientError::malformed(format!(
            "{what}: {} trailing bytes after CBOR",
            rest.len()
        )));
    }
    Ok(value)
}

/// Parse one CBOR item from the front of `bytes`, advancing past it (authenticator data
/// concatenates a COSE key and an extensions map without length prefixes).
pub(crate) fn decode_prefix(bytes: &mut &[u8], what: &str) -> Result<Value> {
    ciborium::from_reader(bytes).map_err(|e| ClientError::malformed(format!("{what}: {e}")))
}

/// A response map, looked up by integer or text key.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    entries: Vec<(Value, Value)>,
    what: &'static str,
}

/// Keys of CTAP maps: integers for top-level parameters, text inside entities.
pub(crate) trait Key: Copy + std::fmt::Display {
    fn matches(self, v: &Value) -> bool;
}

impl Key for i64 {
    fn matches(self, v: &Value) -> bool {
        v.as_integer()
            .is_some_and(|i| i128::from(i) == i128::from(self))
    }
}

impl Key for &str {
    fn matches(self, v: &Value) -> bool {
        v.as_text() == Some(self)
    }
}

impl Fields {
    pub(crate) fn new(value: Value, what: &'static str) -> Result<Self> {
        match value {
            Value::Map(entries) => Ok(Fields { entries, what }),
            other => Err(ClientError::malformed(format!(
                "{what}: expected a map, got {other:?}"
            ))),
        }
    }

    /// Parse a response payload (after the status byte); an empty payload is an empty map.
    pub(crate) fn parse(payload: &[u8], what: &'static str) -> Result<Self> {
        if payload.is_empty() {
            return Ok(Fields {
                entries: Vec::new(),
                what,
            });
        }
        Self::new(decode(payload, what)?, what)
    }

    pub(crate) fn raw<K: Key>(&self, key: K) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(k, _)| key.matches(k))
            .map(|(_, v)| v)
    }

    pub(crate) fn opt<K: Key, T: FromCbor>(&self, key: K) -> Result<Option<T>> {
        self.raw(key)
            .map(|v| {
                T::from_cbor(v.clone()).ok_or_else(|| {
                    ClientError::malformed(format!(
                        "{}: field {key} has the wrong type ({v:?})",
                        self.what
                    ))
                })
            })
            .transpose()
    }

    pub(crate) fn req<K: Key, T: FromCbor>(&self, key: K) -> Result<T> {
        self.opt(key)?
            .ok_or_else(|| ClientError::malformed(format!("{}: missing field {key}", self.what)))
    }

    pub(crate) fn nested<K: Key>(&self, key: K, what: &'static str) -> Result<Option<Fields>> {
        self.raw(key)
            .map(|v| Fields::new(v.clone(), what))
            .transpose()
    }

    pub(crate) fn entries(&self) -> &[(Value, Value)] {
        &self.entries
    }
}

/// Conversion from a CBOR item to a Rust value, `None` on a type mismatch.
pub(crate) trait FromCbor: Sized {
    fn from_cbor(v: Value) -> Option<Self>;
}

impl FromCbor for Value {
    fn from_cbor(v: Value) -> Option<Self> {
        Some(v)
    }
}

impl FromCbor for Vec<u8> {
    fn from_cbor(v: Value) -> Option<Self> {
        v.into_bytes().ok()
    }
}

impl<const N: usize> FromCbor for [u8; N] {
    fn from_cbor(v: Value) -> Option<Self> {
        v.into_bytes().ok()?.try_into().ok()
    }
}

impl FromCbor for String {
    fn from_cbor(v: Value) -> Option<Self> {
        v.into_text().ok()
    }
}

impl FromCbor for bool {
    fn from_cbor(v: Value) -> Option<Self> {
        v.into_bool().ok()
    }
}

impl FromCbor for Vec<Value> {
    fn from_cbor(v: Value) -> Option<Self> {
        v.into_array().ok()
    }
}

macro_rules! int_from_cbor {
    ($($t:ty),*) => {$(
        impl FromCbor for $t {
            fn from_cbor(v: Value) -> Option<Self> {
                <$t>::try_from(v.into_integer().ok()?).ok()
            }
        }
    )*};
}
int_from_cbor!(u8, u32, u64, i64);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::cbor::MapBuilder;

    #[test]
    fn fields_report_missing_and_mistyped() {
        let f = Fields::new(MapBuilder::new().insert(1, "x").build(), "test").unwrap();
        assert_eq!(f.req::<_, String>(1).unwrap(), "x");
        assert!(f.req::<_, u64>(1).is_err());
        assert!(f.req::<_, String>(2).is_err());
        assert!(f.opt::<_, String>(2).unwrap().is_none());
    }

    #[test]
    fn decode_rejects_trailing_bytes() {
        assert!(decode(&[0x01, 0x02], "t").is_err());
        let mut s: &[u8] = &[0x01, 0x02];
        assert_eq!(decode_prefix(&mut s, "t").unwrap(), Value::from(1));
        assert_eq!(s, &[0x02]);
    }
}
