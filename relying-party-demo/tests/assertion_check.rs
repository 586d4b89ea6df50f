//! The relying party's own ES256 assertion check against webauthn-rs's: on valid, replayed,
//! mis-signed and randomly mutated sign-in assertions both must give the same verdict (the
//! same `WebauthnError` on a refusal, the same counter, backup state and stored passkey on
//! success), and the fast path must really be the one taken for a plain ES256 assertion.

// The load bench's software authenticator; these tests use a subset of it.
#[allow(dead_code)]
#[path = "../benches/login_load/soft_authenticator.rs"]
mod soft_authenticator;

use std::sync::Arc;

use p256::ecdsa::Signature;
use rand::{Rng, SeedableRng};
use relying_party_demo::assertion_check::AssertionChecker;
use sha2::{Digest, Sha256};
use soft_authenticator::SoftCredential;
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, Passkey, PublicKeyCredential, Url, Webauthn,
    WebauthnBuilder,
};

const ORIGIN: &str = "http://localhost:8080";

struct Rig {
    webauthn: Arc<Webauthn>,
    checker: AssertionChecker,
    key: SoftCredential,
    passkey: Passkey,
}

impl Rig {
    fn new() -> Rig {
        let origin = Url::parse(ORIGIN).unwrap();
        let webauthn = Arc::new(
            WebauthnBuilder::new("localhost", &origin)
                .unwrap()
                .build()
                .unwrap(),
        );
        let checker = AssertionChecker::new(Arc::clone(&webauthn), "localhost", &origin);
        let user = uuid::Uuid::new_v4();
        let (options, registration) = webauthn
            .start_passkey_registration(user, "ada", "Ada", None)
            .unwrap();
        let (key, answer) = SoftCredential::register(&options, ORIGIN).unwrap();
        let passkey = webauthn
            .finish_passkey_registration(&answer, &registration)
            .unwrap();
        Rig {
            webauthn,
            checker,
            key,
            passkey,
        }
    }

    /// A fresh ceremony and a valid assertion for it (the counter steps).
    fn assertion(&mut self) -> (DiscoverableAuthentication, PublicKeyCredential) {
        let (options, state) = self.webauthn.start_discoverable_authentication().unwrap();
        (state, self.key.assert(&options).unwrap())
    }

    /// Both checks on `credential`; asserts they agree and returns the verdict. On success
    /// the rig's stored passkey takes the update (as the app stores it).
    fn compare(
        &mut self,
        what: &str,
        state: &DiscoverableAuthentication,
        credential: &PublicKeyCredential,
    ) -> Result<u32, String> {
        let reference = self.webauthn.finish_discoverable_authentication_v2(
            credential,
            state.clone(),
            &self.passkey,
        );
        let mut ours_passkey = self.passkey.clone();
        let ours = self
            .checker
            .check(credential, state.clone(), &mut ours_passkey);
        match (reference, ours) {
            (Ok(reference), Ok(ours)) => {
                assert_eq!(reference.counter(), ours.counter, "{what}: counter");
                assert_eq!(
                    reference.backup_state(),
                    ours.backup_state,
                    "{what}: backup state"
                );
                let mut reference_passkey = self.passkey.clone();
                reference_passkey.update_credential(&reference);
                assert_eq!(
                    serde_json::to_value(&reference_passkey).unwrap(),
                    serde_json::to_value(&ours_passkey).unwrap(),
                    "{what}: stored passkey after the update"
                );
                self.passkey = ours_passkey;
                Ok(ours.counter)
            }
            (Err(reference), Err(ours)) => {
                assert_eq!(
                    std::mem::discriminant(&reference),
                    std::mem::discriminant(&ours),
                    "{what}: webauthn-rs says {reference:?}, ours {ours:?}"
                );
                Err(format!("{ours:?}"))
            }
            (reference, ours) => {
                panic!("{what}: webauthn-rs says {reference:?}, ours {ours:?}")
            }
        }
    }
}

