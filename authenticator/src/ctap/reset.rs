//! authenticatorReset (0x07): factory reset. New device keys (so every non-discoverable
//! credential ID dies), no credentials, no PIN, fresh volatile PIN/UV state.
//!
//! CTAP 2.1 §6.6: only within 10 s of power-up and with user presence, so malware on a host
//! cannot silently wipe a key that has been plugged in for a while. Reset is also the only way
//! out of the disabled (tampered) mode: the tampered state file is kept aside as evidence and
//! a factory-fresh state is started in its place.

use std::path::Path;

use super::status::{CtapError, CtapResult};
use super::{storage_error, Authenticator, Device, Interaction};
use crate::store::STATE_FILE;

pub fn handle(auth: &mut Authenticator, _params: &[u8], io: &dyn Interaction) -> CtapResult {
    if auth.since_power_up() > auth.config.reset_window {
        return Err(CtapError::NotAllowed);
    }
    auth.user_presence(io).map_err(|e| match e {
        CtapError::UserActionTimeout | CtapError::KeepaliveCancel => e,
        _ => CtapError::OperationDenied,
    })?;
    match &mut auth.device {
        Device::Ready(store) => store.reset().map_err(storage_error)?,
        Device::Disabled(disabled) => {
            set_aside_tampered(&disabled.dir)?;
            let store = (disabled.reopen)().map_err(storage_error)?;
            tracing::warn!(dir = %disabled.dir.display(), "tampered device reset to factory state");
            auth.device = Device::Ready(store);
        }
    }
    auth.pin_uv.reset();
    auth.next_assertion = None;
    tracing::info!("authenticator reset");
    Ok(Vec::new())
}

/// Rename the state that failed its integrity check to `state.sealed.tampered-<unix time>`.
fn set_aside_tampered(dir: &Path) -> CtapResult<()> {
    let path = dir.join(STATE_FILE);
    if !path.exists() {
        return Ok(());
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let aside = dir.join(format!("{STATE_FILE}.tampered-{stamp}"));
    std::fs::rename(&path, &aside).map_err(|error| {
        tracing::error!(%error, path = %path.display(), "cannot set the tampered state aside");
        CtapError::Other
    })?;
    tracing::warn!(kept = %aside.display(), "tampered state kept aside as evidence");
    Ok(())
}
