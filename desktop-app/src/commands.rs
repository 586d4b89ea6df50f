//! The Tauri commands: one-line wrappers around [`Terminal`]. `async` keeps device I/O (a
//! capture can wait seconds for a hand) off the window's main thread.

use base64::Engine;
use tauri::{Runtime, State};

use crate::terminal::{
    AppError, AppResult, DeviceView, Discovery, EnrollProgress, PersonView, RpView, SessionView,
    Terminal,
};

type S<'a> = State<'a, Terminal>;

#[tauri::command(async)]
pub fn discover(t: S<'_>) -> AppResult<Discovery> {
    Ok(t.discover())
}

#[tauri::command(async)]
pub fn connect(t: S<'_>, id: String) -> AppResult<SessionView> {
    t.connect(&id)
}

#[tauri::command(async)]
pub fn disconnect(t: S<'_>) -> AppResult<SessionView> {
    Ok(t.disconnect())
}

#[tauri::command(async)]
pub fn device_info(t: S<'_>) -> AppResult<DeviceView> {
    t.device_info()
}

#[tauri::command(async)]
pub fn status(t: S<'_>) -> AppResult<SessionView> {
    Ok(t.status())
}

#[tauri::command(async)]
pub fn touch(t: S<'_>) -> AppResult<SessionView> {
    Ok(t.touch())
}

#[tauri::command(async)]
pub fn set_idle_timeout(t: S<'_>, secs: u64) -> AppResult<SessionView> {
    t.set_idle_timeout(secs)
}

#[tauri::command(async)]
pub fn lock(t: S<'_>) -> AppResult<SessionView> {
    Ok(t.lock())
}

#[tauri::command(async)]
pub fn set_pin(t: S<'_>, pin: String, remember: bool) -> AppResult<SessionView> {
    t.set_pin(&zeroize::Zeroizing::new(pin), remember)
}

#[tauri::command(async)]
pub fn change_pin(
    t: S<'_>,
    current: String,
    pin: String,
    remember: bool,
) -> AppResult<SessionView> {
    t.change_pin(
        &zeroize::Zeroizing::new(current),
        &zeroize::Zeroizing::new(pin),
        remember,
    )
}

#[tauri::command(async)]
pub fn unlock(t: S<'_>, pin: String, remember: bool) -> AppResult<SessionView> {
    t.unlock(&zeroize::Zeroizing::new(pin), remember)
}

#[tauri::command(async)]
pub fn forget_pin(t: S<'_>) -> AppResult<SessionView> {
    t.forget_pin()
}

#[tauri::command(async)]
pub fn people(t: S<'_>) -> AppResult<Vec<PersonView>> {
    t.people()
}

#[tauri::command(async)]
pub fn enroll_begin(t: S<'_>, member_id: String) -> AppResult<EnrollProgress> {
    t.enroll_begin(&member_id)
}

#[tauri::command(async)]
pub fn enroll_next(t: S<'_>) -> AppResult<EnrollProgress> {
    t.enroll_next()
}

#[tauri::command(async)]
pub fn enroll_cancel(t: S<'_>) -> AppResult<SessionView> {
    t.enroll_cancel()
}

#[tauri::command(async)]
pub fn rename_person(
    t: S<'_>,
    template_id: String,
    member_id: String,
) -> AppResult<Vec<PersonView>> {
    t.rename(&template_id, &member_id)
}

#[tauri::command(async)]
pub fn remove_person(t: S<'_>, template_id: String) -> AppResult<Vec<PersonView>> {
    t.remove_person(&template_id)
}

#[tauri::command(async)]
pub fn credentials(t: S<'_>) -> AppResult<Vec<RpView>> {
    t.credentials()
}

#[tauri::command(async)]
pub fn delete_credential(t: S<'_>, rp_id: String, credential_id: String) -> AppResult<Vec<RpView>> {
    t.delete_credential(&rp_id, &credential_id)
}

#[tauri::command(async)]
pub fn reset_device(t: S<'_>, confirmation: String) -> AppResult<SessionView> {
    t.reset(&confirmation)
}

#[tauri::command(async)]
pub fn audit_log(t: S<'_>, limit: usize) -> AppResult<Vec<serde_json::Value>> {
    t.audit_log(limit)
}

/// `image` is the file or camera frame, base64-encoded by the UI.
#[tauri::command(async)]
pub fn decode_qr(t: S<'_>, image: String) -> AppResult<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(image.trim())
        .map_err(|_| AppError::Qr("the image data is not base64".into()))?;
    t.decode_qr(&bytes)
}

#[tauri::command(async)]
pub fn simulate_hand(t: S<'_>, mode: String, identity: Option<u64>) -> AppResult<()> {
    t.simulate_hand(&mode, identity)
}

/// Every command, for the app and for the mock-runtime tests.
pub fn handler<R: Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        discover,
        connect,
        disconnect,
        device_info,
        status,
        touch,
        set_idle_timeout,
        lock,
        set_pin,
        change_pin,
        unlock,
        forget_pin,
        people,
        enroll_begin,
        enroll_next,
        enroll_cancel,
        rename_person,
        remove_person,
        credentials,
        delete_credential,
        reset_device,
        audit_log,
        decode_qr,
        simulate_hand
    ]
}