/// `signature` with s replaced by n - s (the other valid ECDSA signature of the message).
fn high_s(signature: &[u8]) -> Vec<u8> {
    let sig = Signature::from_der(signature).unwrap();
    let (r, s) = sig.split_scalars();
    let flipped = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
    flipped.to_der().as_bytes().to_vec()
}

#[test]
fn plain_es256_assertions_take_the_fast_path_and_verify_like_webauthn_rs() {
    let mut rig = Rig::new();
    for expected in 1..=3 {
        let (state, credential) = rig.assertion();
        assert!(
            rig.checker
                .takes_fast_path(&credential, &state, &rig.passkey),
            "a plain ES256 assertion must not fall back to webauthn-rs"
        );
        assert_eq!(rig.compare("valid", &state, &credential), Ok(expected));
    }
}

#[test]
fn replays_and_counter_regressions_are_refused_alike() {
    let mut rig = Rig::new();
    let (state, credential) = rig.assertion();
    rig.compare("first", &state, &credential).unwrap();
    let replay = rig.compare("replayed", &state, &credential).unwrap_err();
    assert!(replay.contains("CredentialPossibleCompromise"), "{replay}");
    rig.key.rewind_counter();
    let (state, credential) = rig.assertion();
    let rewound = rig
        .compare("same counter again", &state, &credential)
        .unwrap_err();
    assert!(
        rewound.contains("CredentialPossibleCompromise"),
        "{rewound}"
    );
}

#[test]
fn an_authenticator_without_a_counter_is_accepted_alike() {
    let mut rig = Rig::new();
    for _ in 0..2 {
        let (options, state) = rig.webauthn.start_discoverable_authentication().unwrap();
        // Counter stays 0: an authenticator that does not count.
        let credential = rig
            .key
            .sign_assertion(&options.public_key.challenge)
            .unwrap();
        assert_eq!(rig.compare("counter 0", &state, &credential), Ok(0));
    }
}

#[test]
fn signed_lies_are_refused_alike() {
    let mut rig = Rig::new();
    // Client data signed with another origin (a path alone keeps the origin).
    let origins = [
        ("http://localhost:8081", false),
        ("https://localhost:8080", false),
        ("http://a.localhost:8080", false),
        ("http://evil.test", false),
        ("http://localhost:8080/x", true),
    ];
    for (origin, same) in origins {
        rig.key.origin = origin.into();
        let (state, credential) = rig.assertion();
        let verdict = rig.compare(origin, &state, &credential);
        if same {
            assert!(verdict.is_ok(), "{origin}: {verdict:?}");
        } else {
            assert!(
                verdict.is_err_and(|e| e.contains("InvalidRPOrigin")),
                "{origin}"
            );
        }
    }
    rig.key.origin = ORIGIN.into();
    // Authenticator data signed for another RP ID.
    rig.key.rp_id_hash = [7; 32];
    let (state, credential) = rig.assertion();
    let verdict = rig.compare("other RP ID", &state, &credential);
    assert!(verdict.is_err_and(|e| e.contains("InvalidRPIDHash")));
    rig.key.rp_id_hash = Sha256::digest(b"localhost").into();
    // A valid signature over another challenge.
    let (_, state) = rig.webauthn.start_discoverable_authentication().unwrap();
    let credential = rig.key.sign_assertion(&[9; 32]).unwrap();
    let verdict = rig.compare("other challenge", &state, &credential);
    assert!(verdict.is_err_and(|e| e.contains("MismatchedChallenge")));
}

