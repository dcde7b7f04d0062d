//! The journal: a SQLite file recording every assignment by (base URL, user, kind,
//! policy), so that a re-run never repeats work and a crash loses nothing.
//!
//! `in_flight` is written before an assignment's first request and `done`, `failed`,
//! `deferred` or `unverified` (answered, not yet seen held) after its last, each in its
//! own transaction; `unverified` becomes `done` once the account shows it. WAL with
//! `synchronous=NORMAL` keeps every committed write through a killed process (the case
//! that matters: cron jobs killed, laptops closed); only a power cut could lose the last
//! few, and before a request that cannot be taken back [`Journal::sync`] makes them
//! durable too.
//! One connection behind a mutex, held for a statement at a time, never across an await.

mod lock;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::api::model::Company;
use crate::plan::{Assignment, Kind};

/// The schema this build writes. Older files are migrated on open; newer ones refused.
pub const SCHEMA_VERSION: i64 = 4;

const SCHEMA_V1: &str = "
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    mode TEXT NOT NULL,
    base_url TEXT NOT NULL,
    sheet TEXT NOT NULL,
    exit_code INTEGER,
    outcomes TEXT
);
CREATE TABLE assignments (
    base_url TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    run_id TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    http_status INTEGER,
    error TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    assignment_id TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (base_url, user_id, kind, policy_id)
);
CREATE INDEX assignments_by_user ON assignments (user_id);
";

/// Version 2: what the account was last seen to hold for an `unverified` write, so that
/// the next run can tell "never applied" (it holds the same) from "moved by use since".
const SCHEMA_V2: &str = "ALTER TABLE assignments ADD COLUMN seen TEXT NOT NULL DEFAULT '';";

/// Version 3: which company each run's key was for (`GET /me`); runs before it name none.
const SCHEMA_V3: &str =
    "ALTER TABLE runs ADD COLUMN company_id TEXT; ALTER TABLE runs ADD COLUMN company_name TEXT;";

/// Version 4: the people ct-onboard creates, by (base URL, phone): `creating` before the
/// request, `created` (with the new user ID) or `failed` after it. Creation is not
/// idempotent, so a `creating` row means "look the phone up before sending again".
const SCHEMA_V4: &str = "
CREATE TABLE people (
    base_url TEXT NOT NULL,
    phone TEXT NOT NULL,
    state TEXT NOT NULL,
    user_id INTEGER,
    run_id TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (base_url, phone)
);";

/// Where one person's creation stands in the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonState {
    /// About to be sent, or sent without a clear answer: look the phone up first.
    Creating,
    Created(u64),
    Failed(String),
}

/// What identifies one assignment across runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Key {
    pub base_url: String,
    pub user_id: u64,
    pub kind: Kind,
    pub policy_id: String,
}

impl Key {
    pub fn of(base_url: &str, user_id: u64, assignment: &Assignment) -> Key {
        let (policy_id, _) = assignment.policy_id_and_name();
        Key {
            base_url: base_url.to_owned(),
            user_id,
            kind: assignment.kind(),
            policy_id,
        }
    }
}

/// What was sent, as text: equal texts mean an equal request. Balances are normalised so
/// that `15` and `15.0` are the same.
pub fn fingerprint(assignment: &Assignment) -> String {
    match assignment {
        Assignment::TimeOff {
            balance: Some(b), ..
        } => format!("balance {} {}", b.amount.normalize(), b.unit.as_str()),
        Assignment::TimeOff { balance: None, .. } => "the policy's default balance".to_owned(),
        Assignment::PayRule { effective_date, .. } => format!("effective {effective_date}"),
        Assignment::OnboardingPack { .. } => "on the pack".to_owned(),
    }
}

/// Where an assignment stands in the journal. Stored as the words of [`State::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Written before the first request; still so if the process died mid-request.
    InFlight,
    Done,
    Failed,
    /// Not sent: the day's quota ran out.
    Deferred,
    /// Sent and answered with a success, but not (yet) seen held as sent: the next run
    /// reads the account before deciding. Neither done nor failed.
    Unverified,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::InFlight => "in_flight",
            State::Done => "done",
            State::Failed => "failed",
            State::Deferred => "deferred",
            State::Unverified => "unverified",
        }
    }

    fn parse(text: &str) -> Option<State> {
        [
            State::InFlight,
            State::Done,
            State::Failed,
            State::Deferred,
            State::Unverified,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl rusqlite::types::FromSql for State {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = value.as_str()?;
        State::parse(text).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("unknown journal state \"{text}\"").into())
        })
    }
}

