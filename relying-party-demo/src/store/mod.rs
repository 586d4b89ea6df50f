//! Persistent state of the relying party behind one trait, so the embedded SQLite store can be
//! swapped for a shared database (PostgreSQL) when several instances serve one site.

mod pending;
mod session_cache;
pub mod shop;
mod sqlite;

pub use shop::Shop;
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
    /// Too many ceremonies in progress at once (see `pending::MAX_PENDING_TOTAL`).
    #[error("too many sign-ins in progress")]
    Busy,
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
    /// The shop's member number, assigned by the store at creation (what a loyalty card or
    /// badge carries; the terminal's bio enrollment is named after it).
    pub member_no: i64,
}

impl Account {
    /// "M-1001"
    pub fn member_id(&self) -> String {
        format!("M-{}", self.member_no)
    }
}

/// An account about to be created (the store assigns its member number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
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
    /// Backup eligible (BE flag at registration): a synced passkey rather than a device-bound one.
    pub backup_eligible: bool,
    /// Backed up (BS flag), as of the latest registration or sign-in.
    pub backup_state: bool,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CeremonyKind {
    Registration,
    Authentication,
    /// An in-store payment authorisation at the POS terminal.
    Payment,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Registration => "registration",
            CeremonyKind::Authentication => "authentication",
            CeremonyKind::Payment => "payment",
        }
    }
}

/// What deleting a passkey did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyRemoval {
    Removed,
    /// No such passkey on this account.
    NotFound,
    /// Refused: an account without passkeys could never sign in again (there is no password).
    LastPasskey,
}

/// Pending ceremonies of one kind a session may hold at once.
pub const MAX_PENDING_CEREMONIES: usize = 4;

/// What `take_ceremony` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakenCeremony {
    /// Pending and in time: its serialized state (now deleted: a challenge is used once).
    Pending(String),
    /// It existed but its deadline had passed (also deleted).
    Expired,
    /// Nothing pending for that challenge: never issued, already used, or dropped.
    Missing,
}

/// What a ceremony's `/finish` reads before verifying an assertion, in one store call.
#[derive(Debug, Clone)]
pub struct PendingAssertion {
    /// The session's pending ceremony for the answered challenge. It is *not* consumed
    /// here: [`Store::conclude_assertion`] consumes it in the same transaction that records
    /// the outcome, so a challenge still answers at most once (see there).
    pub ceremony: TakenCeremony,
    /// The presented credential's passkey, if it is registered.
    pub passkey: Option<PasskeyRecord>,
}

/// What checking an assertion decided.
#[derive(Debug, Clone, Copy)]
pub enum AssertionVerdict<'a> {
    /// It verified: store the passkey's new state. `counter` is the signature counter it
    /// carried; the store only ever moves the stored counter forward.
    Verified {
        passkey_json: &'a str,
        counter: u32,
        backup_state: bool,
    },
    /// The signature counter did not move forward (a possible clone): flag the passkey.
    CounterRegression,
    /// Signature, origin, RP ID, flags or challenge did not verify.
    Rejected,
}

