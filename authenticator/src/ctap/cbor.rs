//! CBOR for CTAP2 requests and responses, on top of [`ciborium::Value`].
//!
//! Requests are parsed once into a [`Params`] map (integer keys), after the structural checks
//! CTAP asks for: a single top-level map, no trailing bytes, no duplicate map keys at any
//! depth, bounded nesting. Handlers then read fields with typed getters that turn mistakes into
//! the right status code (missing required field → `MissingParameter`, wrong CBOR type →
//! `CborUnexpectedType`, undecodable bytes → `InvalidCbor`). Responses are built as `Value`s and
//! encoded by [`encode`] in CTAP2 canonical form (map keys sorted by encoded length, then by
//! encoded bytes: 1, 2, 3, −1, −2, …, then text keys shortest first).
//!
//! ## Why not the ctap-types request/response structs
//! We use ctap-types for the command codes ([`ctap_types::ctap2::Operation`]) and the status
//! codes ([`super::CtapError`]) only. Its message structs are built for `no_std` firmware on
//! `heapless` buffers and cap sizes in ways a std authenticator should not: user and RP names are
//! truncated to 64 bytes, RP IDs to 256, excludeList to 16 entries, allowList to 10, credential
//! IDs to 255 bytes, and unknown algorithms in pubKeyCredParams are silently dropped. Its
//! decoder also maps every decoding failure to `InvalidCbor` or `MissingParameter`, so it cannot
//! report `CborUnexpectedType`, and it does not reject duplicate keys. Parsing straight from a
//! `Value` keeps the CTAP 2.1 processing order (which checks come first) in our handlers.

use ciborium::value::Integer;
pub use ciborium::Value;

use super::status::{CtapError, CtapResult};

/// Deepest nesting of maps/arrays accepted in a request. CTAP requires at least 4 (e.g.
/// getAssertion → extensions → hmac-secret → keyAgreement COSE key); we allow some slack.
pub const MAX_NESTING: usize = 8;

/// Decode one CBOR data item that must fill `bytes` exactly.
pub fn decode(bytes: &[u8]) -> CtapResult<Value> {
    let mut rest = bytes;
    // ciborium counts one recursion step per array/map/tag level.
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_NESTING)
        .map_err(|_| CtapError::InvalidCbor)?;
    if !rest.is_empty() {
        return Err(CtapError::InvalidCbor);
    }
    check_structure(&value, 0)?;
    Ok(value)
}

/// Reject duplicate map keys anywhere in the tree and nesting beyond [`MAX_NESTING`].
fn check_structure(value: &Value, depth: usize) -> CtapResult<()> {
    match value {
        Value::Map(entries) => {
            if depth >= MAX_NESTING {
                return Err(CtapError::InvalidCbor);
            }
            // Keys compared in canonical form: two map-valued keys with the same entries in
            // another order are the same key (found by fuzz/fuzz_targets/ctap_decode.rs).
            let mut keys: Vec<Vec<u8>> = entries
                .iter()
                .map(|(k, _)| encode_value(&canonicalize(k.clone())))
                .collect();
            keys.sort_unstable();
            if keys.windows(2).any(|w| w[0] == w[1]) {
                return Err(CtapError::InvalidCbor);
            }
            entries.iter().try_for_each(|(k, v)| {
                check_structure(k, depth + 1)?;
                check_structure(v, depth + 1)
            })
        }
        Value::Array(items) => {
            if depth >= MAX_NESTING {
                return Err(CtapError::InvalidCbor);
            }
            items.iter().try_for_each(|v| check_structure(v, depth + 1))
        }
        Value::Tag(_, inner) => check_structure(inner, depth + 1),
        _ => Ok(()),
    }
}

/// The parameter map of a CTAP2 command (command byte already stripped).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(Vec<(Value, Value)>);

