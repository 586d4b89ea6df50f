//! CTAP2 status codes. The numeric values come from ctap-types.

pub use ctap_types::ctap2::Error as CtapError;

/// Result of a CTAP2 command: the CBOR response payload (possibly empty) or a status code.
pub type CtapResult<T = Vec<u8>> = Result<T, CtapError>;

/// Encode a command result the way CTAPHID carries it: status byte, then the payload.
pub fn encode_response(result: CtapResult) -> Vec<u8> {
    match result {
        Ok(mut payload) => {
            payload.insert(0, CtapError::Success as u8);
            payload
        }
        Err(err) => vec![err as u8],
    }
}
