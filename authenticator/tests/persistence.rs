//! State survives a power loss: credentials, PIN and signature counters.

mod common;

use common::*;
use palmkey::client::{GetAssertionRequest, PinProtocol};

#[test]
fn credentials_pin_and_counters_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = start_in(dir.path());
    let mut client = sim.client().unwrap();
    let rk = make_verified(&mut client, &request("persist.example", "rk-user", true));
    let nonrk = make_verified(&mut client, &request("persist.example", "plain", false));
    client.set_pin(PinProtocol::Two, PIN).unwrap();
    let mut counters = [rk.auth_data.sign_count, nonrk.auth_data.sign_count];

    for restart in 0..3 {
        // discoverable credential, found without an allow list (credProtect 1)
        let req = GetAssertionRequest::new("persist.example", random32());
        let a = client.get_assertion(&req).unwrap();
        assert_eq!(a.credential.id, rk.credential().credential_id);
        a.verify(
            &rk.credential().public_key,
            "persist.example",
            &req.client_data_hash,
        )
        .unwrap();
        assert!(a.auth_data.sign_count > counters[0], "restart {restart}");
        counters[0] = a.auth_data.sign_count;

        let req = assertion_request("persist.example", &nonrk.credential().credential_id);
        let a = client.get_assertion(&req).unwrap();
        a.verify(
            &nonrk.credential().public_key,
            "persist.example",
            &req.client_data_hash,
        )
        .unwrap();
        assert!(a.auth_data.sign_count > counters[1], "restart {restart}");
        counters[1] = a.auth_data.sign_count;

        // power loss: SIGKILL, then start again on the same state
        sim.kill();
        sim = start_in(dir.path());
        client = sim.client().unwrap();
        assert!(client.get_info().unwrap().pin_is_set(), "PIN survives");
        assert_eq!(client.pin_retries().unwrap().retries, 8);
    }
}
