//! authenticatorCredentialManagement (0x0A, and the 2.1-PRE code 0x41), CTAP 2.1 §6.8.
//!
//! Lists, deletes and edits discoverable credentials. Every subcommand except the GetNext
//! steps needs a pinUvAuthToken with the cm permission, MACed over
//! `subCommand || subCommandParams`. A token bound to an RP only reaches that RP's credentials
//! and cannot list metadata or RPs at all.

use std::collections::VecDeque;

use ciborium::Value;
use p256::SecretKey;
use sha2::{Digest, Sha256};

use super::cbor::{as_bytes, as_map, as_text, as_u8, bytes, Map, MapBuilder, Params};
use super::cose::{CoseAlgorithm, CoseKey};
use super::pin::{Permission, PinUv};
use super::status::CtapResult;
use super::{storage_error, Authenticator, CtapError, Device};
use crate::store::state::CredentialRecord;
use crate::store::Store;

/// Request parameter keys.
mod key {
    pub const SUB_COMMAND: u64 = 0x01;
    pub const SUB_COMMAND_PARAMS: u64 = 0x02;
    pub const PROTOCOL: u64 = 0x03;
    pub const PIN_UV_AUTH_PARAM: u64 = 0x04;
    // inside subCommandParams
    pub const RP_ID_HASH: u64 = 0x01;
    pub const CREDENTIAL_ID: u64 = 0x02;
    pub const USER: u64 = 0x03;
}

/// Response keys.
mod out {
    pub const EXISTING_COUNT: u8 = 0x01;
    pub const REMAINING_COUNT: u8 = 0x02;
    pub const RP: u8 = 0x03;
    pub const RP_ID_HASH: u8 = 0x04;
    pub const TOTAL_RPS: u8 = 0x05;
    pub const USER: u8 = 0x06;
    pub const CREDENTIAL_ID: u8 = 0x07;
    pub const PUBLIC_KEY: u8 = 0x08;
    pub const TOTAL_CREDENTIALS: u8 = 0x09;
    pub const CRED_PROTECT: u8 = 0x0A;
}

subcommand_enum! {
    /// credentialManagement subcommands.
    pub enum SubCommand {
        GetCredsMetadata = 0x01,
        EnumerateRpsBegin = 0x02,
        EnumerateRpsGetNextRp = 0x03,
        EnumerateCredentialsBegin = 0x04,
        EnumerateCredentialsGetNextCredential = 0x05,
        DeleteCredential = 0x06,
        UpdateUserInformation = 0x07,
    }
}

/// The volatile state of the GetNext iterations: what is left to hand out. Starting a new
/// enumeration replaces it; a credential deleted meanwhile is skipped.
#[derive(Debug, Default)]
pub struct Enumeration {
    rps: Option<VecDeque<String>>,
    credentials: Option<VecDeque<Vec<u8>>>,
}

impl Enumeration {
    /// Forget any enumeration in progress.
    pub fn clear(&mut self) {
        *self = Enumeration::default();
    }
}

/// authenticatorCredentialManagement as the authenticator dispatches it (0x0A and 0x41).
pub fn handle(auth: &mut Authenticator, params: &[u8]) -> CtapResult {
    let params = Params::parse(params)?;
    let Authenticator {
        device,
        pin_uv,
        cred_enumeration,
        config,
        ..
    } = auth;
    let Device::Ready(store) = device else {
        return Err(CtapError::IntegrityFailure);
    };
    CredentialManagement {
        pin_uv,
        store,
        enumeration: cred_enumeration,
        max_credentials: config.max_discoverable_credentials,
    }
    .handle(&params)
}

/// What credentialManagement works on.
pub struct CredentialManagement<'a> {
    pub pin_uv: &'a mut PinUv,
    pub store: &'a mut Store,
    pub enumeration: &'a mut Enumeration,
    /// How many discoverable credentials the device holds at most.
    pub max_credentials: usize,
}