/// Everything a ceremony's `/finish` persists, written by [`Store::conclude_assertion`] as
/// one transaction.
#[derive(Debug, Clone, Copy)]
pub struct AssertionOutcome<'a> {
    pub session: &'a [u8; 32],
    pub kind: CeremonyKind,
    /// The answered challenge (base64url), consumed by this transaction.
    pub challenge: &'a str,
    pub credential_id: &'a [u8],
    pub verdict: AssertionVerdict<'a>,
    /// The entry for the account's sign-in history.
    pub history: &'a SignInRecord,
    /// Sign-in: `session` is replaced by this one (as [`Store::replace_session`] does).
    pub new_session: Option<&'a SessionRecord>,
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
///
/// # A PostgreSQL implementation
/// Several web instances behind a load balancer need one shared database; what a
/// `PostgresStore` (e.g. on `postgres` + `r2d2`, or `sqlx`) must keep:
/// - the same schema, with `BYTEA` for blobs, `TIMESTAMPTZ` or `BIGINT` ms for times, a
///   `SEQUENCE` for `accounts.member_no`, `BIGSERIAL` for order/payment ids;
/// - pending ceremonies in a table, so any instance can finish a ceremony another one started
///   (the SQLite store, whose database one process owns, keeps them in that process's memory
///   and saves a write transaction per `/start`), with `take_ceremony` as one
///   `DELETE … RETURNING` (single use under concurrency);
/// - `conclude_assertion`'s passkey update as a compare-and-set on the stored counter
///   (its own column, as in the SQLite store), so concurrent sign-ins never move it backwards;
/// - `conclude_assertion` as one transaction that starts with the `DELETE` of the challenge
///   and rolls back when it deleted nothing (under `READ COMMITTED` the second of two
///   concurrent `DELETE`s of one row waits for the first and then deletes nothing, so one
///   challenge still concludes once);
/// - `register_passkey`, `delete_passkey` and `place_order` in one transaction each
///   (`SERIALIZABLE`, or `SELECT … FOR UPDATE` on the account row for the last-passkey rule);
/// - the rate limiter is per process; several instances would move it to the database or a
///   shared cache.
pub trait Store: shop::Shop + Send + Sync + 'static {
    /// Store a newly registered passkey, creating its account in the same transaction when
    /// `new_account` is given (an abandoned or failed registration leaves nothing behind).
    fn register_passkey(
        &self,
        new_account: Option<&NewAccount>,
        passkey: &PasskeyRecord,
    ) -> StoreResult<()>;
    fn account(&self, id: Uuid) -> StoreResult<Option<Account>>;

    fn passkey(&self, credential_id: &[u8]) -> StoreResult<Option<PasskeyRecord>>;
    fn passkeys_of(&self, account: Uuid) -> StoreResult<Vec<PasskeyRecord>>;
    /// Rename one of `account`'s passkeys; false when it has no such passkey.
    fn rename_passkey(&self, account: Uuid, credential_id: &[u8], name: &str) -> StoreResult<bool>;
    /// Delete one of `account`'s passkeys, unless it is the last one.
    fn delete_passkey(&self, account: Uuid, credential_id: &[u8]) -> StoreResult<PasskeyRemoval>;

    fn sign_ins_of(&self, account: Uuid, limit: usize) -> StoreResult<Vec<SignInRecord>>;

    fn insert_session(&self, session: &SessionRecord) -> StoreResult<()>;
    /// The session if it exists and has not expired.
    fn session(
        &self,
        id_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>>;
    fn delete_session(&self, id_hash: &[u8; 32]) -> StoreResult<()>;
    /// Sign-in: store `new`, carry the basket over from `old`, and delete `old` with its
    /// pending ceremonies — one transaction.
    fn replace_session(&self, old: &[u8; 32], new: &SessionRecord) -> StoreResult<()>;

    /// Store a pending ceremony of a session under its challenge (base64url). A session may
    /// have a few pending at once (two tabs, an autofill request and a button press); the
    /// oldest beyond [`MAX_PENDING_CEREMONIES`] per kind are dropped.
    fn put_ceremony(
        &self,
        session: &[u8; 32],
        kind: CeremonyKind,
        challenge: &str,
        state: &str,
        expires: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Remove and return the session's pending ceremony of `kind` for `challenge` (single use).
    fn take_ceremony(
        &self,
        session: &[u8; 32],
        kind: CeremonyKind,
        challenge: &str,
        now: OffsetDateTime,
    ) -> StoreResult<TakenCeremony>;

    /// `/finish`, before verifying: the session's pending ceremony of `kind` for `challenge`
    /// (read, not consumed) and the passkey of `credential_id`.
    fn pending_assertion(
        &self,
        session: &[u8; 32],
        kind: CeremonyKind,
        challenge: &str,
        credential_id: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<PendingAssertion>;
    /// `/finish`, after verifying: consume the challenge and record the outcome (passkey
    /// counter, backup state and last use, or its regression flag; the history entry; the
    /// session rotation of a sign-in) in **one transaction**. Returns false, having written
    /// nothing, when the challenge was no longer pending — a concurrent finish with the same
    /// challenge concluded first — so of two racing answers exactly one takes effect.
    fn conclude_assertion(&self, outcome: &AssertionOutcome<'_>) -> StoreResult<bool>;

    /// Delete expired sessions and ceremonies; returns how many rows went.
    fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<usize>;
}
