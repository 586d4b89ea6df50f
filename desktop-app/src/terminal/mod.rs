//! The command layer: everything the app does, as plain Rust with no window. The Tauri
//! commands in [`crate::commands`] are one-line wrappers around [`Terminal`]'s methods.
//!
//! Shared-terminal care lives here: the administrator's pinUvAuthToken is held only while the
//! terminal is unlocked and is dropped after [`TerminalConfig::idle_timeout`] without activity;
//! every admin action is appended to the audit log; no biometric image ever reaches this side
//! (the authenticator captures and keeps templates itself).

mod audit;
mod device;
mod enroll;
mod error;
mod fsutil;
pub(crate) mod member_id;
mod pin_vault;
mod roster;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use palmkey::client::transport::CancelToken;
use palmkey::client::{Permission, PinProtocol, PinUvAuthToken, SimulatedHand};
use palmkey::ctap::CtapError;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

pub use audit::{AdminAction, AuditLog, TYPE_PREFIX};
pub use device::{discover, Connection, DeviceAddress, Discovery, FoundDevice};
pub use enroll::{guidance, EnrollProgress, EnrollState, PendingEnrollment};
pub use error::{AppError, AppResult};
pub use member_id::{decode_qr, MemberId};
pub use pin_vault::PinVault;
pub use roster::{EnrollmentRecord, Roster};
pub use views::{CredentialView, DeviceView, OptionView, PersonView, RpView, SessionView};

/// How long one enrollment capture may wait for a hand.
const CAPTURE_TIMEOUT: Duration = Duration::from_secs(15);

/// What the typed reset confirmation must say.
pub const RESET_CONFIRMATION: &str = "RESET";

/// Where the app keeps its files and which simulators it looks for.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// The audit log, the enrollment records and (without a keyring) the PIN file.
    pub data_dir: PathBuf,
    /// Simulator addresses probed by discovery.
    pub simulators: Vec<SocketAddr>,
    pub idle_timeout: Duration,
}

impl TerminalConfig {
    pub fn new(data_dir: PathBuf) -> Self {
        TerminalConfig {
            data_dir,
            simulators: vec![SocketAddr::from(([127, 0, 0, 1], 8111))],
            idle_timeout: Duration::from_secs(5 * 60),
        }
    }
}

/// The administrator's session: a token while unlocked, and the activity clock.
#[derive(Debug)]
struct Session {
    token: Option<PinUvAuthToken>,
    last_activity: Instant,
    idle_timeout: Duration,
}

/// The administration of one shared terminal's authenticator.
#[derive(Debug)]
pub struct Terminal {
    config: TerminalConfig,
    // Lock order: conn, then session, then enrollment, then roster.
    conn: Mutex<Option<Connection>>,
    session: Mutex<Session>,
    enrollment: Mutex<Option<PendingEnrollment>>,
    /// The connection's cancel handle, reachable while a capture holds `conn`.
    cancel: Mutex<Option<CancelToken>>,
    capturing: AtomicBool,
    vault: PinVault,
    roster: Mutex<Roster>,
    audit: AuditLog,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("UTC time formats")
}

impl Terminal {
    /// Open the terminal's files; the PIN vault is the OS keyring when usable.
    pub fn open(config: TerminalConfig) -> AppResult<Terminal> {
        let vault = PinVault::open(&config.data_dir);
        Self::with_vault(config, vault)
    }