/// The commands through Tauri's mock runtime: argument names and JSON shapes as the UI sends
/// and receives them, errors as `{code, message, ctapStatus}`.
#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{json, Value};
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime};
    use tauri::webview::InvokeRequest;
    use tauri::WebviewWindow;

    use super::*;
    use crate::terminal::member_id::tests::qr_png;
    use crate::terminal::tests::{terminal, Device};

    struct Ui {
        _app: tauri::App<MockRuntime>,
        window: WebviewWindow<MockRuntime>,
    }

    impl Ui {
        fn new(t: Terminal) -> Ui {
            let app = mock_builder()
                .manage(t)
                .invoke_handler(handler())
                .build(mock_context(noop_assets()))
                .unwrap();
            let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
                .build()
                .unwrap();
            Ui { _app: app, window }
        }

        fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
            get_ipc_response(
                &self.window,
                InvokeRequest {
                    cmd: cmd.into(),
                    callback: CallbackFn(0),
                    error: CallbackFn(1),
                    url: "tauri://localhost".parse().unwrap(),
                    body: InvokeBody::Json(args),
                    headers: Default::default(),
                    invoke_key: tauri::test::INVOKE_KEY.into(),
                },
            )
            .map(|body| body.deserialize::<Value>().unwrap())
        }

        fn ok(&self, cmd: &str, args: Value) -> Value {
            self.invoke(cmd, args)
                .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
        }

        fn err(&self, cmd: &str, args: Value) -> Value {
            self.invoke(cmd, args)
                .err()
                .unwrap_or_else(|| panic!("{cmd} should fail"))
        }
    }

    #[test]
    fn pin_lock_and_reset_through_ipc() {
        let dev = Device::start();
        let dir = tempfile::TempDir::new().unwrap();
        let ui = Ui::new(terminal(&dir, Duration::from_secs(600)));
        assert_eq!(ui.ok("status", json!({}))["connected"], false);
        assert_eq!(ui.err("device_info", json!({}))["code"], "not-connected");

        let s = ui.ok("connect", json!({ "id": dev.id() }));
        assert_eq!(s["connected"], true);
        assert_eq!(s["simulator"], true);
        assert_eq!(s["vault"], "mock keyring");
        let info = ui.ok("device_info", json!({}));
        assert_eq!(info["pinSet"], false);
        assert!(info["aaguid"].as_str().unwrap().contains('-'));

        let s = ui.ok("set_pin", json!({ "pin": "97531864", "remember": true }));
        assert_eq!(
            (s["unlocked"].clone(), s["pinRemembered"].clone()),
            (json!(true), json!(true))
        );
        assert_eq!(ui.ok("credentials", json!({})), json!([]));
        assert_eq!(
            ui.err("enroll_begin", json!({ "memberId": "\t" }))["code"],
            "invalid-member-id"
        );

        assert_eq!(ui.ok("lock", json!({}))["unlocked"], false);
        assert_eq!(ui.err("people", json!({}))["code"], "locked");
        let wrong = ui.err("unlock", json!({ "pin": "00000000", "remember": false }));
        assert_eq!(wrong["code"], "device");
        assert_eq!(wrong["ctapStatus"], 0x31, "CTAP2_ERR_PIN_INVALID");
        let s = ui.ok(
            "change_pin",
            json!({ "current": "97531864", "pin": "86421357", "remember": false }),
        );
        assert_eq!(s["unlocked"], true);
        assert_eq!(s["pinRemembered"], false);
        assert_eq!(
            ui.err("set_idle_timeout", json!({ "secs": 1 }))["code"],
            "invalid"
        );

        assert_eq!(
            ui.err("reset_device", json!({ "confirmation": "yes" }))["code"],
            "invalid"
        );
        let s = ui.ok("reset_device", json!({ "confirmation": "RESET" }));
        assert_eq!(s["pinSet"], false);
        let log = ui.ok("audit_log", json!({ "limit": 3 }));
        assert_eq!(log[0]["type"], "dev.palmkey.desktop.device.reset");
        assert_eq!(ui.ok("disconnect", json!({}))["connected"], false);
    }

    #[test]
    fn qr_codes_and_bad_input_through_ipc() {
        use base64::Engine;
        let dir = tempfile::TempDir::new().unwrap();
        let ui = Ui::new(terminal(&dir, Duration::from_secs(600)));
        let image = base64::engine::general_purpose::STANDARD.encode(qr_png("M-77"));
        assert_eq!(ui.ok("decode_qr", json!({ "image": image })), "M-77");
        assert_eq!(ui.err("decode_qr", json!({ "image": "%%%" }))["code"], "qr");
        assert_eq!(
            ui.err("connect", json!({ "id": "bluetooth:1" }))["code"],
            "invalid"
        );
        assert_eq!(
            ui.err(
                "simulate_hand",
                json!({ "mode": "synthetic", "identity": 3 })
            )["code"],
            "not-connected"
        );
        let found = ui.ok("discover", json!({}));
        assert!(found["devices"].is_array());
    }
}
