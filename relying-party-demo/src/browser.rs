//! The browser's part of WebAuthn, played with the palmkey authenticator over CTAPHID:
//! turn the relying party's options into makeCredential / getAssertion, build and hash
//! clientDataJSON, and answer with the WebAuthn JSON a browser would post.
//!
//! User verification uses a PIN token (getPinUvAuthTokenUsingPinWithPermissions) until palm UV
//! exists; then [`UserVerification::BuiltIn`] asks the authenticator's own (palm) UV.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ciborium::Value;
use palmkey::client::{
    AttestationStatement, Client, ClientError, CredentialDescriptor, CtapTransport,
    GetAssertionRequest, MakeCredentialRequest, Permission, PinUvAuthToken, RelyingParty, User,
};
use palmkey::ctap::CtapError;
use serde::Serialize;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};
use webauthn_rs_proto::{CredentialProtectionPolicy, ResidentKeyRequirement};

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("authenticator: {0}")]
    Authenticator(#[from] ClientError),
    #[error("encoding attestationObject: {0}")]
    Cbor(String),
    #[error("building the credential JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// How the browser gets the authenticator to verify the user.
#[derive(Debug, Clone)]
pub enum UserVerification {
    /// clientPIN: a PIN token with the ceremony's permission, bound to the RP ID.
    Pin(String),
    /// The authenticator's built-in UV (the palm), via getPinUvAuthTokenUsingUvWithPermissions.
    BuiltIn,
}

/// Built-in UV attempts per ceremony: like a browser's "try again" prompt, a rejected palm
/// read (UV_INVALID) is retried; the authenticator's own retry counter still applies.
pub const BUILT_IN_UV_ATTEMPTS: u32 = 3;

/// clientDataJSON in the member order WebAuthn §5.8.1.1 prescribes (type, challenge, origin).
#[derive(Serialize)]
struct ClientData<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    challenge: String,
    origin: &'a str,
    #[serde(rename = "crossOrigin")]
    cross_origin: bool,
}

/// A WebAuthn client for one origin, over a palmkey client.
#[derive(Debug)]
pub struct Browser<T> {
    client: Client<T>,
    origin: String,
    uv: UserVerification,
    /// Built-in UV reads the last ceremony took.
    last_uv_attempts: u32,
}

impl<T: CtapTransport> Browser<T> {
    pub fn new(client: Client<T>, origin: impl Into<String>, uv: UserVerification) -> Self {
        Browser {
            client,
            origin: origin.into(),
            uv,
            last_uv_attempts: 0,
        }
    }

    /// How many built-in UV reads (palm presentations) the last ceremony took.
    pub fn last_uv_attempts(&self) -> u32 {
        self.last_uv_attempts
    }

    /// The origin written into clientDataJSON (a phishing site would have another one).
    pub fn set_origin(&mut self, origin: impl Into<String>) {
        self.origin = origin.into();
    }

    pub fn client_mut(&mut self) -> &mut Client<T> {
        &mut self.client
    }

    fn client_data(
        &self,
        kind: &str,
        challenge: &[u8],
    ) -> Result<(Vec<u8>, [u8; 32]), BrowserError> {
        let json = serde_json::to_vec(&ClientData {
            kind,
            challenge: URL_SAFE_NO_PAD.encode(challenge),
            origin: &self.origin,
            cross_origin: false,
        })?;
        let hash = Sha256::digest(&json).into();
        Ok((json, hash))
    }

    fn token(
        &mut self,
        permission: Permission,
        rp_id: &str,
    ) -> Result<PinUvAuthToken, BrowserError> {
        let protocol = self.client.preferred_protocol()?;
        Ok(match &self.uv {
            UserVerification::Pin(pin) => {
                self.client
                    .get_pin_uv_auth_token(protocol, pin, permission, Some(rp_id))?
            }
            UserVerification::BuiltIn => {
                self.last_uv_attempts = 0;
                loop {
                    self.last_uv_attempts += 1;
                    match self.client.get_uv_token(protocol, permission, Some(rp_id)) {
                        Err(e)
                            if e.is(CtapError::UvInvalid)
                                && self.last_uv_attempts < BUILT_IN_UV_ATTEMPTS =>
                        {
                            continue
                        }
                        other => break other?,
                    }
                }
            }
        })
    }

