//! Friendly names for authenticator models, by AAGUID, for the account page. A small built-in
//! list (the FIDO Metadata Service has the full one; this demo does not fetch it).

use uuid::{uuid, Uuid};

/// Known models. palmkey's comes from `palmkey::ctap::AAGUID`.
const KNOWN: &[(Uuid, &str)] = &[
    (
        uuid!("01020304-0506-0708-0102-030405060708"),
        "Chromium virtual authenticator",
    ),
    (
        uuid!("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"),
        "Google Password Manager",
    ),
    (
        uuid!("fbfc3007-154e-4ecc-8c0b-6e020557d7bd"),
        "iCloud Keychain",
    ),
    (
        uuid!("08987058-cadc-4b81-b6e1-30de50dcbe96"),
        "Windows Hello",
    ),
    (uuid!("bada5566-a7aa-401f-bd96-45619a55120d"), "1Password"),
    (
        uuid!("ee882879-721c-4913-9775-3dfcce97072a"),
        "YubiKey 5 NFC",
    ),
];

/// The model's name, "palmkey palm terminal" for ours, or a plain description.
pub fn name(aaguid: Uuid) -> &'static str {
    if aaguid.as_bytes() == &palmkey::ctap::AAGUID {
        return "palmkey palm terminal";
    }
    if aaguid.is_nil() {
        return "unknown (the authenticator sent no AAGUID)";
    }
    KNOWN
        .iter()
        .find(|(id, _)| *id == aaguid)
        .map_or("unknown model", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_palmkey_and_unknowns() {
        assert_eq!(
            name(Uuid::from_bytes(palmkey::ctap::AAGUID)),
            "palmkey palm terminal"
        );
        assert_eq!(
            name(uuid!("01020304-0506-0708-0102-030405060708")),
            "Chromium virtual authenticator"
        );
        assert_eq!(
            name(Uuid::nil()),
            "unknown (the authenticator sent no AAGUID)"
        );
        assert_eq!(name(Uuid::from_u128(7)), "unknown model");
    }
}
