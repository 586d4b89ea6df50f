//! Persistent state of the relying party behind one trait, so the embedded SQLite store can be
//! swapped for a shared database (PostgreSQL) when several instances serve one site.

mod sqlite;

pub use sqlite::SqliteStore;

use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("that credential is already registered")]
    DuplicateCredential,
    #[error("the store is poisoned by a panic in another request")]
    Poisoned,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A person with an account. Usernameless: the passkey's user handle (`id`) is the identity;
/// the display name is only for showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub display_name: String,
    pub created: OffsetDateTime,
}

/// One registered passkey and what the account page shows about it.
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    pub credential_id: Vec<u8>,
    pub account: Uuid,
    /// webauthn-rs's `Passkey` (public key, counter, flags) as JSON.
    pub passkey_json: String,
    pub name: String,
    pub aaguid: Uuid,
    pub user_verified: bool,
    pub created: OffsetDateTime,
    pub last_used: Option<OffsetDateTime>,
    /// When an assertion's signature counter did not move forward (a possible clone).
    pub counter_regression: Option<OffsetDateTime>,
}

/// A server-side session. The cookie carries a random ID; only its SHA-256 is stored.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id_hash: [u8; 32],
    pub account: Option<Uuid>,
    pub csrf_token: String,
    pub expires: OffsetDateTime,
}

/// Which WebAuthn ceremony a pending challenge belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    Registration,
    Authentication,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Registration => "registration",
            CeremonyKind::Authentication => "authentication",
        }
    }
}

/// What `take_ceremony` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakenCeremony {
    /// Pending and in time: its serialized state (now deleted: a challenge is used once).
    Pending(String),
    /// It existed but its deadline had passed (also deleted).
    Expired,
    /// Nothing pending: never started, already used, or replaced by a newer start.
    Missing,
}

/// One sign-in attempt for the account's history.
#[derive(Debug, Clone)]
pub struct SignInRecord {
    pub account: Uuid,
    pub credential_id: Vec<u8>,
    pub at: OffsetDateTime,
    pub outcome: String,
}

/// Everything the web app persists. Methods are synchronous: the SQLite store answers in
/// microseconds; a networked implementation would run them on a blocking pool.
pub trait Store: Send + Sync + 'static {
    /// Store a newly registered passkey, creating its account in the same transaction when
    /// `new_account` is given (an abandoned or failed registration leaves nothing behind).
    fn register_passkey(
        &self,
        new_account: Option<&Account>,
        passkey: &PasskeyRecord,
    ) -> StoreResult<()>;
    fn account(&self, id: Uuid) -> StoreResult<Option<Account>>;

    fn passkey(&self, credential_id: &[u8]) -> StoreResult<Option<PasskeyRecord>>;
    fn passkeys_of(&self, account: Uuid) -> StoreResult<Vec<PasskeyRecord>>;
    /// After a verified assertion: the updated `Passkey` JSON (new counter) and last use.
    fn record_passkey_use(
        &self,
        credential_id: &[u8],
        passkey_json: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()>;
    fn flag_counter_regression(&self, credential_id: &[u8], at: OffsetDateTime) -> StoreResult<()>;

    fn record_sign_in(&self, record: &SignInRecord) -> StoreResult<()>;
    fn sign_ins_of(&self, account: Uuid, limit: usize) -> StoreResult<Vec<SignInRecord>>;

    fn insert_session(&self, session: &SessionRecord) -> StoreResult<()>;
    /// The session if it exists and has not expired.
    fn session(
        &self,
        id_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>>;
    fn delete_session(&self, id_hash: &[u8; 32]) -> StoreResult<()>;

    /// Store a pending ceremony for a session, replacing any earlier one of the same kind.
    fn put_ceremony(
        &self,
        session: &[u8; 32],
        kind: CeremonyKind,
        state: &str,
        expires: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Remove and return the session's pending ceremony of `kind` (single use).
    fn take_ceremony(
        &self,
        session: &[u8; 32],
        kind: CeremonyKind,
        now: OffsetDateTime,
    ) -> StoreResult<TakenCeremony>;

    /// Delete expired sessions and ceremonies; returns how many rows went.
    fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<usize>;
}