    /// `navigator.credentials.create({publicKey})`.
    pub fn create(
        &mut self,
        options: &CreationChallengeResponse,
    ) -> Result<RegisterPublicKeyCredential, BrowserError> {
        let pk = &options.public_key;
        let (client_data_json, hash) = self.client_data("webauthn.create", &pk.challenge)?;
        let mut req = MakeCredentialRequest::new(
            hash,
            RelyingParty {
                id: pk.rp.id.clone(),
                name: Some(pk.rp.name.clone()),
            },
            User::named(pk.user.id.clone(), &pk.user.name, &pk.user.display_name),
        );
        req.algorithms = pk.pub_key_cred_params.iter().map(|p| p.alg).collect();
        req.exclude_list = pk
            .exclude_credentials
            .iter()
            .flatten()
            .map(|c| CredentialDescriptor::new(c.id.clone()))
            .collect();
        req.resident_key = pk.authenticator_selection.as_ref().is_some_and(|s| {
            s.require_resident_key || s.resident_key == Some(ResidentKeyRequirement::Required)
        });
        if let Some(cp) = pk.extensions.as_ref().and_then(|e| e.cred_protect.as_ref()) {
            req.extensions.cred_protect = Some(match cp.credential_protection_policy {
                CredentialProtectionPolicy::UserVerificationOptional => 1,
                CredentialProtectionPolicy::UserVerificationOptionalWithCredentialIDList => 2,
                CredentialProtectionPolicy::UserVerificationRequired => 3,
            });
        }
        let token = self.token(Permission::MC, &pk.rp.id)?;
        req.pin_uv_auth = Some(token.authenticate(&hash));
        let response = self.client.make_credential(&req)?;
        let credential_id = response.credential().credential_id.clone();
        let attestation_object =
            attestation_object(&response.attestation, &response.auth_data.raw)?;
        let json = serde_json::json!({
            "id": URL_SAFE_NO_PAD.encode(&credential_id),
            "rawId": URL_SAFE_NO_PAD.encode(&credential_id),
            "type": "public-key",
            "response": {
                "attestationObject": URL_SAFE_NO_PAD.encode(attestation_object),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data_json),
                "transports": ["usb"],
            },
            "clientExtensionResults": {},
        });
        Ok(serde_json::from_value(json)?)
    }

    /// `navigator.credentials.get({publicKey})`. With several matching credentials a browser
    /// shows an account chooser; this takes the authenticator's first.
    pub fn get(
        &mut self,
        options: &RequestChallengeResponse,
    ) -> Result<PublicKeyCredential, BrowserError> {
        let pk = &options.public_key;
        let (client_data_json, hash) = self.client_data("webauthn.get", &pk.challenge)?;
        let mut req = GetAssertionRequest::new(pk.rp_id.clone(), hash)
            .allow(pk.allow_credentials.iter().map(|c| c.id.clone()));
        let token = self.token(Permission::GA, &pk.rp_id)?;
        req.pin_uv_auth = Some(token.authenticate(&hash));
        let assertion = self.client.get_assertion(&req)?;
        let id = &assertion.credential.id;
        let json = serde_json::json!({
            "id": URL_SAFE_NO_PAD.encode(id),
            "rawId": URL_SAFE_NO_PAD.encode(id),
            "type": "public-key",
            "response": {
                "authenticatorData": URL_SAFE_NO_PAD.encode(&assertion.auth_data.raw),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data_json),
                "signature": URL_SAFE_NO_PAD.encode(&assertion.signature),
                "userHandle": assertion.user.as_ref().map(|u| URL_SAFE_NO_PAD.encode(&u.id)),
            },
            "clientExtensionResults": {},
        });
        Ok(serde_json::from_value(json)?)
    }
}

/// The WebAuthn attestationObject: CBOR {"fmt", "attStmt", "authData"} (WebAuthn §6.5),
/// carrying the authenticator's statement unchanged.
fn attestation_object(
    statement: &AttestationStatement,
    auth_data: &[u8],
) -> Result<Vec<u8>, BrowserError> {
    let text = |s: &str| Value::Text(s.to_owned());
    let (format, att_stmt) = match statement {
        AttestationStatement::None => ("none".to_owned(), Value::Map(Vec::new())),
        AttestationStatement::Packed { alg, sig, x5c } => {
            let mut map = vec![
                (text("alg"), Value::Integer((*alg).into())),
                (text("sig"), Value::Bytes(sig.clone())),
            ];
            if !x5c.is_empty() {
                map.push((
                    text("x5c"),
                    Value::Array(x5c.iter().cloned().map(Value::Bytes).collect()),
                ));
            }
            ("packed".to_owned(), Value::Map(map))
        }
        AttestationStatement::Other { format, statement } => (format.clone(), statement.clone()),
    };
    let object = Value::Map(vec![
        (text("fmt"), Value::Text(format)),
        (text("attStmt"), att_stmt),
        (text("authData"), Value::Bytes(auth_data.to_vec())),
    ]);
    let mut out = Vec::new();
    ciborium::into_writer(&object, &mut out).map_err(|e| BrowserError::Cbor(e.to_string()))?;
    Ok(out)
}
