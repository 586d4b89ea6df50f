//! End to end with palm UV: the real palmkey authenticator (simulated palm sensor, palm
//! built-in UV, bio enrollment) over CTAPHID/UDP, the web app over real HTTP, and palmkey's
//! CTAP client as the browser. The demo's scenario, and the shared-terminal rule: a palm
//! never opens another person's account.

use std::net::SocketAddr;
use std::sync::Arc;

use palmkey::client::SimulatedHand;
use palmkey::sensor::sim::SimConfig;
use relying_party_demo::browser::{Browser, UserVerification};
use relying_party_demo::demo::web::Tab;
use relying_party_demo::demo::{cast, enroll, Report, Scenario};
use relying_party_demo::terminal::Terminal;
use relying_party_demo::{router, AppState, Config, SqliteStore, SystemClock};
use serde_json::json;
use tempfile::TempDir;

const ADMIN_PIN: &str = "135790";

struct Rig {
    terminal: Terminal,
    base: String,
    origin: String,
    _dir: TempDir,
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    let terminal = Terminal::start_palm(
        &state_dir,
        &dir.path().join("master.key"),
        SimConfig::default(),
    )
    .expect("palm terminal");
    let config = Config::default();
    let origin = config.origin.origin().ascii_serialization();
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let app = AppState::new(config, store, Arc::new(SystemClock)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router(app).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Rig {
        terminal,
        base,
        origin,
        _dir: dir,
    }
}

fn row<'a>(report: &'a Report, who: &str, step: &str) -> &'a relying_party_demo::demo::Step {
    report
        .steps
        .iter()
        .find(|s| s.who == who && s.step.starts_with(step))
        .unwrap_or_else(|| panic!("no row {who} / {step}:\n{}", report.table()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_story_runs_end_to_end_by_palm() {
    let rig = rig().await;
    let report = tokio::task::spawn_blocking(move || {
        let scenario = Scenario {
            terminal: &rig.terminal,
            base: rig.base.clone(),
            origin: rig.origin.clone(),
            admin_pin: ADMIN_PIN.into(),
            first_member_no: 1001,
        };
        scenario.run(&cast())
    })
    .await
    .unwrap()
    .expect("scenario");
    assert!(report.all_as_expected(), "\n{}", report.table());
    for who in ["Ada", "Bea", "Chen"] {
        for step in [
            "enroll palm",
            "register passkey by palm",
            "usernameless palm sign-in",
            "in-store purchase by palm",
        ] {
            assert!(row(&report, who, step).as_expected, "{who} {step}");
        }
    }
    let other = row(&report, "Bea", "sign in as Ada");
    assert!(other.outcome.contains("NoCredentials"), "{}", other.outcome);
    assert!(row(&report, "stranger", "palm sign-in")
        .outcome
        .contains("refused"));
    assert!(row(&report, "attacker", "photo")
        .outcome
        .contains("refused"));
}

/// Two people on one terminal: each palm signs in to its own account only, with no account
/// picker; asked for the other person's passkey, the terminal has nothing to offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_cannot_sign_in_to_another_persons_account_by_palm() {
    let rig = rig().await;
    tokio::task::spawn_blocking(move || {
        let people = cast();
        let (ada, bea) = (&people[0], &people[1]);
        let mut admin = rig.terminal.client().unwrap();
        let protocol = admin.preferred_protocol().unwrap();
        admin.set_pin(protocol, ADMIN_PIN).unwrap();
        enroll(&mut admin, ADMIN_PIN, ada, "M-1001").unwrap();
        enroll(&mut admin, ADMIN_PIN, bea, "M-1002").unwrap();
        let mut browser = Browser::new(
            rig.terminal.client().unwrap(),
            rig.origin.clone(),
            UserVerification::BuiltIn,
        );
        let palm = |browser: &mut Browser<_>, identity| {
            browser
                .client_mut()
                .set_simulated_hand(&SimulatedHand::Synthetic { identity })
                .unwrap()
        };

        // Both register (the palm decides whose credential it becomes).
        let mut ada_credential = Vec::new();
        for person in [ada, bea] {
            palm(&mut browser, person.identity);
            let mut tab = Tab::new(&rig.base);
            tab.get("/register").unwrap();
            let start = tab
                .post_json("/register/start", &json!({ "display_name": person.name }))
                .unwrap();
            let created = browser
                .create(&serde_json::from_str(&start.body).unwrap())
                .unwrap();
            if person.name == ada.name {
                ada_credential = created.raw_id.to_vec();
            }
            tab.post_json("/register/finish", &created).unwrap();
        }

        // Bea's palm, usernameless: Bea's account, never Ada's.
        palm(&mut browser, bea.identity);
        let mut tab = Tab::new(&rig.base);
        tab.get("/login").unwrap();
        let start = tab.post_json("/login/start", &json!({})).unwrap();
        let assertion = browser
            .get(&serde_json::from_str(&start.body).unwrap())
            .unwrap();
        assert_ne!(assertion.raw_id.to_vec(), ada_credential);
        tab.post_json("/login/finish", &assertion).unwrap();
        let page = tab.get("/account").unwrap();
        assert_eq!(page.text_of("account-name").as_deref(), Some("Bea"));

        // Asked for Ada's passkey by ID, Bea's palm gets nothing from the terminal.
        let mut tab = Tab::new(&rig.base);
        tab.get("/login").unwrap();
        let start = tab.post_json("/login/start", &json!({})).unwrap();
        let mut options: serde_json::Value = serde_json::from_str(&start.body).unwrap();
        options["publicKey"]["allowCredentials"] = json!([{
            "type": "public-key",
            "id": base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                &ada_credential
            ),
        }]);
        let refused = browser
            .get(&serde_json::from_value(options).unwrap())
            .expect_err("Bea's palm must not use Ada's passkey");
        assert!(refused.to_string().contains("NoCredentials"), "{refused}");
        // Ada's own palm, usernameless: her passkey answers.
        palm(&mut browser, ada.identity);
        let mut tab = Tab::new(&rig.base);
        tab.get("/login").unwrap();
        let start = tab.post_json("/login/start", &json!({})).unwrap();
        let assertion = browser
            .get(&serde_json::from_str(&start.body).unwrap())
            .unwrap();
        assert_eq!(assertion.raw_id.to_vec(), ada_credential);
        tab.post_json("/login/finish", &assertion).unwrap();
        let page = tab.get("/account").unwrap();
        assert_eq!(page.text_of("account-name").as_deref(), Some("Ada"));
    })
    .await
    .unwrap();
}