impl CredentialManagement<'_> {
    /// Handle one request; returns the CBOR response payload.
    pub fn handle(&mut self, params: &Params) -> CtapResult {
        let sub = SubCommand::try_from(params.required(key::SUB_COMMAND, as_u8)?)?;
        let sub_params = params.optional(key::SUB_COMMAND_PARAMS, as_map)?;
        match sub {
            SubCommand::EnumerateRpsGetNextRp => return self.next_rp(),
            SubCommand::EnumerateCredentialsGetNextCredential => return self.next_credential(),
            _ => {}
        }
        self.authorize(sub, params)?;
        match sub {
            SubCommand::GetCredsMetadata => self.metadata(),
            SubCommand::EnumerateRpsBegin => self.begin_rps(),
            SubCommand::EnumerateCredentialsBegin => self.begin_credentials(sub_params),
            SubCommand::DeleteCredential => self.delete(sub_params),
            SubCommand::UpdateUserInformation => self.update_user(sub_params),
            SubCommand::EnumerateRpsGetNextRp
            | SubCommand::EnumerateCredentialsGetNextCredential => {
                unreachable!("handled above")
            }
        }
    }

    /// Check the pinUvAuthParam over `subCommand || subCommandParams` with the cm permission.
    /// The RP rule per subcommand is applied where the RP is known ([`Self::check_rp`]).
    fn authorize(&mut self, sub: SubCommand, params: &Params) -> Result<(), CtapError> {
        let auth_param = params
            .optional(key::PIN_UV_AUTH_PARAM, as_bytes)?
            .ok_or(CtapError::PinRequired)?;
        let protocol = params.required(key::PROTOCOL, as_u8)?;
        let mut message = vec![sub as u8];
        if let Some(sub_params) = params.map().get(key::SUB_COMMAND_PARAMS) {
            ciborium::into_writer(sub_params, &mut message).expect("writing to a Vec cannot fail");
        }
        self.pin_uv
            .authorize(protocol, &message, auth_param, Permission::CM)?;
        // Metadata and the RP list span all RPs: an RP-bound token may not see them.
        if matches!(
            sub,
            SubCommand::GetCredsMetadata | SubCommand::EnumerateRpsBegin
        ) && self.pin_uv.token_rp_id().is_some()
        {
            return Err(CtapError::PinAuthInvalid);
        }
        Ok(())
    }

    /// An RP-bound token only reaches credentials of its RP.
    fn check_rp(&mut self, rp_id_hash: &[u8]) -> Result<(), CtapError> {
        match self.pin_uv.token_rp_id() {
            Some(bound) if Sha256::digest(bound.as_bytes()).as_slice() != rp_id_hash => {
                Err(CtapError::PinAuthInvalid)
            }
            _ => Ok(()),
        }
    }

    fn credentials(&self) -> &[CredentialRecord] {
        &self.store.state().credentials
    }

    fn metadata(&mut self) -> CtapResult {
        let count = self.credentials().len();
        Ok(MapBuilder::new()
            .insert(out::EXISTING_COUNT, count as u64)
            .insert(
                out::REMAINING_COUNT,
                self.max_credentials.saturating_sub(count) as u64,
            )
            .encode())
    }

    fn begin_rps(&mut self) -> CtapResult {
        let mut rps: Vec<String> = Vec::new();
        for record in self.credentials() {
            if !rps.contains(&record.rp_id) {
                rps.push(record.rp_id.clone());
            }
        }
        let total = rps.len();
        let mut rps = VecDeque::from(rps);
        let first = rps.pop_front().ok_or(CtapError::NoCredentials)?;
        self.enumeration.rps = Some(rps);
        Ok(self
            .rp_entry(&first)
            .insert(out::TOTAL_RPS, total as u64)
            .encode())
    }

    fn next_rp(&mut self) -> CtapResult {
        loop {
            let rp_id = self
                .enumeration
                .rps
                .as_mut()
                .and_then(VecDeque::pop_front)
                .ok_or(CtapError::NotAllowed)?;
            // An RP whose credentials were all deleted since the enumeration began is skipped.
            if self.credentials().iter().any(|c| c.rp_id == rp_id) {
                return Ok(self.rp_entry(&rp_id).encode());
            }
        }
    }

    /// rp {id, name?} and rpIDHash for one RP (the name from its newest credential).
    fn rp_entry(&self, rp_id: &str) -> MapBuilder {
        let name = self
            .credentials()
            .iter()
            .filter(|c| c.rp_id == rp_id)
            .max_by_key(|c| c.created)
            .and_then(|c| c.rp_name.clone());
        let rp = MapBuilder::new()
            .insert("id", rp_id)
            .insert_opt("name", name);
        MapBuilder::new().insert(out::RP, rp.build()).insert(
            out::RP_ID_HASH,
            bytes(Sha256::digest(rp_id.as_bytes()).to_vec()),
        )
    }

    fn begin_credentials(&mut self, sub_params: Option<Map<'_>>) -> CtapResult {
        let sub_params = sub_params.ok_or(CtapError::MissingParameter)?;
        let rp_id_hash = sub_params.required(key::RP_ID_HASH, as_bytes)?;
        self.check_rp(rp_id_hash)?;
        let mut matching: Vec<&CredentialRecord> = self
            .credentials()
            .iter()
            .filter(|c| Sha256::digest(c.rp_id.as_bytes()).as_slice() == rp_id_hash)
            .collect();
        matching.sort_by_key(|c| std::cmp::Reverse(c.created));
        let total = matching.len();
        let mut ids: VecDeque<Vec<u8>> = matching.iter().map(|c| c.id.clone()).collect();
        let first = ids.pop_front().ok_or(CtapError::NoCredentials)?;
        let response = self
            .credential_entry(&first)?
            .insert(out::TOTAL_CREDENTIALS, total as u64);
        self.enumeration.credentials = Some(ids);
        Ok(response.encode())
    }

    fn next_credential(&mut self) -> CtapResult {
        loop {
            let id = self
                .enumeration
                .credentials
                .as_mut()
                .and_then(VecDeque::pop_front)
                .ok_or(CtapError::NotAllowed)?;
            // A credential deleted since the enumeration began is skipped.
            if self.find(&id).is_some() {
                return Ok(self.credential_entry(&id)?.encode());
            }
        }
    }

    fn find(&self, id: &[u8]) -> Option<&CredentialRecord> {
        self.credentials().iter().find(|c| c.id == id)
    }

    /// user, credentialID, publicKey and credProtect of one credential.
    fn credential_entry(&self, id: &[u8]) -> Result<MapBuilder, CtapError> {
        let record = self.find(id).ok_or(CtapError::NoCredentials)?;
        let secret = SecretKey::from_slice(&record.private_key.0).map_err(|_| CtapError::Other)?;
        let public_key = CoseKey::new(secret.public_key(), CoseAlgorithm::Es256);
        Ok(MapBuilder::new()
            .insert(out::USER, user_value(record))
            .insert(out::CREDENTIAL_ID, descriptor(&record.id))
            .insert(out::PUBLIC_KEY, public_key.to_value())
            .insert(out::CRED_PROTECT, record.cred_protect))
    }

    /// The stored credential named by subCommandParams' credentialID descriptor, after the
    /// RP-binding check.
    fn target(&mut self, sub_params: &Map<'_>) -> Result<Vec<u8>, CtapError> {
        let descriptor = sub_params.required(key::CREDENTIAL_ID, as_map)?;
        let id = descriptor.required("id", as_bytes)?.to_vec();
        let rp_id = self
            .find(&id)
            .ok_or(CtapError::NoCredentials)?
            .rp_id
            .clone();
        self.check_rp(&Sha256::digest(rp_id.as_bytes()))?;
        Ok(id)
    }

    fn delete(&mut self, sub_params: Option<Map<'_>>) -> CtapResult {
        let sub_params = sub_params.ok_or(CtapError::MissingParameter)?;
        let id = self.target(&sub_params)?;
        self.store
            .update(|s| s.credentials.retain(|c| c.id != id))
            .map_err(storage_error)?;
        tracing::info!("discoverable credential deleted");
        Ok(Vec::new())
    }

    fn update_user(&mut self, sub_params: Option<Map<'_>>) -> CtapResult {
        let sub_params = sub_params.ok_or(CtapError::MissingParameter)?;
        let id = self.target(&sub_params)?;
        let user = sub_params.required(key::USER, as_map)?;
        let user_id = user.required("id", as_bytes)?;
        let name = user.optional("name", as_text)?.map(str::to_owned);
        let display_name = user.optional("displayName", as_text)?.map(str::to_owned);
        let record = self.find(&id).ok_or(CtapError::NoCredentials)?;
        if record.user_id != user_id {
            return Err(CtapError::InvalidParameter);
        }
        self.store
            .update(|s| {
                if let Some(c) = s.credentials.iter_mut().find(|c| c.id == id) {
                    // Absent fields are removed, as the spec asks: the platform sends the
                    // whole new user entity.
                    c.user_name = name;
                    c.user_display_name = display_name;
                }
            })
            .map_err(storage_error)?;
        tracing::info!("user information updated");
        Ok(Vec::new())
    }
}