impl Params {
    /// Parse a command's parameters. An empty body is an empty map (commands whose parameters
    /// are all optional); anything else must be exactly one map with unsigned integer keys.
    pub fn parse(bytes: &[u8]) -> CtapResult<Self> {
        if bytes.is_empty() {
            return Ok(Params::default());
        }
        match decode(bytes)? {
            Value::Map(entries) => {
                if entries
                    .iter()
                    .any(|(k, _)| !matches!(k, Value::Integer(i) if i128::from(*i) >= 0))
                {
                    return Err(CtapError::CborUnexpectedType);
                }
                Ok(Params(entries))
            }
            _ => Err(CtapError::CborUnexpectedType),
        }
    }

    /// A borrowed view with the typed getters.
    pub fn map(&self) -> Map<'_> {
        Map(&self.0)
    }

    /// A required parameter, converted with `f` (e.g. [`as_bytes`]).
    pub fn required<'a, T>(
        &'a self,
        key: u64,
        f: impl FnOnce(&'a Value) -> CtapResult<T>,
    ) -> CtapResult<T> {
        Map(&self.0).required(key, f)
    }

    /// An optional parameter, converted with `f` when present.
    pub fn optional<'a, T>(
        &'a self,
        key: u64,
        f: impl FnOnce(&'a Value) -> CtapResult<T>,
    ) -> CtapResult<Option<T>> {
        Map(&self.0).optional(key, f)
    }

    /// True when the parameter is present (whatever its type).
    pub fn contains(&self, key: u64) -> bool {
        Map(&self.0).get(key).is_some()
    }
}

/// A map key: CTAP maps are keyed by integers (parameters, COSE) or text (rp, user, options,
/// extensions).
pub trait MapKey: Copy {
    fn matches(self, key: &Value) -> bool;
}

impl MapKey for u64 {
    fn matches(self, key: &Value) -> bool {
        matches!(key, Value::Integer(i) if i128::from(*i) == i128::from(self))
    }
}

impl MapKey for i64 {
    fn matches(self, key: &Value) -> bool {
        matches!(key, Value::Integer(i) if i128::from(*i) == i128::from(self))
    }
}

impl MapKey for &str {
    fn matches(self, key: &Value) -> bool {
        matches!(key, Value::Text(t) if t == self)
    }
}

/// A borrowed CBOR map with typed getters.
#[derive(Debug, Clone, Copy)]
pub struct Map<'a>(pub &'a [(Value, Value)]);

impl<'a> Map<'a> {
    pub fn get(&self, key: impl MapKey) -> Option<&'a Value> {
        self.0.iter().find(|(k, _)| key.matches(k)).map(|(_, v)| v)
    }

    pub fn required<T>(
        &self,
        key: impl MapKey,
        f: impl FnOnce(&'a Value) -> CtapResult<T>,
    ) -> CtapResult<T> {
        self.get(key).ok_or(CtapError::MissingParameter).and_then(f)
    }

    pub fn optional<T>(
        &self,
        key: impl MapKey,
        f: impl FnOnce(&'a Value) -> CtapResult<T>,
    ) -> CtapResult<Option<T>> {
        self.get(key).map(f).transpose()
    }

    /// The entries, in request order.
    pub fn entries(&self) -> &'a [(Value, Value)] {
        self.0
    }

    /// Entries whose keys must all be text (options, extensions): `(key, value)` pairs.
    pub fn text_entries(&self) -> CtapResult<Vec<(&'a str, &'a Value)>> {
        self.0.iter().map(|(k, v)| Ok((as_text(k)?, v))).collect()
    }
}

// ---- typed conversions (wrong CBOR type → CborUnexpectedType) ----

pub fn as_bytes(v: &Value) -> CtapResult<&[u8]> {
    v.as_bytes()
        .map(Vec::as_slice)
        .ok_or(CtapError::CborUnexpectedType)
}

pub fn as_text(v: &Value) -> CtapResult<&str> {
    v.as_text().ok_or(CtapError::CborUnexpectedType)
}

pub fn as_bool(v: &Value) -> CtapResult<bool> {
    v.as_bool().ok_or(CtapError::CborUnexpectedType)
}

