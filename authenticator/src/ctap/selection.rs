//! authenticatorSelection (0x0B): the platform asks every connected authenticator for a touch
//! to learn which one the user means.

use super::status::{CtapError, CtapResult};
use super::{Authenticator, Interaction};

pub fn handle(auth: &mut Authenticator, params: &[u8], io: &dyn Interaction) -> CtapResult {
    if !params.is_empty() {
        return Err(CtapError::InvalidLength);
    }
    auth.user_presence(io).map_err(|e| match e {
        CtapError::UserActionTimeout | CtapError::KeepaliveCancel => e,
        _ => CtapError::OperationDenied,
    })?;
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use crate::ctap::cbor::Value;
    use crate::ctap::test_support::*;
    use crate::ctap::CtapError;

    #[test]
    fn selection_waits_for_presence() {
        let mut h = Harness::new();
        assert_eq!(h.call(0x0B, None), Ok(Value::Null));
        let mut h = Harness::with_presence(Box::new(NoTouch));
        assert_eq!(h.call(0x0B, None), Err(CtapError::UserActionTimeout));
    }
}
