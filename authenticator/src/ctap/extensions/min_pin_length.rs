//! minPinLength (CTAP 2.1 §12.4): tells RPs that an administrator authorized (through
//! setMinPINLength's minPinLengthRPIDs) the current minimum PIN length.

use crate::store::state::PinState;

/// The minimum PIN length to report to `rp_id`, or `None` when that RP is not authorized.
pub fn output(pin: &PinState, rp_id: &str) -> Option<u8> {
    pin.min_length_rp_ids
        .iter()
        .any(|allowed| allowed == rp_id)
        .then_some(pin.min_length)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::State;

    #[test]
    fn only_authorized_rps_learn_the_length() {
        let mut state = State::fresh(&mut rand::rngs::OsRng);
        state.pin.min_length = 6;
        state.pin.min_length_rp_ids = vec!["bank.example".into()];
        assert_eq!(output(&state.pin, "bank.example"), Some(6));
        assert_eq!(output(&state.pin, "other.example"), None);
    }
}
