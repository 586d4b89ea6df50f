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
