//! The embedded default store: one SQLite file in the data folder, schema versioned by a
//! `schema_migrations` table and migrated forward at open.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Account, AssertionOutcome, AssertionVerdict, CeremonyKind, NewAccount, PasskeyRecord,
    PasskeyRemoval, PendingAssertion, SessionRecord, SignInRecord, Store, StoreError, StoreResult,
    TakenCeremony,
};
use crate::store::pending::PendingCeremonies;
use crate::store::session_cache::SessionCache;

mod shop;

/// Forward-only schema steps; a step's index + 1 is its version. Never edit a shipped step:
/// append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: accounts, passkeys, sessions, pending ceremonies, sign-in history
    "CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE passkeys (
        credential_id BLOB PRIMARY KEY,
        account TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        passkey_json TEXT NOT NULL,
        name TEXT NOT NULL,
        aaguid TEXT NOT NULL,
        user_verified INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        last_used_ms INTEGER,
        counter_regression_ms INTEGER
    );
    CREATE INDEX passkeys_by_account ON passkeys(account);
    CREATE TABLE sessions (
        id_hash BLOB PRIMARY KEY,
        account TEXT REFERENCES accounts(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE TABLE ceremonies (
        session BLOB NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        expires_ms INTEGER NOT NULL,
        PRIMARY KEY (session, kind)
    );
    CREATE TABLE sign_ins (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        credential_id BLOB NOT NULL,
        at_ms INTEGER NOT NULL,
        outcome TEXT NOT NULL
    );
    CREATE INDEX sign_ins_by_account ON sign_ins(account, at_ms);",
    // 2: member numbers, passkey backup flags, the shop (catalog, payment methods, baskets,
    //    orders, the payments ledger)
    "ALTER TABLE accounts ADD COLUMN member_no INTEGER;
    UPDATE accounts SET member_no = 1000 + rowid;
    CREATE UNIQUE INDEX accounts_by_member_no ON accounts(member_no);
    ALTER TABLE passkeys ADD COLUMN backup_eligible INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE passkeys ADD COLUMN backup_state INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE products (
        sku TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        price_cents INTEGER NOT NULL CHECK (price_cents > 0),
        position INTEGER NOT NULL
    );
    INSERT INTO products (sku, name, price_cents, position) VALUES
        ('COFFEE', 'Coffee beans, 250 g', 749, 1),
        ('CROISSANT', 'Butter croissant', 185, 2),
        ('OAT-MILK', 'Oat milk, 1 l', 229, 3),
        ('APPLES', 'Apples, 1 kg', 319, 4),
        ('TOTE-BAG', 'Canvas tote bag', 450, 5);
    CREATE TABLE payment_methods (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        token TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL,
        last4 TEXT NOT NULL CHECK (length(last4) = 4),
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX payment_methods_by_account ON payment_methods(account);
    CREATE TABLE baskets (
        session BLOB NOT NULL,
        sku TEXT NOT NULL REFERENCES products(sku),
        qty INTEGER NOT NULL CHECK (qty > 0),
        PRIMARY KEY (session, sku)
    );
    CREATE TABLE orders (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        channel TEXT NOT NULL CHECK (channel IN ('online', 'pos')),
        total_cents INTEGER NOT NULL,
        terminal_session BLOB,
        credential_id BLOB,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX orders_by_account ON orders(account, created_ms);
    CREATE TABLE order_lines (
        order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
        sku TEXT NOT NULL,
        name TEXT NOT NULL,
        unit_cents INTEGER NOT NULL,
        qty INTEGER NOT NULL CHECK (qty > 0),
        PRIMARY KEY (order_id, sku)
    );
    CREATE TABLE payments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id INTEGER NOT NULL UNIQUE REFERENCES orders(id) ON DELETE CASCADE,
        account TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        payment_method INTEGER NOT NULL REFERENCES payment_methods(id),
        method_shown TEXT NOT NULL,
        amount_cents INTEGER NOT NULL,
        at_ms INTEGER NOT NULL
    );",
    // 3: pending ceremonies keyed by their challenge (several per session and kind)
    "DROP TABLE ceremonies;
    CREATE TABLE ceremonies (
        session BLOB NOT NULL,
        kind TEXT NOT NULL,
        challenge TEXT NOT NULL,
        state TEXT NOT NULL,
        expires_ms INTEGER NOT NULL,
        PRIMARY KEY (session, kind, challenge)
    );",
    // 4: the signature counter in its own column (the compare-and-set of a sign-in compares
    //    integers instead of extracting it from the passkey's JSON twice per update)
    "ALTER TABLE passkeys ADD COLUMN sign_count INTEGER NOT NULL DEFAULT 0;
    UPDATE passkeys SET sign_count = COALESCE(json_extract(passkey_json, '$.cred.counter'), 0);",
    // 5: pending ceremonies move to process memory (`PendingCeremonies`): they never outlived
    //    the process anyway, and their table cost a write transaction per `/start`
    "DROP TABLE ceremonies;",
];

/// `execute` through the connection's statement cache (hot paths run the same SQL
/// thousands of times a second; parsing it each time costs more than running it).
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// `query_row` through the statement cache.
fn row<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, f)
}

