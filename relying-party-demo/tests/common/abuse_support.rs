//! Support for tests/abuse.rs: a site whose SQLite file can be dumped whole (so a test can
//! prove an attack changed no row), and a software passkey whose every signed byte the test
//! controls (RP ID hash, origin, counter), so each check of the relying party is exercised
//! with an otherwise valid signature.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngCore;
use relying_party_demo::{router, AppState, Config, ManualClock, SqliteStore};
use rusqlite::types::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use time::OffsetDateTime;
use webauthn_rs_proto::{
    AuthenticatorAssertionResponseRaw, AuthenticatorAttestationResponseRaw,
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};

use crate::common::{Site, ORIGIN};

/// A [`Site`] on a SQLite file (not in memory), so that a second, read-only connection can
/// dump every table. The rate limit is raised: the attacks below make many ceremony requests
/// from one (unknown) client address within one frozen minute.
pub struct DbSite {
    pub site: Site,
    db: PathBuf,
    _dir: TempDir,
}

impl DbSite {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config {
            ceremony_rate_limit: 100_000,
            ..Config::default()
        };
        let clock = Arc::new(ManualClock::new(
            OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        ));
        let store = Arc::new(SqliteStore::open_in(dir.path()).expect("store"));
        let state = AppState::new(config, store.clone(), clock.clone()).expect("app");
        // The store names its file; find it rather than repeat the name here.
        let db = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "sqlite3"))
            .expect("the store's SQLite file");
        DbSite {
            site: Site {
                app: router(state.clone()),
                state,
                clock,
                store,
            },
            db,
            _dir: dir,
        }
    }

    /// Every row of every table, as committed now.
    pub fn snapshot(&self) -> Snapshot {
        let conn = rusqlite::Connection::open_with_flags(
            &self.db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("read-only connection");
        let tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut snapshot = Snapshot::default();
        for table in tables {
            let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
            let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
            let mut rows: Vec<Row> = stmt
                .query_map([], |r| {
                    let mut row = Row::default();
                    for (i, c) in columns.iter().enumerate() {
                        row.0.insert(c.clone(), r.get::<_, Value>(i)?);
                    }
                    Ok(row)
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            rows.sort_by_key(|r| format!("{r:?}"));
            snapshot.0.insert(table, rows);
        }
        snapshot
    }
}

impl Default for DbSite {
    fn default() -> Self {
        Self::new()
    }
}

/// One row: column → value.
#[derive(Clone, Default, PartialEq)]
pub struct Row(pub BTreeMap<String, Value>);

impl Row {
    pub fn text(&self, column: &str) -> String {
        match self.0.get(column) {
            Some(Value::Text(t)) => t.clone(),
            other => panic!("column {column} is not text: {other:?}"),
        }
    }

    pub fn blob(&self, column: &str) -> Vec<u8> {
        match self.0.get(column) {
            Some(Value::Blob(b)) => b.clone(),
            other => panic!("column {column} is not a blob: {other:?}"),
        }
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let v = match v {
                    Value::Blob(b) => format!("x'{}'", hex::encode(b)),
                    other => format!("{other:?}"),
                };
                (k, v)
            }))
            .finish()
    }
}

/// The whole database: table → rows (in a stable order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot(pub BTreeMap<String, Vec<Row>>);

impl Snapshot {
    pub fn rows(&self, table: &str) -> &[Row] {
        self.0.get(table).map_or(&[], Vec::as_slice)
    }

    /// What changed from `self` to `after`, per table.
    pub fn diff(&self, after: &Snapshot) -> Diff {
        let mut diff = Diff::default();
        let tables: std::collections::BTreeSet<&String> =
            self.0.keys().chain(after.0.keys()).collect();
        for table in tables {
            let before = self.rows(table);
            let now = after.rows(table);
            let removed: Vec<Row> = before
                .iter()
                .filter(|r| !now.contains(r))
                .cloned()
                .collect();
            let added: Vec<Row> = now
                .iter()
                .filter(|r| !before.contains(r))
                .cloned()
                .collect();
            if !removed.is_empty() || !added.is_empty() {
                diff.0.insert(table.clone(), (removed, added));
            }
        }
        diff
    }
}

/// Rows removed and rows added, per table that changed.
#[derive(Debug, Default)]
pub struct Diff(pub BTreeMap<String, (Vec<Row>, Vec<Row>)>);

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn tables(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }

    pub fn removed(&self, table: &str) -> &[Row] {
        self.0.get(table).map_or(&[], |(r, _)| r.as_slice())
    }

    pub fn added(&self, table: &str) -> &[Row] {
        self.0.get(table).map_or(&[], |(_, a)| a.as_slice())
    }
}

