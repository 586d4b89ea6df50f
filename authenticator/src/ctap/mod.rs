//! The CTAP 2.1 authenticator core: one module per command family.
//!
//! [`Authenticator::process`] takes one CTAPHID CBOR message (command byte + CBOR parameters)
//! and returns the response (status byte + CBOR). Transports call it from a worker thread and
//! pass an [`Interaction`] so long operations can send keep-alives and notice CANCEL.
//!
//! Requests are parsed with [`cbor`] (which also records why ctap-types' message structs are
//! not used); makeCredential and getAssertion share their user-verification steps in
//! [`verification`]. Built-in user verification plugs in through [`BuiltInUv`]: it names the
//! person it identified, credentials made under it get that person as owner, and under it
//! getAssertion only sees that owner's credentials ([`verification::Verification::may_use`]).
//! A device whose state fails its integrity check runs [`Authenticator::disabled`]: getInfo
//! and reset only.

/// A subcommand byte enum (clientPIN, credentialManagement, authenticatorConfig): the variants
/// with their wire values, and `TryFrom<u8>` answering `InvalidSubcommand` for any other byte.
macro_rules! subcommand_enum {
    ($(#[$outer:meta])* $vis:vis enum $name:ident { $($(#[$meta:meta])* $variant:ident = $value:literal,)+ }) => {
        $(#[$outer])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $($(#[$meta])* $variant = $value,)+
        }

        impl TryFrom<u8> for $name {
            type Error = $crate::ctap::CtapError;

            fn try_from(n: u8) -> Result<Self, Self::Error> {
                match n {
                    $($value => Ok($name::$variant),)+
                    _ => Err($crate::ctap::CtapError::InvalidSubcommand),
                }
            }
        }
    };
}

pub mod attestation;
pub mod auth_data;
pub mod bio_enrollment;
pub mod cbor;
pub mod config;
pub mod cose;
pub mod credential;
pub mod credential_management;
pub mod extensions;
pub mod get_assertion;
pub mod get_info;
pub mod make_credential;
pub mod pin;
pub mod reset;
pub mod selection;
pub mod status;
#[cfg(test)]
pub(crate) mod test_support;
pub mod user;
pub mod verification;

use std::time::{Duration, Instant};

use ctap_types::ctap2::Operation;

pub use status::{encode_response, CtapError, CtapResult};
pub use user::{
    AutoApprove, BuiltInUv, Interaction, KeepaliveStatus, NoInteraction, UserPresence, VerifiedUser,
};

use crate::events::{DeviceEvent, EventSink};
use crate::store::{Store, StoreError};
use get_assertion::NextAssertion;
use pin::PinUv;

/// palmkey's AAGUID (a fixed random UUID identifying the model): e56e9fac-11f1-483e-9402-5f457de5af5c.
pub const AAGUID: [u8; 16] = [
    0xe5, 0x6e, 0x9f, 0xac, 0x11, 0xf1, 0x48, 0x3e, 0x94, 0x02, 0x5f, 0x45, 0x7d, 0xe5, 0xaf, 0x5c,
];

/// Limits and identity the authenticator announces in getInfo and enforces.
#[derive(Debug, Clone)]
pub struct Config {
    pub aaguid: [u8; 16],
    /// Largest CTAPHID message (CTAP2 command byte + CBOR) the transport reassembles.
    pub max_msg_size: usize,
    pub firmware_version: u32,
    /// How many discoverable credentials the store holds at most.
    pub max_discoverable_credentials: usize,
    /// Announced maxCredentialCountInList (longer lists are still processed).
    pub max_credential_count_in_list: usize,
    /// Longest credBlob stored with a credential (CTAP requires at least 32); capped at
    /// what a wrapped credential ID can carry (see [`Config::cred_blob_limit`]).
    pub max_cred_blob_length: usize,
    /// How many RP IDs setMinPINLength may authorize for the minPinLength extension.
    pub max_rp_ids_for_min_pin_length: usize,
    /// authenticatorReset is only allowed this long after power-up (CTAP 2.1 §6.6: 10 s).
    pub reset_window: Duration,
    /// getNextAssertion must follow within this time (CTAP 2.1 §6.3: 30 s).
    pub next_assertion_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            aaguid: AAGUID,
            max_msg_size: 7609,
            firmware_version: 0x0001_0000,
            max_discoverable_credentials: 1000,
            max_credential_count_in_list: 32,
            max_cred_blob_length: 32,
            max_rp_ids_for_min_pin_length: 8,
            reset_window: Duration::from_secs(10),
            next_assertion_timeout: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// The credBlob length actually accepted and announced: the configured maximum, but never
    /// more than a non-discoverable credential's ID can hold.
    pub fn cred_blob_limit(&self) -> usize {
        self.max_cred_blob_length
            .min(credential::MAX_WRAPPED_BLOB_LENGTH)
    }
}

/// The persistent side: an open store, or a device disabled because its state failed the
/// integrity check (only getInfo and reset answer then).
// One per device, never moved around: the size difference between variants is irrelevant.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Device {
    Ready(Store),
    Disabled(Disabled),
}