    pub fn with_vault(config: TerminalConfig, vault: PinVault) -> AppResult<Terminal> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| AppError::io(format!("creating {}", config.data_dir.display()), e))?;
        let roster = Roster::open(config.data_dir.join("enrollments.json"))?;
        let audit = AuditLog::new(config.data_dir.join("audit.jsonl"));
        Ok(Terminal {
            session: Mutex::new(Session {
                token: None,
                last_activity: Instant::now(),
                idle_timeout: config.idle_timeout,
            }),
            config,
            conn: Mutex::new(None),
            enrollment: Mutex::new(None),
            cancel: Mutex::new(None),
            capturing: AtomicBool::new(false),
            vault,
            roster: Mutex::new(roster),
            audit,
        })
    }

    fn audit(&self, action: AdminAction) {
        if let Err(error) = self.audit.record(&action) {
            // An audit failure must be visible, but must not undo what was done.
            tracing::error!(%error, "audit log");
        }
    }

    // ---- device ----

    pub fn discover(&self) -> Discovery {
        discover(&self.config.simulators)
    }

    /// Open an authenticator by discovery ID; the terminal starts locked.
    pub fn connect(&self, id: &str) -> AppResult<SessionView> {
        let address = DeviceAddress::parse(id)?;
        let conn = Connection::open(address)?;
        *lock(&self.cancel) = Some(conn.cancel.clone());
        *lock(&self.conn) = Some(conn);
        lock(&self.session).token = None;
        *lock(&self.enrollment) = None;
        self.audit(AdminAction::DeviceConnected { device: id.into() });
        Ok(self.status())
    }

    pub fn disconnect(&self) -> SessionView {
        *lock(&self.conn) = None;
        *lock(&self.cancel) = None;
        lock(&self.session).token = None;
        *lock(&self.enrollment) = None;
        self.status()
    }

    /// getInfo (fresh) and the PIN / UV retry counters.
    pub fn device_info(&self) -> AppResult<DeviceView> {
        let mut guard = lock(&self.conn);
        let conn = guard.as_mut().ok_or(AppError::NotConnected)?;
        conn.refresh_info()?;
        let pin_retries = match conn.info.pin_is_set() {
            true => conn.client.pin_retries().ok().map(|r| r.retries),
            false => None,
        };
        let uv_retries = match conn.info.option("uv") {
            Some(_) => conn.client.uv_retries().ok(),
            None => None,
        };
        Ok(DeviceView::new(
            conn.address.id(),
            conn.address.is_simulator(),
            &conn.info,
            pin_retries,
            uv_retries,
        ))
    }

    /// The session as the UI shows it; also where an idle session is locked.
    pub fn status(&self) -> SessionView {
        let conn = lock(&self.conn);
        let mut session = lock(&self.session);
        self.expire_if_idle(&mut session);
        let key = conn.as_ref().map(Connection::device_key);
        SessionView {
            connected: conn.is_some(),
            device_id: conn.as_ref().map(|c| c.address.id()),
            simulator: conn.as_ref().is_some_and(|c| c.address.is_simulator()),
            pin_set: conn.as_ref().is_some_and(|c| c.info.pin_is_set()),
            unlocked: session.token.is_some(),
            pin_remembered: key
                .and_then(|k| self.vault.load(&k).ok().flatten())
                .is_some(),
            vault: self.vault.describe(),
            vault_is_keyring: self.vault.is_keyring(),
            idle_timeout_secs: session.idle_timeout.as_secs(),
            bio_enrollment: conn.as_ref().is_some_and(Connection::has_bio),
            enrollment_in_progress: lock(&self.enrollment).is_some(),
            audit_log: self.audit.path().display().to_string(),
        }
    }

    /// The administrator did something in the window: restart the idle clock (unless the
    /// session already expired).
    pub fn touch(&self) -> SessionView {
        {
            let mut session = lock(&self.session);
            self.expire_if_idle(&mut session);
            session.last_activity = Instant::now();
        }
        self.status()
    }

    pub fn set_idle_timeout(&self, secs: u64) -> AppResult<SessionView> {
        if !(15..=3600).contains(&secs) {
            return Err(AppError::Invalid(
                "the idle lock must be between 15 seconds and 1 hour".into(),
            ));
        }
        lock(&self.session).idle_timeout = Duration::from_secs(secs);
        Ok(self.touch())
    }

    fn expire_if_idle(&self, session: &mut Session) {
        if session.token.is_some() && session.last_activity.elapsed() >= session.idle_timeout {
            session.token = None;
            self.audit(AdminAction::Locked { reason: "idle" });
        }
    }

    /// Lock now: the token is dropped (and wiped).
    pub fn lock(&self) -> SessionView {
        if lock(&self.session).token.take().is_some() {
            self.audit(AdminAction::Locked {
                reason: "administrator",
            });
        }
        self.status()
    }

    // ---- PIN and session ----

    fn new_token(conn: &mut Connection, pin: &str) -> AppResult<PinUvAuthToken> {
        let protocol = conn
            .info
            .preferred_pin_protocol()
            .and_then(|p| PinProtocol::try_from(p).ok())
            .ok_or(AppError::Unsupported(
                "a PIN/UV auth protocol this app speaks",
            ))?;
        let mut permissions = Permission::NONE;
        if conn.info.option("credMgmt").is_some() {
            permissions = Permission::from_bits(permissions.bits() | Permission::CM.bits());
        }
        if conn.has_bio() {
            permissions = Permission::from_bits(permissions.bits() | Permission::BE.bits());
        }
        Ok(if permissions.is_empty() {
            conn.client.get_pin_token(protocol, pin)?
        } else {
            conn.client
                .get_pin_uv_auth_token(protocol, pin, permissions, None)?
        })
    }

    /// After a PIN proved itself: unlock, and remember or forget it as asked.
    fn start_session(&self, conn: &mut Connection, pin: &str, remember: bool) -> AppResult<()> {
        let token = Self::new_token(conn, pin)?;
        {
            let mut session = lock(&self.session);
            session.token = Some(token);
            session.last_activity = Instant::now();
        }
        let key = conn.device_key();
        match remember {
            true => self.vault.save(&key, pin),
            false => self.vault.forget(&key),
        }
    }

    pub fn set_pin(&self, new_pin: &str, remember: bool) -> AppResult<SessionView> {
        let new_pin = Zeroizing::new(new_pin.to_owned());
        {
            let mut guard = lock(&self.conn);
            let conn = guard.as_mut().ok_or(AppError::NotConnected)?;
            if conn.info.pin_is_set() {
                return Err(AppError::Invalid(
                    "a PIN is already set: change it instead".into(),
                ));
            }
            let protocol = Self::protocol(conn)?;
            conn.client.set_pin(protocol, &new_pin)?;
            conn.refresh_info()?;
            self.audit(AdminAction::PinSet);
            self.start_session(conn, &new_pin, remember)?;
        }
        Ok(self.status())
    }

    pub fn change_pin(
        &self,
        current_pin: &str,
        new_pin: &str,
        remember: bool,
    ) -> AppResult<SessionView> {
        let (current_pin, new_pin) = (
            Zeroizing::new(current_pin.to_owned()),
            Zeroizing::new(new_pin.to_owned()),
        );
        {
            let mut guard = lock(&self.conn);
            let conn = guard.as_mut().ok_or(AppError::NotConnected)?;
            let protocol = Self::protocol(conn)?;
            conn.client.change_pin(protocol, &current_pin, &new_pin)?;
            conn.refresh_info()?;
            self.audit(AdminAction::PinChanged);
            self.start_session(conn, &new_pin, remember)?;
        }
        Ok(self.status())
    }

    /// Unlock with the administrator PIN (typed: an idle lock is never undone from storage).
    pub fn unlock(&self, pin: &str, remember: bool) -> AppResult<SessionView> {
        let pin = Zeroizing::new(pin.to_owned());
        {
            let mut guard = lock(&self.conn);
            let conn = guard.as_mut().ok_or(AppError::NotConnected)?;
            if !conn.info.pin_is_set() {
                return Err(AppError::PinNotSet);
            }
            self.start_session(conn, &pin, remember)?;
            self.audit(AdminAction::Unlocked);
        }
        Ok(self.status())
    }

    pub fn forget_pin(&self) -> AppResult<SessionView> {
        if let Some(conn) = lock(&self.conn).as_ref() {
            self.vault.forget(&conn.device_key())?;
        }
        Ok(self.status())
    }

    fn protocol(conn: &Connection) -> AppResult<PinProtocol> {
        conn.info
            .preferred_pin_protocol()
            .and_then(|p| PinProtocol::try_from(p).ok())
            .ok_or(AppError::Unsupported(
                "a PIN/UV auth protocol this app speaks",
            ))
    }

    /// Run `op` with the admin token. Other platforms on the same authenticator (a browser
    /// doing palm UV) invalidate our token whenever they get one: then the remembered PIN, if
    /// any, renews it once; without one the terminal locks.
    fn with_admin<T>(
        &self,
        mut op: impl FnMut(&mut Connection, &PinUvAuthToken) -> AppResult<T>,
    ) -> AppResult<T> {
        let mut guard = lock(&self.conn);
        let conn = guard.as_mut().ok_or(AppError::NotConnected)?;
        let mut session = lock(&self.session);
        self.expire_if_idle(&mut session);
        let result = {
            let token = session.token.as_ref().ok_or(AppError::Locked)?;
            op(conn, token)
        };
        let result = match result {
            Err(e)
                if e.is_ctap(CtapError::PinAuthInvalid)
                    || e.is_ctap(CtapError::PinTokenExpired) =>
            {
                session.token = None;
                let Some(pin) = self.vault.load(&conn.device_key())? else {
                    self.audit(AdminAction::Locked {
                        reason: "token expired",
                    });
                    return Err(AppError::Locked);
                };
                let token = session.token.insert(Self::new_token(conn, &pin)?);
                op(conn, token)
            }
            other => other,
        };
        session.last_activity = Instant::now();
        result
    }

    // ---- people (bio enrollments) ----

    pub fn people(&self) -> AppResult<Vec<PersonView>> {
        let templates = self.with_admin(|conn, token| Ok(conn.bio()?.enumerate(token)?))?;
        let key = self.device_key()?;
        let roster = lock(&self.roster);
        let mut people: Vec<PersonView> = templates
            .into_iter()
            .map(|t| PersonView {
                enrolled_at: roster
                    .get(&key, &t.template_id)
                    .map(|r| r.enrolled_at.clone()),
                template_id: hex::encode(&t.template_id),
                member_id: t.friendly_name,
            })
            .collect();
        people.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        Ok(people)
    }

    fn device_key(&self) -> AppResult<String> {
        lock(&self.conn)
            .as_ref()
            .map(Connection::device_key)
            .ok_or(AppError::NotConnected)
    }

    /// Refuse a member ID some enrollment on the device already carries (ignoring case).
    fn ensure_unused(
        conn: &mut Connection,
        token: &PinUvAuthToken,
        member: &MemberId,
        except: Option<&[u8]>,
    ) -> AppResult<()> {
        let taken = conn.bio()?.enumerate(token)?.into_iter().any(|t| {
            Some(t.template_id.as_slice()) != except
                && t.friendly_name
                    .as_deref()
                    .is_some_and(|n| member.same_as(n))
        });
        match taken {
            true => Err(AppError::AlreadyEnrolled(member.to_string())),
            false => Ok(()),
        }
    }

    /// Start enrolling `member_id`: checks it is new, then captures the first sample.
    pub fn enroll_begin(&self, member_id: &str) -> AppResult<EnrollProgress> {
        let member = MemberId::parse(member_id)?;
        if lock(&self.enrollment).is_some() {
            return Err(AppError::EnrollmentInProgress);
        }
        self.capturing.store(true, Ordering::SeqCst);
        let started = self.with_admin(|conn, token| {
            Self::ensure_unused(conn, token, &member, None)?;
            Ok(conn.bio()?.enroll_begin(token, Some(CAPTURE_TIMEOUT))?)
        });
        self.capturing.store(false, Ordering::SeqCst);
        let started = started?;
        let mut pending = PendingEnrollment::new(member, started.template_id);
        let progress = pending.observe(started.feedback);
        *lock(&self.enrollment) = Some(pending);
        self.after_sample(progress)
    }

    /// Capture the next sample of the enrollment in progress.
    pub fn enroll_next(&self) -> AppResult<EnrollProgress> {
        let template_id = lock(&self.enrollment)
            .as_ref()
            .map(|p| p.template_id.clone())
            .ok_or(AppError::NoEnrollment)?;
        self.capturing.store(true, Ordering::SeqCst);
        let feedback = self.with_admin(|conn, token| {
            Ok(conn
                .bio()?
                .enroll_capture_next(token, &template_id, Some(CAPTURE_TIMEOUT))?)
        });
        self.capturing.store(false, Ordering::SeqCst);
        let cancelled = lock(&self.enrollment)
            .as_ref()
            .is_none_or(|p| p.cancel_requested);
        if cancelled
            || feedback
                .as_ref()
                .is_err_and(|e| e.is_ctap(CtapError::KeepaliveCancel))
        {
            self.abandon_enrollment(true);
            return Err(AppError::EnrollmentCancelled);
        }
        let feedback = match feedback {
            Ok(f) => f,
            Err(e) => {
                self.abandon_enrollment(false);
                return Err(e);
            }
        };
        let progress = {
            let mut guard = lock(&self.enrollment);
            let pending = guard.as_mut().ok_or(AppError::NoEnrollment)?;
            pending.observe(feedback)
        };
        self.after_sample(progress)
    }

    /// Finish or fail the enrollment once a sample says so.
    fn after_sample(&self, progress: EnrollProgress) -> AppResult<EnrollProgress> {
        match progress.state {
            EnrollState::Capturing => Ok(progress),
            EnrollState::Failed => {
                self.abandon_enrollment(false);
                Ok(progress)
            }
            EnrollState::Done => {
                let pending = lock(&self.enrollment)
                    .take()
                    .ok_or(AppError::NoEnrollment)?;
                let name = pending.member_id.to_string();
                self.with_admin(|conn, token| {
                    Ok(conn
                        .bio()?
                        .set_friendly_name(token, &pending.template_id, &name)?)
                })?;
                let key = self.device_key()?;
                lock(&self.roster).record(
                    &key,
                    &pending.template_id,
                    EnrollmentRecord {
                        member_id: name.clone(),
                        enrolled_at: now_rfc3339(),
                    },
                )?;
                self.audit(AdminAction::EnrollmentCompleted {
                    member_id: name,
                    template_id: pending.template_id,
                });
                Ok(progress)
            }
        }
    }

    /// Drop the enrollment in progress and discard its half-made template on the device.
    fn abandon_enrollment(&self, by_administrator: bool) {
        let Some(pending) = lock(&self.enrollment).take() else {
            return;
        };
        if let Some(conn) = lock(&self.conn).as_mut() {
            if let Err(error) = conn.bio().and_then(|mut b| Ok(b.cancel()?)) {
                // The device also drops it on its own at the next enrollBegin.
                tracing::debug!(%error, "cancelCurrentEnrollment");
            }
        }
        if by_administrator {
            self.audit(AdminAction::EnrollmentCancelled {
                member_id: pending.member_id.to_string(),
            });
        }
    }

    /// Cancel the enrollment in progress. A capture waiting for a hand is interrupted with
    /// CTAPHID_CANCEL; it then reports the cancellation to its own caller.
    pub fn enroll_cancel(&self) -> AppResult<SessionView> {
        {
            let mut guard = lock(&self.enrollment);
            let pending = guard.as_mut().ok_or(AppError::NoEnrollment)?;
            pending.cancel_requested = true;
        }
        if self.capturing.load(Ordering::SeqCst) {
            if let Some(cancel) = lock(&self.cancel).as_ref() {
                cancel.cancel();
            }
        } else {
            self.abandon_enrollment(true);
        }
        Ok(self.status())
    }

    fn template_id(hex_id: &str) -> AppResult<Vec<u8>> {
        hex::decode(hex_id).map_err(|_| AppError::Invalid(format!("not a template ID: {hex_id:?}")))
    }

    /// Give an enrollment another member ID (refused when another person has it).
    pub fn rename(&self, template_hex: &str, member_id: &str) -> AppResult<Vec<PersonView>> {
        let template_id = Self::template_id(template_hex)?;
        let member = MemberId::parse(member_id)?;
        let previous = self.with_admin(|conn, token| {
            Self::ensure_unused(conn, token, &member, Some(&template_id))?;
            let mut bio = conn.bio()?;
            let previous = bio
                .enumerate(token)?
                .into_iter()
                .find(|t| t.template_id == template_id)
                .ok_or_else(|| AppError::Invalid("no such enrollment".into()))?
                .friendly_name;
            bio.set_friendly_name(token, &template_id, member.as_str())?;
            Ok(previous)
        })?;
        lock(&self.roster).rename(&self.device_key()?, &template_id, member.as_str())?;
        self.audit(AdminAction::EnrollmentRenamed {
            template_id,
            from: previous,
            to: member.to_string(),
        });
        self.people()
    }

    /// Remove a person's enrollment (their palm no longer verifies on this authenticator).
    pub fn remove_person(&self, template_hex: &str) -> AppResult<Vec<PersonView>> {
        let template_id = Self::template_id(template_hex)?;
        let member_id = self.with_admin(|conn, token| {
            let mut bio = conn.bio()?;
            let name = bio
                .enumerate(token)?
                .into_iter()
                .find(|t| t.template_id == template_id)
                .and_then(|t| t.friendly_name);
            bio.remove(token, &template_id)?;
            Ok(name)
        })?;
        lock(&self.roster).remove(&self.device_key()?, &template_id)?;
        self.audit(AdminAction::EnrollmentRemoved {
            template_id,
            member_id,
        });
        self.people()
    }

    // ---- credentials ----

    pub fn credentials(&self) -> AppResult<Vec<RpView>> {
        self.with_admin(|conn, token| {
            let mut out = Vec::new();
            for rp in conn.client.enumerate_rps(token)? {
                let credentials = conn
                    .client
                    .enumerate_credentials(token, rp.rp_id_hash)?
                    .into_iter()
                    .map(|c| CredentialView {
                        credential_id: hex::encode(&c.credential_id),
                        user_id: hex::encode(&c.user.id),
                        user_name: c.user.name,
                        display_name: c.user.display_name,
                    })
                    .collect();
                out.push(RpView {
                    rp_id: rp.rp.id,
                    rp_name: rp.rp.name,
                    credentials,
                });
            }
            Ok(out)
        })
    }

    pub fn delete_credential(&self, rp_id: &str, credential_hex: &str) -> AppResult<Vec<RpView>> {
        let credential_id = hex::decode(credential_hex)
            .map_err(|_| AppError::Invalid("not a credential ID".into()))?;
        self.with_admin(|conn, token| Ok(conn.client.delete_credential(token, &credential_id)?))?;
        self.audit(AdminAction::CredentialDeleted {
            rp_id: rp_id.into(),
            credential_id,
        });
        self.credentials()
    }

    // ---- reset ----

    /// Factory reset after the typed confirmation. The authenticator only accepts it shortly
    /// after power-up: a simulator is power-cycled first, a USB key must be re-plugged.
    pub fn reset(&self, confirmation: &str) -> AppResult<SessionView> {
        if confirmation.trim() != RESET_CONFIRMATION {
            return Err(AppError::Invalid(format!(
                "type {RESET_CONFIRMATION} to confirm the reset"
            )));
        }
        *lock(&self.enrollment) = None;
        {
            let mut guard = lock(&self.conn);
            let conn = guard.as_mut().ok_or(AppError::NotConnected)?;
            if conn.address.is_simulator() {
                if let Err(error) = conn.client.simulated_power_cycle() {
                    tracing::warn!(%error, "simulated power cycle before reset");
                }
            }
            conn.client.reset()?;
            lock(&self.session).token = None;
            let key = conn.device_key();
            self.vault.forget(&key)?;
            lock(&self.roster).clear_device(&key)?;
            conn.refresh_info()?;
        }
        self.audit(AdminAction::DeviceReset);
        Ok(self.status())
    }

    // ---- audit, QR, simulator ----

    pub fn audit_log(&self, limit: usize) -> AppResult<Vec<serde_json::Value>> {
        self.audit.recent(limit.min(1000))
    }

    pub fn decode_qr(&self, image: &[u8]) -> AppResult<String> {
        decode_qr(image).map(|m| m.to_string())
    }

    /// Simulator only: what the simulated sensor sees (vendor command 0x51).
    pub fn simulate_hand(&self, mode: &str, identity: Option<u64>) -> AppResult<()> {
        let hand = match (mode, identity) {
            ("synthetic", Some(identity)) => SimulatedHand::Synthetic { identity },
            ("photo-attack", Some(identity)) => SimulatedHand::PhotoAttack { identity },
            ("none", _) => SimulatedHand::None,
            _ => {
                return Err(AppError::Invalid(format!(
                    "unknown simulated hand {mode:?}"
                )))
            }
        };
        {
            let mut guard = lock(&self.conn);
            let conn = guard.as_mut().ok_or(AppError::NotConnected)?;
            if !conn.address.is_simulator() {
                return Err(AppError::Invalid(
                    "only a simulator has a simulated sensor".into(),
                ));
            }
            conn.client.set_simulated_hand(&hand)?;
        }
        self.audit(AdminAction::SimulatedHand {
            description: format!("{hand:?}"),
        });
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;
