//! Shared set-up for the integration tests: a real `palmkey serve` on a free UDP port and a
//! temporary state folder, driven through `palmkey::client`.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;

use palmkey::client::transport::CtapHid;
use palmkey::client::{
    AttestationKind, Client, GetAssertionRequest, MakeCredentialRequest, MakeCredentialResponse,
    Permission, PinProtocol, PinUvAuthToken, RelyingParty, Simulator, User,
};
use rand::RngCore;
use tempfile::TempDir;

pub const PIN: &str = "4821";

/// A simulator on its own fresh state folder (removed on drop, after the process).
pub struct Device {
    pub sim: Simulator,
    pub dir: TempDir,
}

impl Device {
    pub fn client(&self) -> Client<CtapHid> {
        self.sim.client().expect("connect to palmkey serve")
    }
}

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_palmkey"))
}

/// Start `palmkey serve` on a new, empty state folder: a factory-fresh device.
pub fn fresh() -> Device {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = Simulator::start(binary(), dir.path(), &[]).expect("start palmkey serve");
    Device { sim, dir }
}

/// Start `palmkey serve` on an existing state folder.
pub fn start_in(state: &Path) -> Simulator {
    Simulator::start(binary(), state, &[]).expect("start palmkey serve")
}

pub fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

pub fn request(rp_id: &str, user: &str, rk: bool) -> MakeCredentialRequest {
    let mut req = MakeCredentialRequest::new(
        random32(),
        RelyingParty {
            id: rp_id.to_owned(),
            name: Some("Test RP".into()),
        },
        User::named(user.as_bytes().to_vec(), user, user),
    );
    req.resident_key = rk;
    req
}

/// makeCredential and check what a relying party checks (packed self attestation).
pub fn make_verified<T: palmkey::client::CtapTransport>(
    client: &mut Client<T>,
    req: &MakeCredentialRequest,
) -> MakeCredentialResponse {
    let resp = client.make_credential(req).expect("makeCredential");
    let kind = resp
        .verify(&req.rp.id, &req.client_data_hash)
        .expect("attestation verifies");
    assert_eq!(kind, AttestationKind::SelfAttestation);
    resp
}

pub fn assertion_request(rp_id: &str, credential_id: &[u8]) -> GetAssertionRequest {
    GetAssertionRequest::new(rp_id, random32()).allow([credential_id.to_vec()])
}

pub fn token<T: palmkey::client::CtapTransport>(
    client: &mut Client<T>,
    protocol: PinProtocol,
    permissions: Permission,
    rp_id: Option<&str>,
) -> PinUvAuthToken {
    client
        .get_pin_uv_auth_token(protocol, PIN, permissions, rp_id)
        .expect("getPinUvAuthTokenUsingPinWithPermission")
}