/// A tampered device: what reset needs to start a factory-fresh state in the same folder.
pub struct Disabled {
    /// Opens a factory-fresh store after the tampered state was set aside (see [`reset`]).
    pub(crate) reopen: Box<dyn FnMut() -> Result<Store, StoreError> + Send>,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) reason: String,
}

impl std::fmt::Debug for Disabled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disabled")
            .field("dir", &self.dir)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// A CTAP 2.1 authenticator: persistent state, volatile PIN/UV state, and the seams to the
/// person in front of it.
pub struct Authenticator {
    pub(crate) device: Device,
    pub(crate) pin_uv: PinUv,
    pub(crate) presence: Box<dyn UserPresence>,
    /// Built-in user verification (the palm); `None` until it is plugged in.
    pub(crate) builtin_uv: Option<Box<dyn BuiltInUv>>,
    pub(crate) next_assertion: Option<NextAssertion>,
    /// credentialManagement's enumerateRPs / enumerateCredentials progress.
    pub(crate) cred_enumeration: credential_management::Enumeration,
    pub(crate) config: Config,
    /// Where operator events go (tamper, reset, authentications); disabled by default.
    pub(crate) events: EventSink,
    powered_at: Instant,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("disabled", &matches!(self.device, Device::Disabled(_)))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator over an open store.
    pub fn new(store: Store, presence: Box<dyn UserPresence>, config: Config) -> Self {
        Self::with_device(Device::Ready(store), presence, config)
    }

    fn with_device(device: Device, presence: Box<dyn UserPresence>, config: Config) -> Self {
        Authenticator {
            device,
            pin_uv: PinUv::new(),
            presence,
            builtin_uv: None,
            next_assertion: None,
            cred_enumeration: Default::default(),
            config,
            events: EventSink::disabled(),
            powered_at: Instant::now(),
        }
    }

    /// A device whose state failed its integrity check: every command but getInfo and reset
    /// answers `IntegrityFailure`. On authenticatorReset, `reopen` (one of
    /// `Store::open_for_reset*`) keeps the tampered file aside and opens a factory-fresh store.
    pub fn disabled(
        dir: std::path::PathBuf,
        error: &StoreError,
        reopen: Box<dyn FnMut() -> Result<Store, StoreError> + Send>,
        presence: Box<dyn UserPresence>,
        config: Config,
    ) -> Self {
        tracing::error!(dir = %dir.display(), %error, "device state failed its integrity check: device disabled until reset");
        let disabled = Disabled {
            reopen,
            dir,
            reason: error.to_string(),
        };
        Self::with_device(Device::Disabled(disabled), presence, config)
    }

    /// Send operator events to `sink`. A device that came up disabled reports its tamper
    /// state here, since this is the first moment it has somewhere to report it.
    pub fn with_events(mut self, sink: EventSink) -> Self {
        if let Device::Disabled(disabled) = &self.device {
            sink.emit(DeviceEvent::Tamper {
                reason: disabled.reason.clone(),
            });
        }
        self.events = sink;
        self
    }