/// SQLite behind a mutex: one writer at a time is what SQLite allows anyway. The database
/// belongs to one process, so pending ceremonies stay in that process's memory and live
/// sessions are copied there.
///
/// Lock order: `conn`, then `pending` or `sessions` (never the other way round). The session
/// copy changes only while `conn` is held, in the order the database changed, so a read that
/// missed cannot put back a session a concurrent sign-out deleted.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    pending: Mutex<PendingCeremonies>,
    sessions: Mutex<SessionCache>,
    /// File databases only: the thread that checkpoints the WAL (see [`Checkpointer`]).
    /// Declared after `conn`, so it stops after the request connection has closed.
    _checkpointer: Option<Checkpointer>,
}

/// How often the background checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// The request connection's own auto-checkpoint threshold (pages): only a safety net that
/// bounds the WAL should the background checkpointer fall behind or fail; normally the WAL
/// never gets near it.
const SAFETY_NET_CHECKPOINT_PAGES: i64 = 16_384;

/// A thread with its own connection that runs `PRAGMA wal_checkpoint(PASSIVE)` every
/// [`CHECKPOINT_EVERY`].
///
/// # Why not SQLite's auto-checkpoint
/// SQLite's default checkpoints from the committing connection once the WAL passes 1,000
/// pages (~every 60 sign-ins here), and with `synchronous = NORMAL` a checkpoint fsyncs the
/// WAL and the database (~7 ms each on this machine) — inside the request that committed,
/// while it holds the store's mutex, so every other request waits behind two fsyncs. A
/// passive checkpoint on a second connection runs beside the writer (WAL allows one
/// checkpointer concurrently with the writer and readers) and never blocks it.
///
/// Durability is unchanged: a commit is durable against a process crash once it is in the
/// WAL (see [`SqliteStore::from_connection`]), whoever checkpoints it later and when.
struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(1))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    // PASSIVE: copy what no reader still needs; never wait for anyone.
                    if let Err(error) =
                        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(%error, "background WAL checkpoint failed");
                    }
                }
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Closing the channel wakes the thread, which ends its loop and closes its connection.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

pub(super) fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(super) fn from_ms(ms: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {ms}: {e}")))
}

pub(super) fn parse_uuid(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("uuid {text:?}: {e}")))
}

impl SqliteStore {
    /// Open (creating if needed) `dir/relying-party.sqlite3` and migrate it.
    pub fn open_in(dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("relying-party.sqlite3");
        let mut store = Self::from_connection(Connection::open(&path)?)?;
        store
            .conn()?
            .pragma_update(None, "wal_autocheckpoint", SAFETY_NET_CHECKPOINT_PAGES)?;
        store._checkpointer = Some(Checkpointer::start(&path)?);
        Ok(store)
    }

    /// A private in-memory database (tests, throw-away demos).
    pub fn in_memory() -> StoreResult<Self> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    /// # Durability: WAL with `synchronous = NORMAL`, and why counters still never go back
    /// A commit appends the transaction to the write-ahead log with `write(2)` and returns;
    /// the log is fsynced only at checkpoints. On this machine an fsync takes ~7 ms, so
    /// `synchronous = FULL` (an fsync per commit, one writer at a time) would cap the site at
    /// ~140 commits/s; `NORMAL` costs no fsync on the hot path.
    /// - **The process crashes** (panic, SIGKILL, OOM kill): a committed transaction is in
    ///   the kernel's page cache of the log file and survives; nothing committed is lost, so
    ///   a stored signature counter never goes backwards.
    /// - **The machine loses power / the kernel crashes**: WAL stays consistent, but the
    ///   last transactions since the log was last synced may roll back, *each as a whole*.
    ///   A counter update is in one transaction with its history entry and session
    ///   rotation (`conclude_assertion`), so a lost counter update is lost whole; and the
    ///   challenge it answered lived only in process memory, as every pending ceremony does,
    ///   so none survives the crash. No assertion
    ///   signed before the crash can then be accepted (its challenge is gone), and every
    ///   later one must carry a counter above the restored one, which the real
    ///   authenticator's does (its counter kept going up). What such a crash can cost is
    ///   the clone evidence of the lost window (a cloned key's counter inside it would not
    ///   be flagged), never the acceptance of an old assertion.
    fn from_connection(mut conn: Connection) -> StoreResult<Self> {
        conn.set_prepared_statement_cache_capacity(64);
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            pending: Mutex::default(),
            sessions: Mutex::default(),
            _checkpointer: None,
        })
    }

    /// The schema version after migration.
    pub fn schema_version(&self) -> StoreResult<usize> {
        let conn = self.conn()?;
        let v: i64 = row(
            &conn,
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?;
        Ok(v as usize)
    }

    pub(super) fn conn(&self) -> StoreResult<MutexGuard<'_, Connection>> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    fn pending(&self) -> StoreResult<MutexGuard<'_, PendingCeremonies>> {
        self.pending.lock().map_err(|_| StoreError::Poisoned)
    }

    fn sessions(&self) -> StoreResult<MutexGuard<'_, SessionCache>> {
        self.sessions.lock().map_err(|_| StoreError::Poisoned)
    }
}