/// Any CBOR integer (major type 0 or 1).
pub fn as_int(v: &Value) -> CtapResult<i128> {
    v.as_integer()
        .map(i128::from)
        .ok_or(CtapError::CborUnexpectedType)
}

/// An unsigned integer (major type 0). Negative integers are the wrong type.
pub fn as_uint(v: &Value) -> CtapResult<u64> {
    let i = as_int(v)?;
    u64::try_from(i).map_err(|_| CtapError::CborUnexpectedType)
}

/// An unsigned integer that must fit in a `u8` (subcommands, protocol numbers, levels).
pub fn as_u8(v: &Value) -> CtapResult<u8> {
    let i = as_uint(v)?;
    u8::try_from(i).map_err(|_| CtapError::InvalidParameter)
}

pub fn as_map(v: &Value) -> CtapResult<Map<'_>> {
    v.as_map()
        .map(|m| Map(m.as_slice()))
        .ok_or(CtapError::CborUnexpectedType)
}

pub fn as_array(v: &Value) -> CtapResult<&[Value]> {
    v.as_array()
        .map(Vec::as_slice)
        .ok_or(CtapError::CborUnexpectedType)
}

// ---- encoding ----

/// Plain encoding of one value, no reordering (used for key comparison).
fn encode_value(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail and every Value is serializable.
    ciborium::ser::into_writer(value, &mut out).expect("CBOR encoding into a Vec");
    out
}

/// Sort every map in the tree into CTAP2 canonical key order (RFC 7049 §3.9: shorter encoded
/// key first, then bytewise).
pub fn canonicalize(value: Value) -> Value {
    match value {
        Value::Map(entries) => {
            let mut keyed: Vec<(Vec<u8>, Value, Value)> = entries
                .into_iter()
                .map(|(k, v)| {
                    let k = canonicalize(k);
                    (encode_value(&k), k, canonicalize(v))
                })
                .collect();
            keyed.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
            Value::Map(keyed.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonicalize).collect()),
        Value::Tag(tag, inner) => Value::Tag(tag, Box::new(canonicalize(*inner))),
        other => other,
    }
}

/// Encode a response value in CTAP2 canonical form.
pub fn encode(value: Value) -> Vec<u8> {
    encode_value(&canonicalize(value))
}

/// Builds a CBOR map; [`MapBuilder::build`] yields the `Value`, [`MapBuilder::encode`] the
/// canonical bytes. Insertion order does not matter.
#[derive(Debug, Default, Clone)]
pub struct MapBuilder(Vec<(Value, Value)>);

impl MapBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(mut self, key: impl Into<Value>, value: impl Into<Value>) -> Self {
        self.0.push((key.into(), value.into()));
        self
    }

    /// Insert only when `value` is `Some`.
    pub fn insert_opt(self, key: impl Into<Value>, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(v) => self.insert(key, v),
            None => self,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn build(self) -> Value {
        canonicalize(Value::Map(self.0))
    }

    pub fn encode(self) -> Vec<u8> {
        encode_value(&self.build())
    }
}

/// A byte string value (plain `Vec<u8>` would become an array of integers).
pub fn bytes(b: impl Into<Vec<u8>>) -> Value {
    Value::Bytes(b.into())
}

