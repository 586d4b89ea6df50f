//! authenticatorReset (0x07): factory reset. New device keys (so every non-discoverable
//! credential ID dies), no credentials, no PIN, fresh volatile PIN/UV state.
//!
//! CTAP 2.1 §6.6: only within 10 s of power-up and with user presence, so malware on a host
//! cannot silently wipe a key that has been plugged in for a while. Reset is also the only way
//! out of the disabled (tampered) mode: the tampered state file is kept aside as evidence
//! (`state.tampered`, never read back) and a factory-fresh state is started in its place.

use super::status::{CtapError, CtapResult};
use super::{storage_error, Authenticator, Device, Interaction};
use crate::events::DeviceEvent;

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
            // `reopen` is `Store::open_for_reset*`: it keeps the unverifiable file aside as
            // evidence and writes a factory-fresh state.
            let store = (disabled.reopen)().map_err(storage_error)?;
            tracing::warn!(dir = %disabled.dir.display(), "tampered device reset to factory state");
            auth.device = Device::Ready(store);
        }
    }
    auth.drop_volatile_state();
    tracing::info!("authenticator reset");
    auth.events.emit(DeviceEvent::Reset);
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use crate::ctap::cbor::Value;
    use crate::ctap::test_support::*;
    use crate::ctap::CtapError;

    #[test]
    fn reset_wipes_credentials_pin_and_wrapped_ids() {
        let mut h = Harness::new();
        let wrapped = make(&mut h, make_credential_params(b"u"));
        make(
            &mut h,
            make_credential_params(b"v").insert(0x07, options(&[("rk", true)])),
        );
        h.update(|s| s.pin.pin_hash = Some([1; 16]));
        let old_key = h.state().device.credential_wrap_key.clone();
        h.call(0x07, None).unwrap();
        assert!(h.state().credentials.is_empty());
        assert!(h.state().pin.pin_hash.is_none());
        assert_ne!(h.state().device.credential_wrap_key, old_key);
        let allow = Value::Array(vec![descriptor(&wrapped.id)]);
        assert_eq!(
            h.call(
                0x02,
                Some(get_assertion_params().insert(0x03, allow).build())
            ),
            Err(CtapError::NoCredentials),
            "old wrapped IDs die with the old wrap key"
        );
        // Counters continue after reset.
        let after = make(&mut h, make_credential_params(b"u"));
        assert!(after.auth_data.counter > wrapped.auth_data.counter);
    }

    #[test]
    fn reset_needs_presence_and_a_fresh_power_up() {
        let mut h = Harness::with_presence(Box::new(NoTouch));
        assert_eq!(h.call(0x07, None), Err(CtapError::UserActionTimeout));
        let mut h = Harness::new();
        h.auth.config.reset_window = std::time::Duration::ZERO;
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(h.call(0x07, None), Err(CtapError::NotAllowed));
    }

    #[test]
    fn reset_regenerates_pin_uv_state() {
        let mut h = Harness::new();
        let token = h.pin_token(crate::ctap::pin::Permission::MC);
        h.call(0x07, None).unwrap();
        h.update(|s| s.pin.pin_hash = Some([1; 16]));
        let params = make_credential_params(b"u")
            .insert(0x08, pin_auth(&token, &CDH))
            .insert(0x09, 2);
        assert_eq!(
            h.call(0x01, Some(params.build())),
            Err(CtapError::PinAuthInvalid)
        );
    }
}