/// Apply every migration newer than the database, each in its own transaction.
fn migrate(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_ms INTEGER NOT NULL
        )",
    )?;
    let current: i64 = row(
        conn,
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    if current as usize > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this program ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        exec(
            &tx,
            "INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, ?2)",
            params![index as i64 + 1, to_ms(OffsetDateTime::now_utc())],
        )?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied database migration");
    }
    Ok(())
}

const PASSKEY_COLUMNS: &str = "credential_id, account, passkey_json, name, aaguid, \
     user_verified, created_ms, last_used_ms, counter_regression_ms, backup_eligible, \
     backup_state";

/// A raw passkeys row, converted outside rusqlite's closure so conversion errors stay ours.
type PasskeyRow = (
    Vec<u8>,
    String,
    String,
    String,
    String,
    bool,
    i64,
    Option<i64>,
    Option<i64>,
    bool,
    bool,
);

fn passkey_row(r: &Row<'_>) -> rusqlite::Result<PasskeyRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

fn passkey_record(row: PasskeyRow) -> StoreResult<PasskeyRecord> {
    let (credential_id, account, passkey_json, name, aaguid, uv, created, last, regression, be, bs) =
        row;
    Ok(PasskeyRecord {
        credential_id,
        account: parse_uuid(&account)?,
        passkey_json,
        name,
        aaguid: parse_uuid(&aaguid)?,
        user_verified: uv,
        backup_eligible: be,
        backup_state: bs,
        created: from_ms(created)?,
        last_used: last.map(from_ms).transpose()?,
        counter_regression: regression.map(from_ms).transpose()?,
    })
}

/// The compare-and-set of a passkey's use: the new state only if its counter is not behind
/// the stored one (two sign-ins with one passkey verify concurrently; the one with the lower
/// counter must not overwrite the higher one, or a replay of the newer assertion's counter
/// would pass later). Last use moves forward either way.
fn store_passkey_use(
    conn: &Connection,
    credential_id: &[u8],
    passkey_json: &str,
    counter: i64,
    backup_state: bool,
    at: OffsetDateTime,
) -> rusqlite::Result<usize> {
    exec(
        conn,
        "UPDATE passkeys SET
             passkey_json = CASE WHEN sign_count <= ?3 THEN ?2 ELSE passkey_json END,
             backup_state = CASE WHEN sign_count <= ?3 THEN ?4 ELSE backup_state END,
             sign_count = MAX(sign_count, ?3),
             last_used_ms = MAX(COALESCE(last_used_ms, 0), ?5)
         WHERE credential_id = ?1",
        params![
            credential_id,
            passkey_json,
            counter,
            backup_state,
            to_ms(at)
        ],
    )
}

/// Sign-in: the new session in, the basket carried over, the old session out (inside the
/// caller's transaction; the caller forgets its pending ceremonies after the commit).
fn rotate_session(conn: &Connection, old: &[u8; 32], new: &SessionRecord) -> rusqlite::Result<()> {
    exec(
        conn,
        "INSERT INTO sessions (id_hash, account, csrf_token, expires_ms) VALUES (?1, ?2, ?3, ?4)",
        params![
            &new.id_hash[..],
            new.account.map(|a| a.to_string()),
            new.csrf_token,
            to_ms(new.expires)
        ],
    )?;
    exec(
        conn,
        "UPDATE OR REPLACE baskets SET session = ?2 WHERE session = ?1",
        params![&old[..], &new.id_hash[..]],
    )?;
    exec(
        conn,
        "DELETE FROM sessions WHERE id_hash = ?1",
        params![&old[..]],
    )?;
    Ok(())
}

fn history_entry(conn: &Connection, r: &SignInRecord) -> rusqlite::Result<usize> {
    exec(
        conn,
        "INSERT INTO sign_ins (account, credential_id, at_ms, outcome) VALUES (?1, ?2, ?3, ?4)",
        params![
            r.account.to_string(),
            r.credential_id,
            to_ms(r.at),
            r.outcome
        ],
    )
}

/// Everything an assertion's outcome writes (counter or regression flag, history, session
/// rotation), as one transaction.
fn record_outcome(conn: &mut Connection, o: &AssertionOutcome<'_>) -> rusqlite::Result<()> {
    // IMMEDIATE: this transaction writes; take the write lock at BEGIN.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    match o.verdict {
        AssertionVerdict::Verified {
            passkey_json,
            counter,
            backup_state,
        } => {
            store_passkey_use(
                &tx,
                o.credential_id,
                passkey_json,
                i64::from(counter),
                backup_state,
                o.history.at,
            )?;
        }
        AssertionVerdict::CounterRegression => {
            exec(
                &tx,
                "UPDATE passkeys SET counter_regression_ms = ?2 WHERE credential_id = ?1",
                params![o.credential_id, to_ms(o.history.at)],
            )?;
        }
        AssertionVerdict::Rejected => {}
    }
    history_entry(&tx, o.history)?;
    if let Some(new) = o.new_session {
        rotate_session(&tx, o.session, new)?;
    }
    tx.commit()
}

