//! End-to-end: the real app window (WebKitGTK, under Xvfb) driven through tauri-driver and
//! WebKitWebDriver against a `palmkey serve --sensor sim` simulator. An administrator sets the
//! PIN, enrolls a synthetic person under a member ID, sees them listed, renames and removes
//! them. A screenshot of every screen is saved to tests/artifacts/.
//!
//! Needs a display, `tauri-driver` and the two binaries: run it with `tests/e2e.sh`, which
//! provides all of that (`#[ignore]` keeps it out of a plain `cargo test`).
//! Environment: `PALMKEY_BIN` (palmkey), `PALMKEY_DESKTOP_BIN` (the app), `TAURI_DRIVER`.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use palmkey::client::simulator::Simulator;
use serde_json::{json, Value};

const DRIVER: &str = "http://127.0.0.1:4444";
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const PIN: &str = "81726354";

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// tauri-driver in its own process group, killed with its WebKitWebDriver on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// A minimal W3C WebDriver client (JSON over HTTP).
struct Session {
    agent: ureq::Agent,
    base: String,
}

impl Session {
    fn request(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Value {
        let response = match (method, body) {
            ("GET", _) => agent.get(url).call(),
            ("DELETE", _) => agent.delete(url).call(),
            (_, body) => agent
                .post(url)
                .header("content-type", "application/json")
                .send(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status();
        let text = response.body_mut().read_to_string().unwrap();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {url}: {status} {text}");
        value["value"].clone()
    }

    fn start(app: &Path) -> Session {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": app.to_str().unwrap()}
        }}});
        // WebKitWebDriver can drop the very first connection while it starts: retry briefly.
        let mut attempt = 0;
        let value = loop {
            attempt += 1;
            let response = agent
                .post(format!("{DRIVER}/session"))
                .header("content-type", "application/json")
                .send(caps.to_string());
            match response {
                Ok(mut r) if r.status().is_success() => {
                    let text = r.body_mut().read_to_string().unwrap();
                    break serde_json::from_str::<Value>(&text).unwrap()["value"].clone();
                }
                other if attempt < 5 => {
                    eprintln!(
                        "new session, attempt {attempt}: {:?}",
                        other.map(|r| r.status())
                    );
                    std::thread::sleep(Duration::from_secs(2));
                }
                other => panic!("new session: {:?}", other.map(|r| r.status())),
            }
        };
        let id = value["sessionId"]
            .as_str()
            .expect("a session ID")
            .to_owned();
        Session {
            agent,
            base: format!("{DRIVER}/session/{id}"),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        Self::request(&self.agent, method, &format!("{}{path}", self.base), body)
    }

    fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    fn find(&self, css: &str) -> String {
        let v = self.wait_for(&format!("element {css}"), || {
            self.js(
                "const e = document.querySelector(arguments[0]); return e && e.offsetParent !== null;",
                json!([css]),
            )
            .as_bool()
            .unwrap_or(false)
        });
        let _ = v;
        let e = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        e[ELEMENT_KEY].as_str().unwrap().to_owned()
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{e}/click"), None);
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{e}/clear"), None);
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        );
    }

    fn text(&self, css: &str) -> String {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    fn wait_for(&self, what: &str, mut ok: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.screenshot("zz-timeout");
        panic!("timed out waiting for {what}");
    }

    fn wait_text(&self, css: &str, needle: &str) {
        self.wait_for(&format!("{css} to contain {needle:?}"), || {
            self.text(css).contains(needle)
        });
    }

    /// The whole X screen, with ImageMagick's `import` (WebKitWebDriver's own screenshot
    /// command hangs under Xvfb without GPU compositing).
    fn screenshot(&self, name: &str) -> PathBuf {
        // Let transitions settle so the picture shows the finished screen.
        std::thread::sleep(Duration::from_millis(500));
        let path = artifacts().join(format!("{name}.png"));
        let status = Command::new("import")
            .args(["-window", "root", "-crop", "1200x800+0+0", "+repage"])
            .arg(&path)
            .status()
            .expect("ImageMagick import");
        assert!(status.success(), "import failed for {name}");
        eprintln!("screenshot {}", path.display());
        path
    }

    fn nav(&self, screen: &str) {
        self.click(&format!("#nav button[data-screen='{screen}']"));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.base).call();
    }
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "tauri-driver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs a display, tauri-driver and WebKitWebDriver: run tests/e2e.sh"]
fn administrator_sets_pin_enrolls_renames_and_removes_a_person() {
    let work = tempfile::tempdir().unwrap();
    let palmkey_bin = env_path("PALMKEY_BIN", "../target/debug/palmkey");
    let app_bin = env_path("PALMKEY_DESKTOP_BIN", "../target/debug/palmkey-desktop");
    let key_file = work.path().join("master.key");
    let sim = Simulator::start(
        &palmkey_bin,
        &work.path().join("state"),
        &["--sensor", "sim", "--key-file", key_file.to_str().unwrap()],
    )
    .expect("palmkey serve --sensor sim");
    let data = work.path().join("app-data");
    let driver = Command::new(env_path("TAURI_DRIVER", "tauri-driver"))
        .env("PALMKEY_DESKTOP_DATA", &data)
        .env("PALMKEY_DESKTOP_SIMULATORS", sim.addr().to_string())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(artifacts().join("tauri-driver.log")).unwrap())
        .process_group(0)
        .spawn()
        .expect("tauri-driver");
    let _driver = Driver(driver);
    wait_port(4444);
    let s = Session::start(&std::fs::canonicalize(&app_bin).unwrap());
    let device = format!("udp:{}", sim.addr());

    // Device discovery and connection.
    s.find(&format!("button[data-device='{device}']"));
    s.screenshot("01-devices");
    s.click(&format!("button[data-device='{device}']"));
    // A fresh authenticator has no PIN: the app goes to the PIN screen.
    s.wait_text("#lock-text", "No PIN set yet");
    s.wait_for("the PIN screen", || {
        s.js(
            "return !document.getElementById('screen-security').hidden;",
            json!([]),
        )
        .as_bool()
        .unwrap_or(false)
    });
    s.nav("device");
    s.wait_text("#info-facts", "FIDO_2_1");
    s.screenshot("02-device-info");

    // Set the terminal PIN.
    s.nav("security");
    s.type_into("#new-pin", PIN);
    s.type_into("#new-pin2", PIN);
    s.click("#pin-submit");
    s.wait_text("#lock-text", "Unlocked");
    s.wait_text("#pin-submit", "Change PIN");
    s.screenshot("03-pin-and-lock");

    // Enroll synthetic person 7 as member M-1001 (the simulator's hand set from the app).
    s.nav("enroll");
    s.type_into("#sim-identity", "7");
    s.click("#sim-present");
    s.wait_text("#sim-state", "person #7");
    s.type_into("#member-id", "M-1001\u{E007}");
    s.wait_text("#enroll-count", "enrolled as M-1001");
    let shot = s.screenshot("04-enroll");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/images");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::copy(&shot, docs.join("desktop-enroll.png")).unwrap();

    // The same member ID (any case) is refused.
    s.click("#enroll-again");
    s.type_into("#member-id", "m-1001\u{E007}");
    s.wait_text("#toasts", "already enrolled");
    s.screenshot("05-enroll-duplicate-refused");

    // Listed, renamed, removed.
    s.nav("people");
    s.find("tr[data-member='M-1001']");
    assert_eq!(s.text("#people-count"), "1");
    s.screenshot("06-people");
    s.click("button[aria-label='Rename M-1001']");
    s.type_into("#rename-input", "M-2002");
    s.screenshot("07-rename");
    s.click("#dialog-ok");
    s.find("tr[data-member='M-2002']");
    s.click("button[aria-label='Remove M-2002']");
    s.wait_text("#dialog-body", "no longer verify");
    s.screenshot("08-remove-warning");
    s.click("#dialog-ok");
    s.wait_for("the person to be gone", || s.text("#people-count") == "0");

    s.nav("credentials");
    s.wait_for("the passkeys screen", || {
        !s.text("#rp-empty").is_empty() || !s.text("#rp-list").is_empty()
    });
    s.screenshot("09-passkeys");
    s.nav("audit");
    s.wait_text("#audit-body", "enrollment.removed");
    s.screenshot("10-audit-log");
    s.nav("reset");
    s.screenshot("11-reset");
    s.click("#lock-btn");
    s.find("#unlock-pin");
    s.screenshot("12-locked");

    // The audit file has the whole story as CloudEvents, and no PIN.
    let log = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    let types: Vec<String> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for t in [
        "pin.set",
        "simulator.hand",
        "enrollment.completed",
        "enrollment.renamed",
        "enrollment.removed",
        "session.locked",
    ] {
        assert!(
            types.iter().any(|x| x.ends_with(t)),
            "{t} missing in {types:?}"
        );
    }
    assert!(!log.contains(PIN));
    // The enrollment record followed the rename and went with the removal.
    let records = std::fs::read_to_string(data.join("enrollments.json")).unwrap();
    assert!(
        !records.contains("M-1001") && !records.contains("M-2002"),
        "{records}"
    );
}