impl rusqlite::types::FromSql for Kind {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = value.as_str()?;
        Kind::parse(text).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(
                format!("unknown assignment kind \"{text}\"").into(),
            )
        })
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one assignment's requests ended, as [`Journal::finish`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished<'a> {
    pub state: State,
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub error: &'a str,
    pub request_id: &'a str,
    pub assignment_id: &'a str,
    /// For an `unverified` write: what the account held when last looked at.
    pub seen: &'a str,
}

/// One assignment's journal row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub key: Key,
    pub fingerprint: String,
    pub state: State,
    pub run_id: String,
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub error: String,
    pub request_id: String,
    pub assignment_id: String,
    pub updated_at: String,
    /// For an `unverified` write: what the account held when last looked at.
    pub seen: String,
}

/// One run's row, for `history`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunRecord {
    pub id: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub mode: String,
    pub base_url: String,
    pub sheet: String,
    pub exit_code: Option<u8>,
    pub outcomes: String,
    /// Which company the run's key was for; none for runs before journals recorded it.
    pub company_id: Option<String>,
    pub company_name: Option<String>,
}

impl RunRecord {
    /// `Northwind Foods (company 4f9a2c)`, when recorded.
    pub fn company(&self) -> Option<String> {
        let id = self.company_id.as_deref()?;
        Some(format!(
            "{} (company {id})",
            self.company_name.as_deref().unwrap_or("")
        ))
    }
}

/// A run as it starts.
pub struct NewRun<'a> {
    pub id: &'a str,
    pub mode: &'a str,
    pub base_url: &'a str,
    pub company: Option<&'a Company>,
    pub sheet: &'a str,
}

pub struct Journal {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// SQLite integers are signed; Connecteam user IDs are far below `i64::MAX`.
fn sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {}: {source}", .path.display())]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create {}: {source}", .path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal {} has schema {found}, newer than this ct-onboard understands ({SCHEMA_VERSION}): use a newer ct-onboard", .path.display())]
    Newer { path: PathBuf, found: i64 },
}

fn sql_error(path: &Path, e: rusqlite::Error) -> JournalError {
    JournalError::Sql {
        path: path.to_path_buf(),
        source: e,
    }
}

