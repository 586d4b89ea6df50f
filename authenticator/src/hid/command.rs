//! CTAPHID command codes, error codes and capability flags (CTAP 2.1 §11.2.9).
//!
//! Command bytes here are the 7-bit codes without the 0x80 init-packet flag, the form
//! [`super::packet`] uses.

use thiserror::Error;

/// A vendor command code, 0x40..=0x7f (CTAPHID_VENDOR_FIRST..=CTAPHID_VENDOR_LAST).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VendorCommand(u8);

impl VendorCommand {
    pub const FIRST: u8 = 0x40;
    pub const LAST: u8 = 0x7f;

    /// `None` outside the vendor range.
    pub const fn new(code: u8) -> Option<VendorCommand> {
        if code >= Self::FIRST && code <= Self::LAST {
            Some(VendorCommand(code))
        } else {
            None
        }
    }

    pub const fn code(self) -> u8 {
        self.0
    }
}

/// A CTAPHID command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Ping,
    Msg,
    Lock,
    Init,
    Wink,
    Cbor,
    Cancel,
    Keepalive,
    Error,
    Vendor(VendorCommand),
}

impl Command {
    pub const PING: u8 = 0x01;
    pub const MSG: u8 = 0x03;
    pub const LOCK: u8 = 0x04;
    pub const INIT: u8 = 0x06;
    pub const WINK: u8 = 0x08;
    pub const CBOR: u8 = 0x10;
    pub const CANCEL: u8 = 0x11;
    pub const KEEPALIVE: u8 = 0x3b;
    pub const ERROR: u8 = 0x3f;

    /// Decode a 7-bit command code; `None` for codes CTAP does not define.
    pub fn from_code(code: u8) -> Option<Command> {
        Some(match code {
            Self::PING => Command::Ping,
            Self::MSG => Command::Msg,
            Self::LOCK => Command::Lock,
            Self::INIT => Command::Init,
            Self::WINK => Command::Wink,
            Self::CBOR => Command::Cbor,
            Self::CANCEL => Command::Cancel,
            Self::KEEPALIVE => Command::Keepalive,
            Self::ERROR => Command::Error,
            other => Command::Vendor(VendorCommand::new(other)?),
        })
    }

    pub fn code(self) -> u8 {
        match self {
            Command::Ping => Self::PING,
            Command::Msg => Self::MSG,
            Command::Lock => Self::LOCK,
            Command::Init => Self::INIT,
            Command::Wink => Self::WINK,
            Command::Cbor => Self::CBOR,
            Command::Cancel => Self::CANCEL,
            Command::Keepalive => Self::KEEPALIVE,
            Command::Error => Self::ERROR,
            Command::Vendor(v) => v.code(),
        }
    }
}

/// CTAPHID_ERROR codes (the one-byte payload of an ERROR response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[repr(u8)]
pub enum HidError {
    #[error("invalid CTAPHID command")]
    InvalidCmd = 0x01,
    #[error("invalid parameter in CTAPHID request")]
    InvalidPar = 0x02,
    #[error("invalid CTAPHID message length")]
    InvalidLen = 0x03,
    #[error("invalid CTAPHID continuation sequence")]
    InvalidSeq = 0x04,
    #[error("CTAPHID message timed out")]
    MsgTimeout = 0x05,
    #[error("CTAPHID channel busy")]
    ChannelBusy = 0x06,
    #[error("CTAPHID command requires a channel lock")]
    LockRequired = 0x0a,
    #[error("invalid CTAPHID channel")]
    InvalidChannel = 0x0b,
    #[error("unspecified CTAPHID error")]
    Other = 0x7f,
}

impl HidError {
    /// Decode an ERROR payload byte; unknown codes become [`HidError::Other`].
    pub fn from_code(code: u8) -> HidError {
        match code {
            0x01 => HidError::InvalidCmd,
            0x02 => HidError::InvalidPar,
            0x03 => HidError::InvalidLen,
            0x04 => HidError::InvalidSeq,
            0x05 => HidError::MsgTimeout,
            0x06 => HidError::ChannelBusy,
            0x0a => HidError::LockRequired,
            0x0b => HidError::InvalidChannel,
            _ => HidError::Other,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Capability flags in the INIT response.
pub mod capability {
    /// The device implements CTAPHID_WINK.
    pub const WINK: u8 = 0x01;
    /// The device implements CTAPHID_CBOR (CTAP2).
    pub const CBOR: u8 = 0x04;
    /// The device does NOT implement CTAPHID_MSG (no CTAP1/U2F).
    pub const NMSG: u8 = 0x08;
}

/// CTAPHID protocol version reported by INIT.
pub const PROTOCOL_VERSION: u8 = 2;

/// Length of the INIT nonce.
pub const INIT_NONCE_SIZE: usize = 8;
/// Length of the INIT response payload: nonce 8, CID 4, protocol 1, version 3, capabilities 1.
pub const INIT_RESPONSE_SIZE: usize = 17;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_codes_round_trip() {
        for code in 0u8..=0x7f {
            if let Some(cmd) = Command::from_code(code) {
                assert_eq!(cmd.code(), code);
            }
        }
        assert_eq!(Command::from_code(0x10), Some(Command::Cbor));
        assert_eq!(Command::from_code(0x02), None);
        assert_eq!(
            Command::from_code(0x51),
            Some(Command::Vendor(VendorCommand::new(0x51).unwrap()))
        );
        assert_eq!(VendorCommand::new(0x3f), None);
        assert_eq!(VendorCommand::new(0x80), None);
    }

    #[test]
    fn error_codes_round_trip() {
        for err in [
            HidError::InvalidCmd,
            HidError::InvalidPar,
            HidError::InvalidLen,
            HidError::InvalidSeq,
            HidError::MsgTimeout,
            HidError::ChannelBusy,
            HidError::LockRequired,
            HidError::InvalidChannel,
            HidError::Other,
        ] {
            assert_eq!(HidError::from_code(err.code()), err);
        }
        assert_eq!(HidError::from_code(0x42), HidError::Other);
    }
}