/// PublicKeyCredentialUserEntity as stored.
fn user_value(record: &CredentialRecord) -> Value {
    MapBuilder::new()
        .insert("id", bytes(record.user_id.clone()))
        .insert_opt("name", record.user_name.clone())
        .insert_opt("displayName", record.user_display_name.clone())
        .build()
}

/// PublicKeyCredentialDescriptor {id, type: "public-key"}.
fn descriptor(id: &[u8]) -> Value {
    MapBuilder::new()
        .insert("id", bytes(id.to_vec()))
        .insert("type", "public-key")
        .build()
}

#[cfg(test)]
mod tests {
    use rand_core::OsRng;

    use super::*;
    use crate::ctap::cbor;
    use crate::ctap::pin::testing::{decode, field, Device, Platform};
    use crate::ctap::pin::PinProtocol;
    use crate::store::state::SecretKey as StoredKey;

    const PIN: &str = "1234";
    const MAX: usize = 50;

    /// A device with a PIN and some discoverable credentials, plus its credential manager state.
    struct Harness {
        device: Device,
        enumeration: Enumeration,
        platform: Platform,
    }

    fn record(id: u8, rp_id: &str, user: &str, created: u64) -> CredentialRecord {
        CredentialRecord {
            id: vec![id; 16],
            rp_id: rp_id.into(),
            rp_name: Some(format!("{rp_id} name")),
            user_id: user.as_bytes().to_vec(),
            user_name: Some(user.into()),
            user_display_name: Some(format!("{user} display")),
            private_key: StoredKey(SecretKey::random(&mut OsRng).to_bytes().into()),
            cred_protect: 1,
            hmac_secret: None,
            cred_blob: None,
            created,
            owner: None,
        }
    }