impl Journal {
    /// Opens (creating if needed) and migrates the journal at `path`.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(|source| JournalError::Folder {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // A plain file path, never an SQLite URI (`file:j.db?mode=memory` would journal to
        // memory, and nothing would be remembered): SQLite reads a name as a URI only when
        // it starts with `file:`, which `./` or `/` in front rules out.
        let literal = match path.is_relative() {
            true => Path::new(".").join(path),
            false => path.to_path_buf(),
        };
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
            | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&literal, flags).map_err(|e| sql_error(path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| sql_error(path, e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| sql_error(path, e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| sql_error(path, e))?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| sql_error(path, e))?;
        if version > SCHEMA_VERSION {
            return Err(JournalError::Newer {
                path: path.to_path_buf(),
                found: version,
            });
        }
        if version < 1 {
            conn.execute_batch(&format!(
                "BEGIN; {SCHEMA_V1} PRAGMA user_version = 1; COMMIT;"
            ))
            .map_err(|e| sql_error(path, e))?;
        }
        if version < 2 {
            conn.execute_batch(&format!(
                "BEGIN; {SCHEMA_V2} PRAGMA user_version = 2; COMMIT;"
            ))
            .map_err(|e| sql_error(path, e))?;
        }
        if version < 3 {
            conn.execute_batch(&format!(
                "BEGIN; {SCHEMA_V3} PRAGMA user_version = 3; COMMIT;"
            ))
            .map_err(|e| sql_error(path, e))?;
        }
        if version < 4 {
            conn.execute_batch(&format!(
                "BEGIN; {SCHEMA_V4} PRAGMA user_version = 4; COMMIT;"
            ))
            .map_err(|e| sql_error(path, e))?;
        }
        Ok(Journal {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn lookup(&self, key: &Key) -> Result<Option<Entry>, JournalError> {
        self.conn()
            .query_row(
                "SELECT fingerprint, state, run_id, attempts, http_status, error, request_id, assignment_id, updated_at, seen
                 FROM assignments WHERE base_url = ?1 AND user_id = ?2 AND kind = ?3 AND policy_id = ?4",
                params![key.base_url, sql_id(key.user_id), key.kind.as_str(), key.policy_id],
                |r| {
                    Ok(Entry {
                        key: key.clone(),
                        fingerprint: r.get(0)?,
                        state: r.get(1)?,
                        run_id: r.get(2)?,
                        attempts: r.get(3)?,
                        http_status: r.get(4)?,
                        error: r.get(5)?,
                        request_id: r.get(6)?,
                        assignment_id: r.get(7)?,
                        updated_at: r.get(8)?,
                        seen: r.get(9)?,
                    })
                },
            )
            .optional()
            .map_err(|e| sql_error(&self.path, e))
    }

    /// Records that an assignment is about to be sent.
    pub fn begin(&self, key: &Key, fingerprint: &str, run_id: &str) -> Result<(), JournalError> {
        self.conn()
            .execute(
                "INSERT INTO assignments (base_url, user_id, kind, policy_id, fingerprint, state, run_id, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'in_flight', ?6, ?7)
                 ON CONFLICT (base_url, user_id, kind, policy_id) DO UPDATE SET
                   fingerprint = excluded.fingerprint, state = 'in_flight', run_id = excluded.run_id,
                   updated_at = excluded.updated_at",
                params![key.base_url, sql_id(key.user_id), key.kind.as_str(), key.policy_id, fingerprint, run_id, now()],
            )
            .map(drop)
            .map_err(|e| sql_error(&self.path, e))
    }

    /// Makes what is recorded so far survive a power cut too, not only a killed process:
    /// a checkpoint syncs the WAL and the database file. Called before a request that
    /// cannot be taken back (a pack assignment, a person created), whose `in_flight` or
    /// `creating` must not be lost.
    pub fn sync(&self) -> Result<(), JournalError> {
        self.conn()
            .query_row("PRAGMA wal_checkpoint(FULL)", [], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| sql_error(&self.path, e))
            .and_then(
                |(busy, logged, copied)| match busy == 0 && logged == copied {
                    true => Ok(()),
                    false => Err(sql_error(
                        &self.path,
                        rusqlite::Error::SqliteFailure(
                            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                            Some("the journal could not be synced (busy)".into()),
                        ),
                    )),
                },
            )
    }

    /// Records how an assignment ended.
    pub fn finish(&self, key: &Key, finished: &Finished<'_>) -> Result<(), JournalError> {
        let Finished {
            state,
            attempts,
            http_status,
            error,
            request_id,
            assignment_id,
            seen,
        } = *finished;
        self.conn()
            .execute(
                "UPDATE assignments SET state = ?5, attempts = ?6, http_status = ?7, error = ?8, request_id = ?9,
                   assignment_id = ?10, updated_at = ?11, seen = ?12
                 WHERE base_url = ?1 AND user_id = ?2 AND kind = ?3 AND policy_id = ?4",
                params![key.base_url, sql_id(key.user_id), key.kind.as_str(), key.policy_id, state.as_str(), attempts, http_status, error, request_id, assignment_id, now(), seen],
            )
            .map(drop)
            .map_err(|e| sql_error(&self.path, e))
    }

    /// Where the creation of the person with `phone` stands on this account, if it was
    /// ever begun.
    pub fn person(&self, base_url: &str, phone: &str) -> Result<Option<PersonState>, JournalError> {
        self.conn()
            .query_row(
                "SELECT state, user_id, error FROM people WHERE base_url = ?1 AND phone = ?2",
                params![base_url, phone],
                |r| {
                    let state: String = r.get(0)?;
                    let user_id: Option<i64> = r.get(1)?;
                    let error: String = r.get(2)?;
                    Ok(match (state.as_str(), user_id) {
                        ("created", Some(id)) => {
                            PersonState::Created(u64::try_from(id).unwrap_or_default())
                        }
                        ("failed", _) => PersonState::Failed(error),
                        _ => PersonState::Creating,
                    })
                },
            )
            .optional()
            .map_err(|e| sql_error(&self.path, e))
    }

    /// When the person with `phone`'s creation was last recorded (RFC 3339), if ever.
    pub fn person_updated_at(
        &self,
        base_url: &str,
        phone: &str,
    ) -> Result<Option<String>, JournalError> {
        self.conn()
            .query_row(
                "SELECT updated_at FROM people WHERE base_url = ?1 AND phone = ?2",
                params![base_url, phone],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql_error(&self.path, e))
    }

    /// The phones of every person whose creation was begun on this account (`creating`
    /// or `created`): people ct-onboard itself made, or may have.
    pub fn people_begun(&self, base_url: &str) -> Result<Vec<String>, JournalError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare(
                "SELECT phone FROM people WHERE base_url = ?1 AND state IN ('creating', 'created')",
            )
            .map_err(|e| sql_error(&self.path, e))?;
        statement
            .query_map(params![base_url], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| sql_error(&self.path, e))
    }

    /// Records where the creation of the person with `phone` stands: `Creating` before
    /// its request is sent.
    pub fn set_person(
        &self,
        base_url: &str,
        phone: &str,
        state: &PersonState,
        run_id: &str,
    ) -> Result<(), JournalError> {
        let (word, user_id, error) = match state {
            PersonState::Creating => ("creating", None, ""),
            PersonState::Created(id) => ("created", Some(sql_id(*id)), ""),
            PersonState::Failed(why) => ("failed", None, why.as_str()),
        };
        self.conn()
            .execute(
                "INSERT INTO people (base_url, phone, state, user_id, run_id, error, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (base_url, phone) DO UPDATE SET state = excluded.state,
                   user_id = excluded.user_id, run_id = excluded.run_id, error = excluded.error,
                   updated_at = excluded.updated_at",
                params![base_url, phone, word, user_id, run_id, error, now()],
            )
            .map(drop)
            .map_err(|e| sql_error(&self.path, e))
    }

    pub fn start_run(&self, run: &NewRun<'_>) -> Result<(), JournalError> {
        let (company_id, company_name) = run.company.map_or((None, None), |c| {
            (Some(c.company_id.as_str()), Some(c.company_name.as_str()))
        });
        self.conn()
            .execute(
                "INSERT INTO runs (id, started_at, mode, base_url, sheet, company_id, company_name) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![run.id, now(), run.mode, run.base_url, run.sheet, company_id, company_name],
            )
            .map(drop)
            .map_err(|e| sql_error(&self.path, e))
    }

    /// Whether a run of this ID is recorded.
    pub fn has_run(&self, id: &str) -> Result<bool, JournalError> {
        self.conn()
            .query_row("SELECT 1 FROM runs WHERE id = ?1", params![id], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| sql_error(&self.path, e))
    }

    pub fn finish_run(&self, id: &str, exit_code: u8, outcomes: &str) -> Result<(), JournalError> {
        self.conn()
            .execute(
                "UPDATE runs SET finished_at = ?2, exit_code = ?3, outcomes = ?4 WHERE id = ?1",
                params![id, now(), exit_code, outcomes],
            )
            .map(drop)
            .map_err(|e| sql_error(&self.path, e))
    }

    pub fn runs(&self) -> Result<Vec<RunRecord>, JournalError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare(
                "SELECT id, started_at, finished_at, mode, base_url, sheet, exit_code, outcomes, \
                 company_id, company_name FROM runs ORDER BY started_at, id",
            )
            .map_err(|e| sql_error(&self.path, e))?;
        let rows = statement
            .query_map([], |r| {
                Ok(RunRecord {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    mode: r.get(3)?,
                    base_url: r.get(4)?,
                    sheet: r.get(5)?,
                    exit_code: r.get(6)?,
                    outcomes: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
                    company_id: r.get(8)?,
                    company_name: r.get(9)?,
                })
            })
            .map_err(|e| sql_error(&self.path, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| sql_error(&self.path, e))
    }

    /// Every assignment ct-onboard recorded for one user on one account (`base_url`).
    pub fn own(&self, base_url: &str, user_id: u64) -> Result<Vec<Entry>, JournalError> {
        let mut entries = self.user_entries(user_id)?;
        entries.retain(|e| e.key.base_url == base_url);
        Ok(entries)
    }

    /// Every assignment recorded for one user, on any base URL.
    pub fn user_entries(&self, user_id: u64) -> Result<Vec<Entry>, JournalError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare(
                "SELECT base_url, kind, policy_id, fingerprint, state, run_id, attempts, http_status, error, request_id,
                        assignment_id, updated_at, seen
                 FROM assignments WHERE user_id = ?1 ORDER BY base_url, kind, policy_id",
            )
            .map_err(|e| sql_error(&self.path, e))?;
        let rows = statement
            .query_map([sql_id(user_id)], |r| {
                Ok(Entry {
                    key: Key {
                        base_url: r.get(0)?,
                        user_id,
                        kind: r.get(1)?,
                        policy_id: r.get(2)?,
                    },
                    fingerprint: r.get(3)?,
                    state: r.get(4)?,
                    run_id: r.get(5)?,
                    attempts: r.get(6)?,
                    http_status: r.get(7)?,
                    error: r.get(8)?,
                    request_id: r.get(9)?,
                    assignment_id: r.get(10)?,
                    updated_at: r.get(11)?,
                    seen: r.get(12)?,
                })
            })
            .map_err(|e| sql_error(&self.path, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| sql_error(&self.path, e))
    }
}

pub use lock::{LockError, StateLock, lock};

#[cfg(test)]
mod tests;