/// An integer value from any integer type.
pub fn int(i: impl Into<Integer>) -> Value {
    Value::Integer(i.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn parses_integer_keyed_map() {
        // {1: h'0102', 2: "rp", 3: true}
        let p = Params::parse(&hex("a3 01 420102 02 627270 03 f5")).unwrap();
        assert_eq!(p.required(1, as_bytes).unwrap(), &[1, 2]);
        assert_eq!(p.required(2, as_text).unwrap(), "rp");
        assert!(p.required(3, as_bool).unwrap());
        assert_eq!(p.optional(9, as_bytes).unwrap(), None);
    }

    #[test]
    fn typed_getter_errors() {
        let p = Params::parse(&hex("a2 01 420102 02 02")).unwrap();
        assert_eq!(p.required(5, as_bytes), Err(CtapError::MissingParameter));
        assert_eq!(p.required(1, as_text), Err(CtapError::CborUnexpectedType));
        assert_eq!(p.required(2, as_bytes), Err(CtapError::CborUnexpectedType));
        assert_eq!(p.required(2, as_uint), Ok(2));
        // -1 is not an unsigned integer
        let p = Params::parse(&hex("a10120")).unwrap();
        assert_eq!(p.required(1, as_uint), Err(CtapError::CborUnexpectedType));
        assert_eq!(p.required(1, as_int), Ok(-1));
    }

    #[test]
    fn rejects_structural_errors() {
        // not a map
        assert_eq!(
            Params::parse(&hex("8101")),
            Err(CtapError::CborUnexpectedType)
        );
        // text key at top level
        assert_eq!(
            Params::parse(&hex("a1616101")),
            Err(CtapError::CborUnexpectedType)
        );
        // duplicate key
        assert_eq!(
            Params::parse(&hex("a201010102")),
            Err(CtapError::InvalidCbor)
        );
        // duplicate nested key
        assert_eq!(
            Params::parse(&hex("a101a2616101616102")),
            Err(CtapError::InvalidCbor)
        );
        // duplicate map-valued keys, entries in another order: {1: {{1:1, 0:0}: 1, {0:0, 1:1}: 2}}
        assert_eq!(
            Params::parse(&hex("a1 01 a2 a2 01 01 00 00 01 a2 00 00 01 01 02")),
            Err(CtapError::InvalidCbor)
        );
        // trailing bytes
        assert_eq!(Params::parse(&hex("a1010100")), Err(CtapError::InvalidCbor));
        // truncated
        assert_eq!(Params::parse(&hex("a20101")), Err(CtapError::InvalidCbor));
        // garbage
        assert_eq!(Params::parse(&hex("ff")), Err(CtapError::InvalidCbor));
    }

    #[test]
    fn nesting_limit() {
        fn nested(depth: usize) -> Vec<u8> {
            // {1: [[[...0...]]]} with `depth` levels in total
            let mut v = vec![0xa1, 0x01];
            v.extend(std::iter::repeat_n(0x81, depth - 1));
            v.push(0x00);
            v
        }
        assert!(Params::parse(&nested(MAX_NESTING)).is_ok());
        assert_eq!(
            Params::parse(&nested(MAX_NESTING + 1)),
            Err(CtapError::InvalidCbor)
        );
        assert_eq!(Params::parse(&nested(1000)), Err(CtapError::InvalidCbor));
    }

    #[test]
    fn empty_body_is_empty_map() {
        let p = Params::parse(&[]).unwrap();
        assert_eq!(p.required(1, as_bytes), Err(CtapError::MissingParameter));
    }

    #[test]
    fn canonical_key_order() {
        let encoded = MapBuilder::new()
            .insert("alg", 1)
            .insert(-2, 0)
            .insert(3, 0)
            .insert(-1, 0)
            .insert("up", true)
            .insert(1, 0)
            .insert(24, 0)
            .insert("a", 0)
            .encode();
        // 1, 3, -1, -2, 24 (two-byte key), "a", "up", "alg"
        let expect = hex("a8 0100 0300 2000 2100 181800 616100 627570f5 63616c6701");
        assert_eq!(encoded, expect);
    }

    #[test]
    fn nested_maps_are_canonicalized() {
        let inner = Value::Map(vec![(int(2), int(0)), (int(1), int(0))]);
        let out = encode(Value::Array(vec![inner]));
        assert_eq!(out, hex("81a201000200"));
    }

    #[test]
    fn text_entries_and_keys() {
        let p = Params::parse(&hex("a101 a2 627570 f5 627576 f4")).unwrap();
        let m = p.required(1, as_map).unwrap();
        assert_eq!(m.required("up", as_bool), Ok(true));
        assert_eq!(m.required("uv", as_bool), Ok(false));
        assert_eq!(m.text_entries().unwrap().len(), 2);
    }
}
