//! Host-side CTAP2 client over CTAPHID (hidapi for real devices, UDP for the simulator).
//!
//! [`Client`] speaks CTAP 2.1 over anything that implements [`CtapTransport`] (one CBOR message
//! in, one response out): typed getInfo, makeCredential / getAssertion with authenticator-data
//! parsing and signature checks, clientPIN (protocols 1 and 2, via the same
//! [`crate::ctap::pin::protocol`] the authenticator uses), credentialManagement,
//! authenticatorConfig, reset, selection and vendor commands. Errors carry the CTAP status.
//!
//! ```no_run
//! use palmkey::client::{Client, GetAssertionRequest, MakeCredentialRequest, RelyingParty, User};
//!
//! let mut client = Client::connect_udp("127.0.0.1:8111".parse().unwrap())?;
//! let cdh = [7u8; 32]; // SHA-256 of the client data
//! let rp = RelyingParty::new("example.com");
//! let made = client.make_credential(&MakeCredentialRequest::new(cdh, rp, User::new(*b"alice")))?;
//! made.verify("example.com", &cdh)?; // packed self attestation
//! let cred = made.credential();
//! let req = GetAssertionRequest::new("example.com", cdh).allow([cred.credential_id.clone()]);
//! let assertion = client.get_assertion(&req)?;
//! assertion.verify(&cred.public_key, "example.com", &cdh)?;
//! # Ok::<(), palmkey::client::ClientError>(())
//! ```

mod authdata;
mod bio_enrollment;
mod cbor;
mod config;
mod cred_mgmt;
mod entities;
mod error;
mod get_assertion;
mod info;
mod make_credential;
mod pin;
mod sim_sensor;
pub mod simulator;

pub use crate::ctap::pin::client_pin::SubCommand as PinSubcommand;
pub use crate::ctap::pin::Permission;
pub use authdata::{
    verify_es256, AttestedCredential, AuthDataExtensions, AuthenticatorData, CoseKeyBytes, Flags,
};
pub use bio_enrollment::{
    BioCommand, BioEnrollment, BioSubcommand, EnrollStart, SampleFeedback, SampleStatus,
    SensorInfo, TemplateInfo, MAX_CONSECUTIVE_BAD_SAMPLES, MODALITY_FINGERPRINT,
};
pub use config::ConfigCommand;
pub use cred_mgmt::{CredMgmtSubcommand, CredentialEntry, CredsMetadata, RpEntry};
pub use entities::{CredentialDescriptor, RelyingParty, User};
pub use error::{ClientError, CtapStatus, Result};
pub use get_assertion::{Assertion, GetAssertionExtensions, GetAssertionRequest, HmacSecretSalts};
pub use info::{Algorithm, AuthenticatorInfo};
pub use make_credential::{
    AttestationKind, AttestationStatement, MakeCredentialExtensions, MakeCredentialRequest,
    MakeCredentialResponse, PinUvAuthParam, ES256,
};
pub use pin::{PinRetries, PinUvAuthToken};
pub use sim_sensor::{SimulatedHand, POWER_CYCLE, SENSOR_CONTROL};
pub use simulator::Simulator;

pub use crate::ctap::pin::protocol::PinProtocol;

use crate::ctap::cbor::{encode, MapBuilder};
use cred_mgmt::CredMgmtRequest;
use pin::PinRequest;
use std::time::{Duration, Instant};

use crate::hid::HidError;
use transport::{CtapHid, TransportError};

/// CTAP2 command bytes (CTAP 2.1 §6).
pub mod command {
    pub const MAKE_CREDENTIAL: u8 = 0x01;
    pub const GET_ASSERTION: u8 = 0x02;
    pub const GET_INFO: u8 = 0x04;
    pub const CLIENT_PIN: u8 = 0x06;
    pub const RESET: u8 = 0x07;
    pub const GET_NEXT_ASSERTION: u8 = 0x08;
    pub const BIO_ENROLLMENT: u8 = 0x09;
    pub const CREDENTIAL_MANAGEMENT: u8 = 0x0A;
    pub const SELECTION: u8 = 0x0B;
    pub const CONFIG: u8 = 0x0D;
}

/// Carries CTAP messages to an authenticator (CTAPHID over UDP or hidapi, or in-process).
pub trait CtapTransport {
    /// Send one CTAPHID CBOR message (command byte + CBOR parameters) and return the response
    /// (status byte + CBOR payload).
    fn cbor(&mut self, message: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// Send a vendor CTAPHID command (0x40..=0x7F) and return its response payload.
    fn vendor(&mut self, command: u8, payload: &[u8]) -> Result<Vec<u8>, TransportError>;
}

impl<T: CtapTransport + ?Sized> CtapTransport for &mut T {
    fn cbor(&mut self, message: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).cbor(message)
    }
    fn vendor(&mut self, command: u8, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).vendor(command, payload)
    }
}