/// SHA-256 of a session cookie's value: how the store keys the session.
pub fn session_hash(cookie: &str) -> Vec<u8> {
    Sha256::digest(cookie.as_bytes()).to_vec()
}

/// authenticatorData flags: user present, user verified, attested credential data.
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

/// A software discoverable credential (P-256, "none" attestation). Its fields are public so a
/// test can sign exactly the lie it wants to check.
pub struct SoftKey {
    key: SigningKey,
    pub id: Vec<u8>,
    pub user_handle: Vec<u8>,
    /// The last counter value signed; the next assertion signs `counter + 1`.
    pub counter: u32,
    /// Signed into authenticatorData (normally SHA-256 of the RP ID).
    pub rp_id_hash: [u8; 32],
    /// Written into clientDataJSON.
    pub origin: String,
}

impl SoftKey {
    /// Answer registration `options` from the site's own origin.
    pub fn register(options: &CreationChallengeResponse) -> (Self, RegisterPublicKeyCredential) {
        let pk = &options.public_key;
        let mut id = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut id);
        let key = SoftKey {
            key: SigningKey::random(&mut rand::thread_rng()),
            id,
            user_handle: pk.user.id.clone(),
            counter: 0,
            rp_id_hash: Sha256::digest(pk.rp.id.as_bytes()).into(),
            origin: ORIGIN.into(),
        };
        let client_data = key.client_data("webauthn.create", &pk.challenge);
        let mut auth_data = key.auth_data(UP | UV | AT);
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID: none
        auth_data.extend_from_slice(&(key.id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&key.id);
        auth_data.extend_from_slice(&key.cose_public_key());
        let object = ciborium::Value::Map(vec![
            (text("fmt"), text("none")),
            (text("attStmt"), ciborium::Value::Map(vec![])),
            (text("authData"), ciborium::Value::Bytes(auth_data)),
        ]);
        let mut attestation_object = Vec::new();
        ciborium::into_writer(&object, &mut attestation_object).unwrap();
        let answer = RegisterPublicKeyCredential {
            id: URL_SAFE_NO_PAD.encode(&key.id),
            raw_id: key.id.clone(),
            response: AuthenticatorAttestationResponseRaw {
                attestation_object,
                client_data_json: client_data,
                transports: None,
            },
            type_: "public-key".into(),
            extensions: Default::default(),
        };
        (key, answer)
    }

    /// Sign the challenge of sign-in `options` with the next counter value, as configured.
    pub fn assert(&mut self, options: &RequestChallengeResponse) -> PublicKeyCredential {
        self.counter += 1;
        self.sign_assertion(&options.public_key.challenge)
    }

    /// Sign an assertion for `challenge` (no counter step).
    pub fn sign_assertion(&self, challenge: &[u8]) -> PublicKeyCredential {
        let client_data = self.client_data("webauthn.get", challenge);
        let auth_data = self.auth_data(UP | UV);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = self.key.sign(&signed);
        PublicKeyCredential {
            id: URL_SAFE_NO_PAD.encode(&self.id),
            raw_id: self.id.clone(),
            response: AuthenticatorAssertionResponseRaw {
                authenticator_data: auth_data,
                client_data_json: client_data,
                signature: signature.to_der().as_bytes().to_vec(),
                user_handle: Some(self.user_handle.clone()),
            },
            extensions: Default::default(),
            type_: "public-key".into(),
        }
    }

    fn client_data(&self, kind: &str, challenge: &[u8]) -> Vec<u8> {
        serde_json::json!({
            "type": kind,
            "challenge": URL_SAFE_NO_PAD.encode(challenge),
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    fn auth_data(&self, flags: u8) -> Vec<u8> {
        let mut data = self.rp_id_hash.to_vec();
        data.push(flags);
        data.extend_from_slice(&self.counter.to_be_bytes());
        data
    }

    /// COSE_Key: EC2, ES256, P-256, x, y.
    fn cose_public_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_encoded_point(false);
        let int = |i: i64| ciborium::Value::Integer(i.into());
        let key = ciborium::Value::Map(vec![
            (int(1), int(2)),
            (int(3), int(-7)),
            (int(-1), int(1)),
            (int(-2), ciborium::Value::Bytes(point.x().unwrap().to_vec())),
            (int(-3), ciborium::Value::Bytes(point.y().unwrap().to_vec())),
        ]);
        let mut out = Vec::new();
        ciborium::into_writer(&key, &mut out).unwrap();
        out
    }
}

fn text(s: &str) -> ciborium::Value {
    ciborium::Value::Text(s.into())
}