impl Store for SqliteStore {
    fn register_passkey(
        &self,
        new_account: Option<&NewAccount>,
        p: &PasskeyRecord,
    ) -> StoreResult<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        if let Some(account) = new_account {
            exec(
                &tx,
                "INSERT INTO accounts (id, display_name, created_ms, member_no)
                 VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(member_no), 1000) + 1 FROM accounts))",
                params![
                    account.id.to_string(),
                    account.display_name,
                    to_ms(account.created)
                ],
            )?;
        }
        let exists: bool = row(
            &tx,
            "SELECT EXISTS (SELECT 1 FROM passkeys WHERE credential_id = ?1)",
            params![p.credential_id],
            |r| r.get(0),
        )?;
        if exists {
            return Err(StoreError::DuplicateCredential);
        }
        exec(&tx,
            &format!(
                "INSERT INTO passkeys ({PASSKEY_COLUMNS}, sign_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,
                 COALESCE(json_extract(?3, '$.cred.counter'), 0))"
            ),
            params![
                p.credential_id,
                p.account.to_string(),
                p.passkey_json,
                p.name,
                p.aaguid.to_string(),
                p.user_verified,
                to_ms(p.created),
                p.last_used.map(to_ms),
                p.counter_regression.map(to_ms),
                p.backup_eligible,
                p.backup_state,
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn account(&self, id: Uuid) -> StoreResult<Option<Account>> {
        let row: Option<(String, i64, i64)> = row(
            &*self.conn()?,
            "SELECT display_name, created_ms, member_no FROM accounts WHERE id = ?1",
            params![id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
        row.map(|(display_name, created, member_no)| {
            Ok(Account {
                id,
                display_name,
                created: from_ms(created)?,
                member_no,
            })
        })
        .transpose()
    }

    fn passkey(&self, credential_id: &[u8]) -> StoreResult<Option<PasskeyRecord>> {
        let row = row(
            &*self.conn()?,
            &format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = ?1"),
            params![credential_id],
            passkey_row,
        )
        .optional()?;
        row.map(passkey_record).transpose()
    }

    fn passkeys_of(&self, account: Uuid) -> StoreResult<Vec<PasskeyRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE account = ?1 ORDER BY created_ms"
        ))?;
        let rows = stmt
            .query_map(params![account.to_string()], passkey_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(passkey_record).collect()
    }

    fn rename_passkey(&self, account: Uuid, credential_id: &[u8], name: &str) -> StoreResult<bool> {
        let changed = exec(
            &*self.conn()?,
            "UPDATE passkeys SET name = ?3 WHERE credential_id = ?1 AND account = ?2",
            params![credential_id, account.to_string(), name],
        )?;
        Ok(changed == 1)
    }

    fn delete_passkey(&self, account: Uuid, credential_id: &[u8]) -> StoreResult<PasskeyRemoval> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let (mine, total): (bool, i64) = row(
            &tx,
            "SELECT EXISTS (SELECT 1 FROM passkeys WHERE credential_id = ?1 AND account = ?2),
                    (SELECT COUNT(*) FROM passkeys WHERE account = ?2)",
            params![credential_id, account.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if !mine {
            return Ok(PasskeyRemoval::NotFound);
        }
        if total <= 1 {
            return Ok(PasskeyRemoval::LastPasskey);
        }
        exec(
            &tx,
            "DELETE FROM passkeys WHERE credential_id = ?1 AND account = ?2",
            params![credential_id, account.to_string()],
        )?;
        tx.commit()?;
        Ok(PasskeyRemoval::Removed)
    }

    fn sign_ins_of(&self, account: Uuid, limit: usize) -> StoreResult<Vec<SignInRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT credential_id, at_ms, outcome FROM sign_ins WHERE account = ?1
             ORDER BY at_ms DESC, id DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![account.to_string(), limit as i64], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(credential_id, at, outcome)| {
                Ok(SignInRecord {
                    account,
                    credential_id,
                    at: from_ms(at)?,
                    outcome,
                })
            })
            .collect()
    }

    fn insert_session(&self, s: &SessionRecord) -> StoreResult<()> {
        let conn = self.conn()?;
        exec(&conn,
            "INSERT INTO sessions (id_hash, account, csrf_token, expires_ms) VALUES (?1, ?2, ?3, ?4)",
            params![
                &s.id_hash[..],
                s.account.map(|a| a.to_string()),
                s.csrf_token,
                to_ms(s.expires)
            ],
        )?;
        self.sessions()?.insert(s);
        Ok(())
    }

    fn session(
        &self,
        id_hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        if let Some(cached) = self.sessions()?.get(id_hash, now) {
            return Ok(cached);
        }
        let conn = self.conn()?;
        let row: Option<(Option<String>, String, i64)> = row(
            &conn,
            "SELECT account, csrf_token, expires_ms FROM sessions
                 WHERE id_hash = ?1 AND expires_ms > ?2",
            params![&id_hash[..], to_ms(now)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
        let session = row
            .map(|(account, csrf_token, expires)| {
                Ok::<_, StoreError>(SessionRecord {
                    id_hash: *id_hash,
                    account: account.as_deref().map(parse_uuid).transpose()?,
                    csrf_token,
                    expires: from_ms(expires)?,
                })
            })
            .transpose()?;
        if let Some(session) = &session {
            // Still under `conn`: see the lock order on `SqliteStore`.
            self.sessions()?.insert(session);
        }
        Ok(session)
    }

    fn delete_session(&self, id_hash: &[u8; 32]) -> StoreResult<()> {
        let conn = self.conn()?;
        self.pending()?.end_session(id_hash);
        self.sessions()?.remove(id_hash);
        exec(
            &conn,
            "DELETE FROM baskets WHERE session = ?1",
            params![&id_hash[..]],
        )?;
        exec(
            &conn,
            "DELETE FROM sessions WHERE id_hash = ?1",
            params![&id_hash[..]],
        )?;
        Ok(())
    }

    fn replace_session(&self, old: &[u8; 32], new: &SessionRecord) -> StoreResult<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        rotate_session(&tx, old, new)?;
        tx.commit()?;
        self.sessions()?.replace(old, new);
        drop(conn);
        self.pending()?.end_session(old);
        Ok(())
    }

    fn put_ceremony(
        &self,
        session: &[u8; 32],
        kind: CeremonyKind,
        challenge: &str,
        state: &str,
        expires: OffsetDateTime,
    ) -> StoreResult<()> {
        self.pending()?
            .put(session, kind, challenge, state, expires)
    }

    fn take_ceremony(
        &self,
        session: &[u8; 32],
        kind: CeremonyKind,
        challenge: &str,
        now: OffsetDateTime,
    ) -> StoreResult<TakenCeremony> {
        Ok(self.pending()?.take(session, kind, challenge, now))
    }

    fn pending_assertion(
        &self,
        session: &[u8; 32],
        kind: CeremonyKind,
        challenge: &str,
        credential_id: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<PendingAssertion> {
        let ceremony = self.pending()?.peek(session, kind, challenge, now);
        let passkey = match ceremony {
            // Nothing to verify against: spare the lookup.
            TakenCeremony::Pending(_) => row(
                &*self.conn()?,
                &format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = ?1"),
                params![credential_id],
                passkey_row,
            )
            .optional()?,
            _ => None,
        };
        Ok(PendingAssertion {
            ceremony,
            passkey: passkey.map(passkey_record).transpose()?,
        })
    }

    fn conclude_assertion(&self, o: &AssertionOutcome<'_>) -> StoreResult<bool> {
        // The challenge is taken first, and whoever takes it owns its single use: a concurrent
        // finish with the same challenge finds it gone and writes nothing. Should the outcome
        // fail to commit, the challenge goes back, as the rolled-back DELETE of a shared
        // database's store would leave it.
        let Some(taken) = self.pending()?.remove(o.session, o.kind, o.challenge) else {
            return Ok(false);
        };
        let written = self.conn().and_then(|mut conn| {
            record_outcome(&mut conn, o)?;
            if let Some(new) = o.new_session {
                self.sessions()?.replace(o.session, new);
            }
            Ok(())
        });
        if let Err(error) = written {
            self.pending()?.restore(o.session, o.kind, taken);
            return Err(error);
        }
        if o.new_session.is_some() {
            self.pending()?.end_session(o.session);
        }
        Ok(true)
    }

    fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<usize> {
        let c = self.pending()?.purge_expired(now);
        let conn = self.conn()?;
        self.sessions()?.purge_expired(now);
        let now = to_ms(now);
        let s = exec(
            &conn,
            "DELETE FROM sessions WHERE expires_ms <= ?1",
            params![now],
        )?;
        let b = exec(
            &conn,
            "DELETE FROM baskets WHERE session NOT IN (SELECT id_hash FROM sessions)",
            [],
        )?;
        Ok(c + s + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Shop;
    use time::Duration;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn migrations_are_applied_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len());
        drop(store);
        let again = SqliteStore::open_in(dir.path()).unwrap();
        assert_eq!(again.schema_version().unwrap(), MIGRATIONS.len());
    }

    #[test]
    fn a_ceremony_is_taken_once_and_expires() {
        let store = SqliteStore::in_memory().unwrap();
        let session = [7u8; 32];
        let kind = CeremonyKind::Authentication;
        let later = now() + Duration::seconds(60);
        store
            .put_ceremony(&session, kind, "c1", "one", later)
            .unwrap();
        store
            .put_ceremony(&session, kind, "c2", "two", later)
            .unwrap();
        // Two pending at once (autofill + button); each answers once, by its challenge.
        assert_eq!(
            store.take_ceremony(&session, kind, "c2", now()).unwrap(),
            TakenCeremony::Pending("two".into())
        );
        assert_eq!(
            store.take_ceremony(&session, kind, "c2", now()).unwrap(),
            TakenCeremony::Missing
        );
        assert_eq!(
            store.take_ceremony(&session, kind, "c1", now()).unwrap(),
            TakenCeremony::Pending("one".into())
        );
        store
            .put_ceremony(&session, kind, "c3", "late", later)
            .unwrap();
        let too_late = now() + Duration::seconds(61);
        assert_eq!(
            store.take_ceremony(&session, kind, "c3", too_late).unwrap(),
            TakenCeremony::Expired
        );
        // another session's or kind's challenge is not ours
        store
            .put_ceremony(&session, kind, "c4", "mine", later)
            .unwrap();
        assert_eq!(
            store.take_ceremony(&[8u8; 32], kind, "c4", now()).unwrap(),
            TakenCeremony::Missing
        );
        assert_eq!(
            store
                .take_ceremony(&session, CeremonyKind::Registration, "c4", now())
                .unwrap(),
            TakenCeremony::Missing
        );
        // at most a few pending per session and kind: the oldest go
        for i in 0..10 {
            let expires = later + Duration::seconds(i);
            store
                .put_ceremony(&session, kind, &format!("n{i}"), "s", expires)
                .unwrap();
        }
        assert_eq!(
            store.take_ceremony(&session, kind, "n0", now()).unwrap(),
            TakenCeremony::Missing
        );
        assert_eq!(
            store.take_ceremony(&session, kind, "n9", now()).unwrap(),
            TakenCeremony::Pending("s".into())
        );
    }

    #[test]
    fn an_assertion_concludes_once_in_one_transaction() {
        let store = SqliteStore::in_memory().unwrap();
        let account = NewAccount {
            id: Uuid::new_v4(),
            display_name: "Ada".into(),
            created: now(),
        };
        let json = |n: u32| format!(r#"{{"cred":{{"counter":{n}}}}}"#);
        let record = PasskeyRecord {
            credential_id: vec![5; 16],
            account: account.id,
            passkey_json: json(3),
            name: "palmkey".into(),
            aaguid: Uuid::new_v4(),
            user_verified: true,
            backup_eligible: false,
            backup_state: false,
            created: now(),
            last_used: None,
            counter_regression: None,
        };
        store.register_passkey(Some(&account), &record).unwrap();
        let old = SessionRecord {
            id_hash: [1; 32],
            account: None,
            csrf_token: "t".into(),
            expires: now() + Duration::minutes(10),
        };
        store.insert_session(&old).unwrap();
        store.set_basket_line(&old.id_hash, "COFFEE", 2).unwrap();
        let kind = CeremonyKind::Authentication;
        let later = now() + Duration::seconds(60);
        store
            .put_ceremony(&old.id_hash, kind, "ch", "state", later)
            .unwrap();

        // Reading it does not consume it; the passkey comes along.
        for _ in 0..2 {
            let pending = store
                .pending_assertion(&old.id_hash, kind, "ch", &record.credential_id, now())
                .unwrap();
            assert_eq!(pending.ceremony, TakenCeremony::Pending("state".into()));
            assert_eq!(pending.passkey.unwrap().passkey_json, json(3));
        }
        let expired = store
            .pending_assertion(&old.id_hash, kind, "ch", &record.credential_id, later)
            .unwrap();
        assert_eq!(expired.ceremony, TakenCeremony::Expired);

        let new = SessionRecord {
            id_hash: [2; 32],
            account: Some(account.id),
            csrf_token: "u".into(),
            expires: now() + Duration::minutes(10),
        };
        let history = SignInRecord {
            account: account.id,
            credential_id: record.credential_id.clone(),
            at: now() + Duration::seconds(1),
            outcome: "signed in".into(),
        };
        let new_json = json(4);
        let outcome = AssertionOutcome {
            session: &old.id_hash,
            kind,
            challenge: "ch",
            credential_id: &record.credential_id,
            verdict: AssertionVerdict::Verified {
                passkey_json: &new_json,
                counter: 4,
                backup_state: true,
            },
            history: &history,
            new_session: Some(&new),
        };
        assert!(store.conclude_assertion(&outcome).unwrap());
        // The same challenge again (a racing or replayed finish): nothing is written.
        let replay = AssertionOutcome {
            new_session: Some(&SessionRecord {
                id_hash: [3; 32],
                ..new.clone()
            }),
            ..outcome
        };
        assert!(!store.conclude_assertion(&replay).unwrap());
        assert!(store.session(&[3; 32], now()).unwrap().is_none());
        assert_eq!(store.sign_ins_of(account.id, 10).unwrap().len(), 1);

        let stored = store.passkey(&record.credential_id).unwrap().unwrap();
        assert_eq!(stored.passkey_json, json(4));
        assert!(stored.backup_state);
        assert_eq!(stored.last_used, Some(history.at));
        // Rotated: the old session and its ceremonies are gone, the basket moved.
        assert!(store.session(&old.id_hash, now()).unwrap().is_none());
        assert_eq!(
            store.session(&new.id_hash, now()).unwrap().unwrap().account,
            Some(account.id)
        );
        assert_eq!(store.basket(&new.id_hash).unwrap().len(), 1);

        // A later conclusion with a lower counter (concurrent sign-ins landing out of
        // order) never moves the stored counter back.
        store
            .put_ceremony(&new.id_hash, kind, "c2", "state", later)
            .unwrap();
        let stale_json = json(2);
        let stale = AssertionOutcome {
            session: &new.id_hash,
            challenge: "c2",
            verdict: AssertionVerdict::Verified {
                passkey_json: &stale_json,
                counter: 2,
                backup_state: false,
            },
            new_session: None,
            ..outcome
        };
        assert!(store.conclude_assertion(&stale).unwrap());
        let stored = store.passkey(&record.credential_id).unwrap().unwrap();
        assert_eq!(stored.passkey_json, json(4));
        assert!(stored.backup_state);

        // A regression verdict flags the passkey.
        store
            .put_ceremony(&new.id_hash, kind, "c3", "state", later)
            .unwrap();
        let flagged = AssertionOutcome {
            challenge: "c3",
            verdict: AssertionVerdict::CounterRegression,
            ..stale
        };
        assert!(store.conclude_assertion(&flagged).unwrap());
        let stored = store.passkey(&record.credential_id).unwrap().unwrap();
        assert_eq!(stored.counter_regression, Some(history.at));
        assert_eq!(store.sign_ins_of(account.id, 10).unwrap().len(), 3);
    }

    #[test]
    fn the_wal_is_checkpointed_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).unwrap();
        let file = dir.path().join("relying-party.sqlite3");
        let size = || std::fs::metadata(&file).unwrap().len();
        let before = size();
        for i in 0..300u32 {
            let mut id_hash = [0u8; 32];
            id_hash[..4].copy_from_slice(&i.to_le_bytes());
            store
                .insert_session(&SessionRecord {
                    id_hash,
                    account: None,
                    csrf_token: "t".repeat(40),
                    expires: now(),
                })
                .unwrap();
        }
        // Far below the request connection's own threshold: only the background
        // checkpointer copies these pages into the database file.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while size() == before && std::time::Instant::now() < deadline {
            std::thread::sleep(CHECKPOINT_EVERY);
        }
        assert!(
            size() > before,
            "the database file never grew: no checkpoint ran"
        );
    }

    #[test]
    fn reopening_voids_pending_ceremonies() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).unwrap();
        let kind = CeremonyKind::Authentication;
        store
            .put_ceremony(&[1; 32], kind, "c", "s", now() + Duration::minutes(5))
            .unwrap();
        drop(store);
        let again = SqliteStore::open_in(dir.path()).unwrap();
        assert_eq!(
            again.take_ceremony(&[1; 32], kind, "c", now()).unwrap(),
            TakenCeremony::Missing
        );
    }

    #[test]
    fn the_session_copy_follows_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).unwrap();
        let session = |id: u8| SessionRecord {
            id_hash: [id; 32],
            account: None,
            csrf_token: format!("t{id}"),
            expires: now() + Duration::hours(1),
        };
        store.insert_session(&session(1)).unwrap();
        store.insert_session(&session(2)).unwrap();
        assert!(store.session(&[1; 32], now()).unwrap().is_some());
        // Sign-out: gone, though it was just read (and so cached).
        store.delete_session(&[1; 32]).unwrap();
        assert!(store.session(&[1; 32], now()).unwrap().is_none());
        // Rotation: the old ID is worthless, the new one works.
        store.replace_session(&[2; 32], &session(3)).unwrap();
        assert!(store.session(&[2; 32], now()).unwrap().is_none());
        assert_eq!(
            store.session(&[3; 32], now()).unwrap().unwrap().csrf_token,
            "t3"
        );
        // Expiry without a purge, and after one.
        let late = now() + Duration::hours(2);
        assert!(store.session(&[3; 32], late).unwrap().is_none());
        store.purge_expired(late).unwrap();
        assert!(store.session(&[3; 32], now()).unwrap().is_none());
        // A session of an earlier run (not in this process's copy) is read from the file.
        store.insert_session(&session(4)).unwrap();
        drop(store);
        let again = SqliteStore::open_in(dir.path()).unwrap();
        assert_eq!(
            again.session(&[4; 32], now()).unwrap().unwrap().csrf_token,
            "t4"
        );
        assert!(again.session(&[1; 32], now()).unwrap().is_none());
    }

    #[test]
    fn passkeys_round_trip_and_sessions_expire() {
        let store = SqliteStore::in_memory().unwrap();
        let account = NewAccount {
            id: Uuid::new_v4(),
            display_name: "Ada".into(),
            created: now(),
        };
        let record = PasskeyRecord {
            credential_id: vec![1, 2, 3],
            account: account.id,
            passkey_json: "{}".into(),
            name: "palmkey".into(),
            aaguid: Uuid::new_v4(),
            user_verified: true,
            backup_eligible: false,
            backup_state: false,
            created: now(),
            last_used: None,
            counter_regression: None,
        };
        store.register_passkey(Some(&account), &record).unwrap();
        let stored = store.account(account.id).unwrap().unwrap();
        assert_eq!(stored.display_name, "Ada");
        assert_eq!(stored.member_id(), "M-1001");
        assert!(matches!(
            store.register_passkey(None, &record),
            Err(StoreError::DuplicateCredential)
        ));
        // Using a passkey (counter compare-and-set, regression flag) goes through
        // conclude_assertion: see an_assertion_concludes_once_in_one_transaction.
        assert_eq!(store.passkeys_of(account.id).unwrap().len(), 1);

        // rename: only the owner's; delete: never the last one
        assert!(store
            .rename_passkey(account.id, &[1, 2, 3], "Desk")
            .unwrap());
        assert!(!store
            .rename_passkey(Uuid::new_v4(), &[1, 2, 3], "x")
            .unwrap());
        assert_eq!(store.passkey(&[1, 2, 3]).unwrap().unwrap().name, "Desk");
        assert_eq!(
            store.delete_passkey(account.id, &[1, 2, 3]).unwrap(),
            PasskeyRemoval::LastPasskey
        );
        let second = PasskeyRecord {
            credential_id: vec![4],
            ..record.clone()
        };
        store.register_passkey(None, &second).unwrap();
        assert_eq!(
            store.delete_passkey(Uuid::new_v4(), &[4]).unwrap(),
            PasskeyRemoval::NotFound
        );
        assert_eq!(
            store.delete_passkey(account.id, &[4]).unwrap(),
            PasskeyRemoval::Removed
        );
        assert!(store.passkey(&[4]).unwrap().is_none());
        assert!(store.passkey(&[9]).unwrap().is_none());

        let session = SessionRecord {
            id_hash: [1; 32],
            account: Some(account.id),
            csrf_token: "t".into(),
            expires: now() + Duration::minutes(10),
        };
        store.insert_session(&session).unwrap();
        assert!(store.session(&[1; 32], now()).unwrap().is_some());
        assert!(store
            .session(&[1; 32], now() + Duration::minutes(11))
            .unwrap()
            .is_none());
        assert_eq!(
            store.purge_expired(now() + Duration::minutes(11)).unwrap(),
            1
        );
    }
}
