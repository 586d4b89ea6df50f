//! credProtect (CTAP 2.1 §12.1): how much verification a credential demands before it is
//! used or even revealed.

/// The credential protection policy, stored per credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CredProtect {
    /// Level 1: usable with user presence alone (the default).
    #[default]
    UserVerificationOptional,
    /// Level 2: without UV, only when the platform names the credential in an allowList.
    UserVerificationOptionalWithCredentialIdList,
    /// Level 3: only with user verification; invisible otherwise.
    UserVerificationRequired,
}

impl CredProtect {
    pub fn from_level(level: u8) -> Option<Self> {
        match level {
            1 => Some(CredProtect::UserVerificationOptional),
            2 => Some(CredProtect::UserVerificationOptionalWithCredentialIdList),
            3 => Some(CredProtect::UserVerificationRequired),
            _ => None,
        }
    }

    pub fn level(self) -> u8 {
        match self {
            CredProtect::UserVerificationOptional => 1,
            CredProtect::UserVerificationOptionalWithCredentialIdList => 2,
            CredProtect::UserVerificationRequired => 3,
        }
    }

    /// May getAssertion use (or even disclose) the credential? `user_verified`: the UV bit of
    /// the response; `named_in_allow_list`: the platform listed the credential's ID.
    pub fn permits(self, user_verified: bool, named_in_allow_list: bool) -> bool {
        match self {
            CredProtect::UserVerificationOptional => true,
            CredProtect::UserVerificationOptionalWithCredentialIdList => {
                user_verified || named_in_allow_list
            }
            CredProtect::UserVerificationRequired => user_verified,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip() {
        for level in 1..=3 {
            assert_eq!(CredProtect::from_level(level).unwrap().level(), level);
        }
        assert_eq!(CredProtect::from_level(0), None);
        assert_eq!(CredProtect::from_level(4), None);
    }

    #[test]
    fn policy() {
        use CredProtect::*;
        assert!(UserVerificationOptional.permits(false, false));
        assert!(!UserVerificationOptionalWithCredentialIdList.permits(false, false));
        assert!(UserVerificationOptionalWithCredentialIdList.permits(false, true));
        assert!(UserVerificationOptionalWithCredentialIdList.permits(true, false));
        assert!(!UserVerificationRequired.permits(false, true));
        assert!(UserVerificationRequired.permits(true, false));
    }
}