    impl Harness {
        fn new(protocol: PinProtocol) -> Self {
            let mut device = Device::new();
            let platform = Platform::new(protocol);
            platform.set_pin(&mut device, PIN).unwrap();
            Harness {
                device,
                enumeration: Enumeration::default(),
                platform,
            }
        }

        fn with_credentials(protocol: PinProtocol) -> Self {
            let mut h = Harness::new(protocol);
            h.device
                .store
                .update(|s| {
                    s.credentials.push(record(1, "a.example", "alice", 1));
                    s.credentials.push(record(2, "b.example", "bob", 2));
                    s.credentials.push(record(3, "a.example", "carol", 3));
                })
                .unwrap();
            h
        }

        fn token(&mut self, permissions: Permission, rp_id: Option<&str>) -> Vec<u8> {
            self.platform
                .get_token(&mut self.device, PIN, permissions, rp_id)
                .unwrap()
        }

        /// A request for `sub`, authenticated with `token` when given.
        fn request(&self, sub: u8, sub_params: Option<Value>, token: Option<&[u8]>) -> MapBuilder {
            let mut request = MapBuilder::new().insert(1, sub);
            let mut message = vec![sub];
            if let Some(p) = sub_params {
                message.extend(cbor::encode(p.clone()));
                request = request.insert(2, p);
            }
            if let Some(token) = token {
                request = request
                    .insert(3, self.platform.protocol.version())
                    .insert(4, bytes(self.platform.auth(token, &message)));
            }
            request
        }

        fn send(&mut self, request: MapBuilder) -> Result<Value, CtapError> {
            let params = Params::parse(&request.encode())?;
            CredentialManagement {
                pin_uv: &mut self.device.pin_uv,
                store: &mut self.device.store,
                enumeration: &mut self.enumeration,
                max_credentials: MAX,
            }
            .handle(&params)
            .map(|out| decode(&out))
        }

        fn call(
            &mut self,
            sub: u8,
            sub_params: Option<Value>,
            token: &[u8],
        ) -> Result<Value, CtapError> {
            let request = self.request(sub, sub_params, Some(token));
            self.send(request)
        }
    }

    fn each_protocol(test: impl Fn(PinProtocol)) {
        PinProtocol::ALL.into_iter().for_each(test);
    }

    fn rp_hash(rp_id: &str) -> Value {
        bytes(Sha256::digest(rp_id.as_bytes()).to_vec())
    }

    fn hash_params(rp_id: &str) -> Option<Value> {
        Some(MapBuilder::new().insert(1, rp_hash(rp_id)).build())
    }

