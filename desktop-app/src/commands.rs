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
