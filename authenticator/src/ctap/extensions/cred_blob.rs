//! credBlob (CTAP 2.1 §12.2): a small opaque blob stored with a credential at creation and
//! returned with assertions.

use crate::ctap::cbor::{self, Value};
use crate::ctap::status::CtapResult;

/// The makeCredential input: the blob, validated against the announced maximum. A blob that
/// is too long is not stored and the output says `false` (not an error, per the spec).
pub fn accept(value: &Value, max_len: usize) -> CtapResult<Option<Vec<u8>>> {
    let blob = cbor::as_bytes(value)?;
    Ok((blob.len() <= max_len).then(|| blob.to_vec()))
}

/// The getAssertion output: the stored blob, or an empty byte string when there is none.
pub fn output(blob: Option<&[u8]>) -> Value {
    cbor::bytes(blob.unwrap_or_default().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_up_to_the_limit() {
        assert_eq!(accept(&cbor::bytes(vec![1; 32]), 32), Ok(Some(vec![1; 32])));
        assert_eq!(accept(&cbor::bytes(vec![1; 33]), 32), Ok(None));
        assert!(accept(&Value::Bool(true), 32).is_err());
        assert_eq!(output(None), cbor::bytes(Vec::new()));
    }
}