    fn cred_params(id: u8) -> MapBuilder {
        MapBuilder::new().insert(2, descriptor(&[id; 16]))
    }

    fn int(v: &Value) -> u64 {
        u64::try_from(v.as_integer().unwrap()).unwrap()
    }

    fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
        v.as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .and_then(|(_, v)| v.as_text())
    }

    #[test]
    fn metadata_counts_credentials() {
        each_protocol(|p| {
            let mut h = Harness::new(p);
            let token = h.token(Permission::CM, None);
            let r = h.call(0x01, None, &token).unwrap();
            assert_eq!((int(field(&r, 1)), int(field(&r, 2))), (0, MAX as u64));
            let mut h = Harness::with_credentials(p);
            let token = h.token(Permission::CM, None);
            let r = h.call(0x01, None, &token).unwrap();
            assert_eq!((int(field(&r, 1)), int(field(&r, 2))), (3, MAX as u64 - 3));
        });
    }

    #[test]
    fn authorization_errors() {
        each_protocol(|p| {
            let mut h = Harness::with_credentials(p);
            assert_eq!(
                h.send(MapBuilder::new().insert(1, 1)),
                Err(CtapError::PinRequired)
            );
            let token = h.token(Permission::CM, None);
            let no_protocol = MapBuilder::new()
                .insert(1, 1)
                .insert(4, bytes(h.platform.auth(&token, &[1])));
            assert_eq!(h.send(no_protocol), Err(CtapError::MissingParameter));
            // MAC over the wrong subcommand.
            let wrong = MapBuilder::new()
                .insert(1, 1)
                .insert(3, p.version())
                .insert(4, bytes(h.platform.auth(&token, &[2])));
            assert_eq!(h.send(wrong), Err(CtapError::PinAuthInvalid));
            assert_eq!(
                h.send(MapBuilder::new().insert(1, 9)),
                Err(CtapError::InvalidSubcommand)
            );
            // A token without cm.
            let token = h.token(Permission::GA, Some("a.example"));
            assert_eq!(h.call(0x01, None, &token), Err(CtapError::PinAuthInvalid));
            // An RP-bound cm token sees neither metadata nor the RP list.
            let token = h.token(Permission::CM, Some("a.example"));
            assert_eq!(h.call(0x01, None, &token), Err(CtapError::PinAuthInvalid));
            assert_eq!(h.call(0x02, None, &token), Err(CtapError::PinAuthInvalid));
        });
    }

    #[test]
    fn enumerates_rps() {
        each_protocol(|p| {
            let mut h = Harness::new(p);
            let token = h.token(Permission::CM, None);
            assert_eq!(h.call(0x02, None, &token), Err(CtapError::NoCredentials));
            assert_eq!(
                h.send(MapBuilder::new().insert(1, 3)),
                Err(CtapError::NotAllowed)
            );

            let mut h = Harness::with_credentials(p);
            let token = h.token(Permission::CM, None);
            let first = h.call(0x02, None, &token).unwrap();
            assert_eq!(int(field(&first, 5)), 2);
            assert_eq!(text(field(&first, 3), "id"), Some("a.example"));
            assert_eq!(text(field(&first, 3), "name"), Some("a.example name"));
            assert_eq!(field(&first, 4), &rp_hash("a.example"));
            // GetNext needs no token.
            let second = h.send(MapBuilder::new().insert(1, 3)).unwrap();
            assert_eq!(text(field(&second, 3), "id"), Some("b.example"));
            assert_eq!(field(&second, 4), &rp_hash("b.example"));
            assert!(second
                .as_map()
                .unwrap()
                .iter()
                .all(|(k, _)| k != &Value::from(5)));
            assert_eq!(
                h.send(MapBuilder::new().insert(1, 3)),
                Err(CtapError::NotAllowed)
            );
        });
    }

    #[test]
    fn enumerates_credentials_of_an_rp() {
        each_protocol(|p| {
            let mut h = Harness::with_credentials(p);
            let token = h.token(Permission::CM, None);
            assert_eq!(h.call(0x04, None, &token), Err(CtapError::MissingParameter));
            assert_eq!(
                h.call(0x04, hash_params("c.example"), &token),
                Err(CtapError::NoCredentials)
            );
            let first = h.call(0x04, hash_params("a.example"), &token).unwrap();
            assert_eq!(int(field(&first, 9)), 2);
            // Newest first.
            assert_eq!(text(field(&first, 6), "name"), Some("carol"));
            assert_eq!(field(&first, 7), &descriptor(&[3; 16]));
            assert_eq!(int(field(&first, 10)), 1);
            let stored = &h.device.store.state().credentials[2];
            let secret = SecretKey::from_slice(&stored.private_key.0).unwrap();
            let key = CoseKey::from_value(field(&first, 8), CoseAlgorithm::Es256).unwrap();
            assert_eq!(key.key, secret.public_key());
            let second = h.send(MapBuilder::new().insert(1, 5)).unwrap();
            assert_eq!(text(field(&second, 6), "name"), Some("alice"));
            assert_eq!(
                text(field(&second, 6), "displayName"),
                Some("alice display")
            );
            assert_eq!(
                h.send(MapBuilder::new().insert(1, 5)),
                Err(CtapError::NotAllowed)
            );
        });
    }

    #[test]
    fn rp_bound_token_reaches_only_its_rp() {
        each_protocol(|p| {
            let mut h = Harness::with_credentials(p);
            let token = h.token(Permission::CM, Some("a.example"));
            h.call(0x04, hash_params("a.example"), &token).unwrap();
            assert_eq!(
                h.call(0x04, hash_params("b.example"), &token),
                Err(CtapError::PinAuthInvalid)
            );
            assert_eq!(
                h.call(0x06, Some(cred_params(2).build()), &token),
                Err(CtapError::PinAuthInvalid)
            );
            h.call(0x06, Some(cred_params(1).build()), &token).unwrap();
            assert_eq!(h.device.store.state().credentials.len(), 2);
        });
    }

    #[test]
    fn deletes_credentials() {
        each_protocol(|p| {
            let mut h = Harness::with_credentials(p);
            let token = h.token(Permission::CM, None);
            assert_eq!(h.call(0x06, None, &token), Err(CtapError::MissingParameter));
            // Enumerate a.example, then delete the second before reaching it: it is skipped.
            h.call(0x04, hash_params("a.example"), &token).unwrap();
            h.call(0x06, Some(cred_params(1).build()), &token).unwrap();
            assert_eq!(
                h.send(MapBuilder::new().insert(1, 5)),
                Err(CtapError::NotAllowed)
            );
            assert_eq!(
                h.call(0x06, Some(cred_params(1).build()), &token),
                Err(CtapError::NoCredentials)
            );
            let ids: Vec<u8> = h
                .device
                .store
                .state()
                .credentials
                .iter()
                .map(|c| c.id[0])
                .collect();
            assert_eq!(ids, [2, 3]);
            let r = h.call(0x01, None, &token).unwrap();
            assert_eq!(int(field(&r, 1)), 2);
            // Left: 2 (b.example), 3 (a.example). The RP list starts with b.example; deleting
            // a.example's last credential takes it off the rest of the list.
            let first = h.call(0x02, None, &token).unwrap();
            assert_eq!(text(field(&first, 3), "id"), Some("b.example"));
            h.call(0x06, Some(cred_params(3).build()), &token).unwrap();
            assert_eq!(
                h.send(MapBuilder::new().insert(1, 3)),
                Err(CtapError::NotAllowed)
            );
        });
    }

    #[test]
    fn updates_user_information() {
        each_protocol(|p| {
            let mut h = Harness::with_credentials(p);
            let token = h.token(Permission::CM, None);
            let user = |id: &str| {
                MapBuilder::new()
                    .insert("id", bytes(id.as_bytes().to_vec()))
                    .insert("name", "alice2")
            };
            let wrong_user = cred_params(1).insert(3, user("mallory").build()).build();
            assert_eq!(
                h.call(0x07, Some(wrong_user), &token),
                Err(CtapError::InvalidParameter)
            );
            assert_eq!(
                h.call(0x07, Some(cred_params(1).build()), &token),
                Err(CtapError::MissingParameter)
            );
            let update = cred_params(1).insert(3, user("alice").build()).build();
            h.call(0x07, Some(update), &token).unwrap();
            let stored = &h.device.store.state().credentials[0];
            assert_eq!(stored.user_name.as_deref(), Some("alice2"));
            assert_eq!(stored.user_display_name, None);
            let missing = cred_params(9).insert(3, user("alice").build()).build();
            assert_eq!(
                h.call(0x07, Some(missing), &token),
                Err(CtapError::NoCredentials)
            );
        });
    }
}