impl<T: CtapTransport + ?Sized> CtapTransport for Box<T> {
    fn cbor(&mut self, message: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).cbor(message)
    }
    fn vendor(&mut self, command: u8, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).vendor(command, payload)
    }
}

impl CtapTransport for CtapHid {
    fn cbor(&mut self, message: &[u8]) -> Result<Vec<u8>, TransportError> {
        CtapHid::cbor(self, message)
    }
    fn vendor(&mut self, command: u8, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        CtapHid::vendor(self, command, payload)
    }
}

/// How long a request keeps being re-sent while the device serves another channel.
pub const BUSY_RETRY_LIMIT: Duration = Duration::from_secs(5);

/// Run `send` again while the device answers CTAPHID CHANNEL_BUSY (it is serving another
/// application's transaction, so the request was not taken and resending is safe).
fn retry_while_busy(mut send: impl FnMut() -> Result<Vec<u8>, TransportError>) -> Result<Vec<u8>> {
    let deadline = Instant::now() + BUSY_RETRY_LIMIT;
    loop {
        match send() {
            Err(TransportError::Device(HidError::ChannelBusy)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return Ok(other?),
        }
    }
}

/// A typed CTAP 2.1 client.
#[derive(Debug)]
pub struct Client<T> {
    transport: T,
}

impl Client<CtapHid> {
    /// Connect to a `palmkey serve` simulator over UDP (CTAPHID INIT included).
    pub fn connect_udp(device: std::net::SocketAddr) -> Result<Self> {
        Ok(Client::new(CtapHid::connect_udp(device)?))
    }

    /// Connect to the first FIDO HID device.
    pub fn connect_first_hid() -> Result<Self> {
        Ok(Client::new(CtapHid::connect_first_hid()?))
    }
}

impl<T: CtapTransport> Client<T> {
    pub fn new(transport: T) -> Self {
        Client { transport }
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The connection, for transport-level operations (ping, wink, cancel).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    pub fn into_transport(self) -> T {
        self.transport
    }

    /// Send raw bytes as one CBOR message and return the raw response (status byte first);
    /// for tests of malformed input.
    pub fn send_raw(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        retry_while_busy(|| self.transport.cbor(message))
    }

    /// Send `command` with CBOR `params`; a non-zero status becomes [`ClientError::Ctap`].
    pub fn call(&mut self, command: u8, params: &[u8]) -> Result<Vec<u8>> {
        let mut message = Vec::with_capacity(1 + params.len());
        message.push(command);
        message.extend_from_slice(params);
        let mut response = self.send_raw(&message)?;
        match response.first() {
            None => Err(ClientError::malformed("empty CTAP response")),
            Some(0) => {
                response.remove(0);
                Ok(response)
            }
            Some(&status) => Err(ClientError::Ctap(CtapStatus(status))),
        }
    }

    /// Send a vendor CTAPHID command, e.g. the simulated sensor's 0x51.
    pub fn vendor(&mut self, command: u8, payload: &[u8]) -> Result<Vec<u8>> {
        retry_while_busy(|| self.transport.vendor(command, payload))
    }

    pub fn get_info(&mut self) -> Result<AuthenticatorInfo> {
        AuthenticatorInfo::parse(&self.call(command::GET_INFO, &[])?)
    }

    pub fn make_credential(
        &mut self,
        req: &MakeCredentialRequest,
    ) -> Result<MakeCredentialResponse> {
        MakeCredentialResponse::parse(&self.call(command::MAKE_CREDENTIAL, &req.to_cbor())?)
    }

    /// getAssertion. With hmac-secret salts in the request, a fresh shared secret (the
    /// token's protocol, else the authenticator's preferred one) encrypts them and decrypts
    /// the output into [`Assertion::hmac_secret`].
    pub fn get_assertion(&mut self, req: &GetAssertionRequest) -> Result<Assertion> {
        let shared = match &req.extensions.hmac_secret {
            None => None,
            Some(salts) => {
                let protocol = match (salts.protocol, &req.pin_uv_auth) {
                    (Some(p), _) => p,
                    (None, Some(p)) => PinProtocol::try_from(p.protocol)
                        .map_err(|_| ClientError::InvalidRequest("unknown pinUvAuthProtocol"))?,
                    (None, None) => self.preferred_protocol()?,
                };
                let (platform_key, shared) = self.shared_secret(protocol)?;
                Some((salts.encrypt(&platform_key, &shared)?, shared))
            }
        };
        let (hmac_input, shared) = match shared {
            Some((input, shared)) => (Some(input), Some(shared)),
            None => (None, None),
        };
        let payload = self.call(command::GET_ASSERTION, &req.to_cbor(hmac_input))?;
        Assertion::parse(&payload, shared.as_ref())
    }

    /// getNextAssertion (hmac-secret outputs of later credentials are not decrypted).
    pub fn get_next_assertion(&mut self) -> Result<Assertion> {
        Assertion::parse(&self.call(command::GET_NEXT_ASSERTION, &[])?, None)
    }

    /// getAssertion followed by getNextAssertion for every further credential.
    pub fn get_assertions(&mut self, req: &GetAssertionRequest) -> Result<Vec<Assertion>> {
        let first = self.get_assertion(req)?;
        let total = first.number_of_credentials.unwrap_or(1).max(1);
        let mut out = vec![first];
        for _ in 1..total {
            out.push(self.get_next_assertion()?);
        }
        Ok(out)
    }

    /// authenticatorReset: wipes credentials and PIN (only within 10 s of power-up).
    pub fn reset(&mut self) -> Result<()> {
        self.call(command::RESET, &[]).map(drop)
    }

    /// authenticatorSelection: the user touches the device to pick it.
    pub fn selection(&mut self) -> Result<()> {
        self.call(command::SELECTION, &[]).map(drop)
    }

    // ---- clientPIN ----

    fn client_pin(&mut self, request: MapBuilder) -> Result<Vec<u8>> {
        self.call(command::CLIENT_PIN, &encode(request.build()))
    }

    /// The authenticator's preferred PIN/UV auth protocol that this client also speaks.
    pub fn preferred_protocol(&mut self) -> Result<PinProtocol> {
        self.get_info()?
            .pin_uv_auth_protocols
            .iter()
            .find_map(|p| PinProtocol::try_from(*p).ok())
            .ok_or(ClientError::Unsupported("no common PIN/UV auth protocol"))
    }

    pub fn pin_retries(&mut self) -> Result<PinRetries> {
        PinRequest::parse_retries(
            &self.client_pin(PinRequest::simple(None, PinSubcommand::GetPinRetries))?,
        )
    }

    pub fn uv_retries(&mut self) -> Result<u8> {
        PinRequest::parse_uv_retries(
            &self.client_pin(PinRequest::simple(None, PinSubcommand::GetUvRetries))?,
        )
    }

    /// getKeyAgreement: the authenticator's current key-agreement public key.
    pub fn key_agreement(&mut self, protocol: PinProtocol) -> Result<crate::ctap::cose::CoseKey> {
        let payload = self.client_pin(PinRequest::simple(
            Some(protocol),
            PinSubcommand::GetKeyAgreement,
        ))?;
        PinRequest::parse_key_agreement(&payload)
    }

    /// A fresh shared secret with the authenticator and the platform key to send with it.
    pub fn shared_secret(
        &mut self,
        protocol: PinProtocol,
    ) -> Result<(
        crate::ctap::cose::CoseKey,
        crate::ctap::pin::protocol::SharedSecret,
    )> {
        let authenticator_key = self.key_agreement(protocol)?;
        Ok(PinRequest::agree(protocol, &authenticator_key))
    }

    pub fn set_pin(&mut self, protocol: PinProtocol, new_pin: &str) -> Result<()> {
        let (key, shared) = self.shared_secret(protocol)?;
        self.client_pin(PinRequest::set_pin(&shared, &key, new_pin)?)
            .map(drop)
    }

    pub fn change_pin(
        &mut self,
        protocol: PinProtocol,
        current_pin: &str,
        new_pin: &str,
    ) -> Result<()> {
        let (key, shared) = self.shared_secret(protocol)?;
        self.client_pin(PinRequest::change_pin(&shared, &key, current_pin, new_pin)?)
            .map(drop)
    }

    /// getPinToken (CTAP 2.0 style, implicit mc+ga permissions).
    pub fn get_pin_token(&mut self, protocol: PinProtocol, pin: &str) -> Result<PinUvAuthToken> {
        let (key, shared) = self.shared_secret(protocol)?;
        let payload = self.client_pin(PinRequest::token_using_pin(&shared, &key, pin, None)?)?;
        PinRequest::parse_token(&payload, &shared)
    }

    /// getPinUvAuthTokenUsingPinWithPermission.
    pub fn get_pin_uv_auth_token(
        &mut self,
        protocol: PinProtocol,
        pin: &str,
        permissions: Permission,
        rp_id: Option<&str>,
    ) -> Result<PinUvAuthToken> {
        let (key, shared) = self.shared_secret(protocol)?;
        let request = PinRequest::token_using_pin(&shared, &key, pin, Some((permissions, rp_id)))?;
        PinRequest::parse_token(&self.client_pin(request)?, &shared)
    }

    /// getPinUvAuthTokenUsingUvWithPermission: built-in user verification (the palm).
    pub fn get_uv_token(
        &mut self,
        protocol: PinProtocol,
        permissions: Permission,
        rp_id: Option<&str>,
    ) -> Result<PinUvAuthToken> {
        let (key, shared) = self.shared_secret(protocol)?;
        let request = PinRequest::token_using_uv(&shared, &key, permissions, rp_id);
        PinRequest::parse_token(&self.client_pin(request)?, &shared)
    }

    // ---- credentialManagement ----

    fn cred_mgmt(
        &mut self,
        req: CredMgmtRequest,
        token: Option<&PinUvAuthToken>,
    ) -> Result<Vec<u8>> {
        self.call(command::CREDENTIAL_MANAGEMENT, &req.to_cbor(token))
    }

    pub fn creds_metadata(&mut self, token: &PinUvAuthToken) -> Result<CredsMetadata> {
        let req = CredMgmtRequest::new(CredMgmtSubcommand::GetCredsMetadata);
        CredsMetadata::parse(&self.cred_mgmt(req, Some(token))?)
    }

    /// Every RP with discoverable credentials (empty when the authenticator has none).
    pub fn enumerate_rps(&mut self, token: &PinUvAuthToken) -> Result<Vec<RpEntry>> {
        let req = CredMgmtRequest::new(CredMgmtSubcommand::EnumerateRpsBegin);
        let first = match self.cred_mgmt(req, Some(token)) {
            Err(e) if e.is(crate::ctap::CtapError::NoCredentials) => return Ok(Vec::new()),
            other => other?,
        };
        let (entry, total) = RpEntry::parse(&first)?;
        let mut out = vec![entry];
        for _ in 1..total.unwrap_or(1) {
            let req = CredMgmtRequest::new(CredMgmtSubcommand::EnumerateRpsGetNextRp);
            out.push(RpEntry::parse(&self.cred_mgmt(req, None)?)?.0);
        }
        Ok(out)
    }

    /// Every discoverable credential of one RP (empty when it has none).
    pub fn enumerate_credentials(
        &mut self,
        token: &PinUvAuthToken,
        rp_id_hash: [u8; 32],
    ) -> Result<Vec<CredentialEntry>> {
        let req = CredMgmtRequest::enumerate_credentials(rp_id_hash);
        let first = match self.cred_mgmt(req, Some(token)) {
            Err(e) if e.is(crate::ctap::CtapError::NoCredentials) => return Ok(Vec::new()),
            other => other?,
        };
        let (entry, total) = CredentialEntry::parse(&first)?;
        let mut out = vec![entry];
        for _ in 1..total.unwrap_or(1) {
            let req =
                CredMgmtRequest::new(CredMgmtSubcommand::EnumerateCredentialsGetNextCredential);
            out.push(CredentialEntry::parse(&self.cred_mgmt(req, None)?)?.0);
        }
        Ok(out)
    }

    pub fn delete_credential(
        &mut self,
        token: &PinUvAuthToken,
        credential_id: &[u8],
    ) -> Result<()> {
        self.cred_mgmt(CredMgmtRequest::delete(credential_id), Some(token))
            .map(drop)
    }

    pub fn update_user(
        &mut self,
        token: &PinUvAuthToken,
        credential_id: &[u8],
        user: &User,
    ) -> Result<()> {
        self.cred_mgmt(
            CredMgmtRequest::update_user(credential_id, user),
            Some(token),
        )
        .map(drop)
    }

    // ---- authenticatorConfig ----

    /// authenticatorConfig; `token` needs the acfg permission (it may be `None` only when no
    /// PIN is set and alwaysUv is off).
    pub fn config(&mut self, token: Option<&PinUvAuthToken>, cmd: &ConfigCommand) -> Result<()> {
        self.call(command::CONFIG, &cmd.to_cbor(token)).map(drop)
    }
}
pub mod transport;