#[test]
fn tampered_fields_are_refused_alike() {
    let mut rig = Rig::new();
    type Tamper = fn(&mut PublicKeyCredential);
    let tampers: [(&str, Tamper); 16] = [
        ("flag UP cleared", |c| {
            c.response.authenticator_data[32] &= !0x01
        }),
        ("flag UV cleared", |c| {
            c.response.authenticator_data[32] &= !0x04
        }),
        ("flag BE set", |c| c.response.authenticator_data[32] |= 0x08),
        ("flag BS set", |c| c.response.authenticator_data[32] |= 0x10),
        ("flag AT set", |c| c.response.authenticator_data[32] |= 0x40),
        ("flag ED set", |c| c.response.authenticator_data[32] |= 0x80),
        ("RFU flag set", |c| {
            c.response.authenticator_data[32] |= 0x02
        }),
        ("counter changed", |c| {
            c.response.authenticator_data[36] ^= 0x10
        }),
        ("authData truncated", |c| {
            c.response.authenticator_data.pop();
        }),
        ("authData extended", |c| {
            c.response.authenticator_data.push(0)
        }),
        ("signature bit flipped", |c| {
            let last = c.response.signature.len() - 1;
            c.response.signature[last] ^= 1;
        }),
        ("signature truncated", |c| {
            c.response.signature.pop();
        }),
        ("signature with a trailing byte", |c| {
            c.response.signature.push(0)
        }),
        ("signature high-S", |c| {
            c.response.signature = high_s(&c.response.signature)
        }),
        ("clientData type", |c| {
            let json = String::from_utf8(c.response.client_data_json.clone()).unwrap();
            c.response.client_data_json = json.replace("webauthn.get", "webauthn.create").into();
        }),
        ("clientData not JSON", |c| {
            c.response.client_data_json.insert(0, b'x')
        }),
    ];
    for (what, tamper) in tampers {
        let (state, mut credential) = rig.assertion();
        tamper(&mut credential);
        let verdict = rig.compare(what, &state, &credential);
        // (r, n - s) is as valid as (r, s): WebAuthn asks for no low-S form, and both
        // checks accept it.
        let valid = what == "signature high-S";
        assert_eq!(verdict.is_ok(), valid, "{what}: {verdict:?}");
    }
    // Another credential's ID.
    let (state, mut credential) = rig.assertion();
    credential.raw_id[0] ^= 1;
    let verdict = rig.compare("other credential ID", &state, &credential);
    assert!(verdict.is_err_and(|e| e.contains("CredentialNotFound")));
}

#[test]
fn a_backup_eligible_passkey_is_checked_alike() {
    let mut rig = Rig::new();
    let mut stored: Credential = rig.passkey.clone().into();
    stored.backup_eligible = true;
    rig.passkey = stored.into();
    for (what, flags, ok) in [
        ("BE missing", 0x00, false),
        ("BE, not backed up", 0x08, true),
        ("BE and BS", 0x18, true),
        ("BE and BS again", 0x18, true),
        ("BE, backup gone", 0x08, true),
    ] {
        let (options, state) = rig.webauthn.start_discoverable_authentication().unwrap();
        rig.key.counter += 1;
        let credential = sign_with_flags(&mut rig.key, &options.public_key.challenge, flags);
        let verdict = rig.compare(what, &state, &credential);
        assert_eq!(verdict.is_ok(), ok, "{what}: {verdict:?}");
    }
}

/// A signed assertion for `challenge` whose authenticator data carries `extra` flags.
fn sign_with_flags(key: &mut SoftCredential, challenge: &[u8], extra: u8) -> PublicKeyCredential {
    key.extra_flags = extra;
    let credential = key.sign_assertion(challenge).unwrap();
    key.extra_flags = 0;
    credential
}

#[test]
fn random_mutations_get_the_same_verdict() {
    let mut rig = Rig::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261207);
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..1500 {
        let (state, mut credential) = rig.assertion();
        let field = match rng.gen_range(0..3) {
            0 => &mut credential.response.authenticator_data,
            1 => &mut credential.response.client_data_json,
            _ => &mut credential.response.signature,
        };
        // Most rounds change one byte; every tenth leaves the assertion valid.
        if round % 10 != 0 && !field.is_empty() {
            let i = rng.gen_range(0..field.len());
            field[i] ^= 1 << rng.gen_range(0..8);
        }
        match rig.compare(&format!("round {round}"), &state, &credential) {
            Ok(_) => accepted += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(accepted >= 150, "{accepted} valid rounds accepted");
    assert!(refused >= 1000, "{refused} mutated rounds refused");
}