    /// Plug in a built-in user-verification method (the palm).
    pub fn set_builtin_uv(&mut self, mut uv: Box<dyn BuiltInUv>) {
        if uv.enroller().is_some() {
            self.pin_uv.allow_permissions(pin::Permission::BE);
        }
        self.builtin_uv = Some(uv);
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// True while the device refuses to work because its state was tampered with.
    pub fn is_disabled(&self) -> bool {
        matches!(self.device, Device::Disabled(_))
    }

    /// One CTAP2 message (command byte + CBOR) in, status byte + CBOR out.
    pub fn process(&mut self, request: &[u8], io: &dyn Interaction) -> Vec<u8> {
        encode_response(self.dispatch(request, io))
    }

    /// CTAPHID WINK: the simulated device has no LED, so it says so in the log.
    pub fn wink(&self) {
        tracing::info!("wink");
    }

    /// A (simulated) power cycle: volatile state is lost, the reset window reopens.
    pub fn power_cycle(&mut self) {
        self.drop_volatile_state();
        self.powered_at = Instant::now();
    }

    /// Forget everything that lives only in RAM: tokens, key agreement, the PIN mismatch
    /// streak, getNextAssertion / enumeration cursors, and an enrollment in progress (its
    /// samples must not survive into a new power-up or a factory-fresh device).
    fn drop_volatile_state(&mut self) {
        self.pin_uv.reset();
        self.next_assertion = None;
        self.cred_enumeration.clear();
        if let Some(enroller) = self.builtin_uv.as_mut().and_then(|uv| uv.enroller()) {
            enroller.cancel();
        }
    }

    fn dispatch(&mut self, request: &[u8], io: &dyn Interaction) -> CtapResult {
        let (&command, params) = request.split_first().ok_or(CtapError::InvalidLength)?;
        let operation = Operation::try_from(command).map_err(|_| CtapError::InvalidCommand)?;
        if request.len() > self.config.max_msg_size {
            return Err(CtapError::RequestTooLarge);
        }
        // getNextAssertion state only survives until the next other command.
        if operation != Operation::GetNextAssertion {
            self.next_assertion = None;
        }
        if self.is_disabled() && !matches!(operation, Operation::GetInfo | Operation::Reset) {
            return Err(CtapError::IntegrityFailure);
        }
        match operation {
            Operation::GetInfo => get_info::handle(self, params),
            Operation::MakeCredential => make_credential::handle(self, params, io),
            Operation::GetAssertion => get_assertion::handle(self, params, io),
            Operation::GetNextAssertion => get_assertion::handle_next(self, params),
            Operation::Reset => reset::handle(self, params, io),
            Operation::Selection => selection::handle(self, params, io),
            Operation::ClientPin => pin::client_pin::handle(self, params, io),
            Operation::CredentialManagement | Operation::PreviewCredentialManagement => {
                credential_management::handle(self, params)
            }
            Operation::Config => config::handle(self, params),
            Operation::BioEnrollment | Operation::PreviewBioEnrollment => {
                bio_enrollment::handle(self, params, io)
            }
            // DISPATCH: other engineers' command families are routed here.
            _ => Err(CtapError::InvalidCommand),
        }
    }

    /// The open store; `IntegrityFailure` while the device is disabled.
    pub(crate) fn store(&self) -> CtapResult<&Store> {
        match &self.device {
            Device::Ready(store) => Ok(store),
            Device::Disabled(_) => Err(CtapError::IntegrityFailure),
        }
    }

    pub(crate) fn store_mut(&mut self) -> CtapResult<&mut Store> {
        match &mut self.device {
            Device::Ready(store) => Ok(store),
            Device::Disabled(_) => Err(CtapError::IntegrityFailure),
        }
    }

    /// The store and the PIN/UV state together (handlers need both mutably).
    pub(crate) fn store_and_pin(&mut self) -> CtapResult<(&mut Store, &mut PinUv)> {
        match &mut self.device {
            Device::Ready(store) => Ok((store, &mut self.pin_uv)),
            Device::Disabled(_) => Err(CtapError::IntegrityFailure),
        }
    }

    /// Time since power-up (reset is only allowed shortly after).
    pub(crate) fn since_power_up(&self) -> Duration {
        self.powered_at.elapsed()
    }

    /// Ask for user presence (button/auto-approve), honouring CANCEL.
    pub(crate) fn user_presence(&mut self, io: &dyn Interaction) -> CtapResult<()> {
        io.set_status(KeepaliveStatus::UpNeeded);
        let result = self.presence.check(io);
        io.set_status(KeepaliveStatus::Processing);
        result
    }
}

/// Map a store failure to a status code, logging it (a store error is never the host's fault).
pub(crate) fn storage_error(error: StoreError) -> CtapError {
    tracing::error!(%error, "state store operation failed");
    match error {
        StoreError::Integrity(_) => CtapError::IntegrityFailure,
        StoreError::CounterExhausted => CtapError::LimitExceeded,
        _ => CtapError::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::store::{MasterKey, STATE_FILE};

    #[test]
    fn unknown_and_empty_commands() {
        let mut h = Harness::new();
        assert_eq!(h.raw(&[0x03]), Err(CtapError::InvalidCommand));
        assert_eq!(
            h.raw(&[0x0C]),
            Err(CtapError::InvalidCommand),
            "largeBlobs unsupported"
        );
        assert_eq!(
            h.raw(&[0x50]),
            Err(CtapError::InvalidCommand),
            "vendor range"
        );
        assert_eq!(h.raw(&[0xFF]), Err(CtapError::InvalidCommand));
        assert_eq!(h.raw(&[]), Err(CtapError::InvalidLength));
        let mut oversized = vec![0x01];
        oversized.resize(Config::default().max_msg_size + 1, 0);
        assert_eq!(h.raw(&oversized), Err(CtapError::RequestTooLarge));
    }

    #[test]
    fn authenticator_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Authenticator>();
    }

    fn tampered() -> (
        tempfile::TempDir,
        Authenticator,
        crate::events::EventRecorder,
    ) {
        let key = [7u8; 32];
        let dir = tempfile::TempDir::new().unwrap();
        drop(Store::open(dir.path(), MasterKey::from_bytes(key)).unwrap());
        let path = dir.path().join(STATE_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
        let error = Store::open(dir.path(), MasterKey::from_bytes(key)).unwrap_err();
        assert!(matches!(error, StoreError::Integrity(_)));
        let reopen_dir = dir.path().to_path_buf();
        let (sink, recorder) = EventSink::recorder();
        let auth = Authenticator::disabled(
            dir.path().to_path_buf(),
            &error,
            Box::new(move || Store::open_for_reset(&reopen_dir, MasterKey::from_bytes(key))),
            Box::new(AutoApprove),
            Config::default(),
        )
        .with_events(sink);
        (dir, auth, recorder)
    }

    #[test]
    fn tampered_device_answers_only_get_info_and_reset() {
        let (dir, auth, recorder) = tampered();
        assert_eq!(recorder.types(), vec!["dev.palmkey.tamper.detected"]);
        let mut h = Harness { auth, dir };
        assert!(h.auth.is_disabled());
        h.call(0x04, None).expect("getInfo answers");
        for command in [0x01, 0x02, 0x06, 0x08, 0x0A, 0x0B, 0x0D] {
            assert_eq!(
                h.call(command, Some(make_credential_params(b"u").build())),
                Err(CtapError::IntegrityFailure),
                "command {command:#04x}"
            );
        }
        h.call(0x07, None).expect("reset answers");
        assert!(!h.auth.is_disabled());
        assert_eq!(
            recorder.types(),
            vec!["dev.palmkey.tamper.detected", "dev.palmkey.reset"]
        );
        // The tampered file is kept as evidence next to the fresh state.
        let kept = std::fs::read_dir(h.dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name() == crate::store::TAMPERED_FILE);
        assert!(kept);
        make(&mut h, make_credential_params(b"u"));
    }

    #[test]
    fn authentications_are_reported() {
        let mut h = Harness::new();
        let (sink, recorder) = EventSink::recorder();
        h.auth.events = sink;
        let made = make(&mut h, make_credential_params(b"u"));
        let allow = cbor::Value::Array(vec![descriptor(&made.id)]);
        h.call(
            0x02,
            Some(get_assertion_params().insert(0x03, allow).build()),
        )
        .unwrap();
        assert_eq!(
            recorder.types(),
            vec![
                "dev.palmkey.authentication.succeeded",
                "dev.palmkey.authentication.succeeded"
            ]
        );
    }

    #[test]
    fn power_cycle_reopens_the_reset_window() {
        let mut h = Harness::new();
        h.auth.config.reset_window = Duration::from_millis(1);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(h.call(0x07, None), Err(CtapError::NotAllowed));
        h.auth.config.reset_window = Duration::from_secs(10);
        h.auth.power_cycle();
        h.call(0x07, None).unwrap();
    }

    /// Mutated and truncated makeCredential/getAssertion requests: every answer is a status
    /// byte, and a success carries exactly one CBOR item (no panics, no garbage).
    #[test]
    fn mutated_requests_get_clean_answers() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let mut h = Harness::new();
        let made = make(&mut h, make_credential_params(b"u"));
        let mut seeds = Vec::new();
        let mut mc = vec![0x01];
        mc.extend(cbor::encode(make_credential_params(b"u").build()));
        seeds.push(mc);
        let mut ga = vec![0x02];
        let allow = cbor::Value::Array(vec![descriptor(&made.id)]);
        ga.extend(cbor::encode(
            get_assertion_params().insert(0x03, allow).build(),
        ));
        seeds.push(ga);
        for round in 0..1500 {
            let mut request = seeds[round % seeds.len()].clone();
            match rng.gen_range(0..3) {
                0 => {
                    let at = rng.gen_range(1..request.len());
                    request[at] ^= 1 << rng.gen_range(0..8);
                }
                1 => request.truncate(rng.gen_range(1..request.len())),
                _ => {
                    let at = rng.gen_range(1..request.len());
                    request[at] = rng.gen();
                }
            }
            let response = h.auth.process(&request, &NoInteraction);
            let (&status, body) = response.split_first().expect("a status byte");
            if status == 0 {
                cbor::decode(body).expect("one CBOR item");
            } else {
                assert!(body.is_empty());
            }
        }
    }
}
