//! Support for tests/abuse.rs: a site whose SQLite file can be dumped whole (so a test can
//! prove an attack changed no row). The software passkey whose every signed byte the test
//! controls is the load bench's (benches/login_load/soft_authenticator.rs, included by
//! tests/abuse.rs).
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use relying_party_demo::{router, AppState, Config, ManualClock, SqliteStore};
use rusqlite::types::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use time::OffsetDateTime;

use crate::common::Site;

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
