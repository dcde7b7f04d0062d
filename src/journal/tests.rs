use jiff::civil::date;

use super::*;
use crate::manifest::{Balance, PolicyRef, Unit};

fn time_off(balance: &str) -> Assignment {
    Assignment::TimeOff {
        policy: PolicyRef {
            id: Some("pol-1".into()),
            name: None,
        },
        balance: Some(Balance {
            amount: balance.parse().unwrap(),
            unit: Unit::Days,
        }),
    }
}

#[test]
fn fingerprints_say_what_was_sent_and_ignore_trailing_zeros() {
    assert_eq!(fingerprint(&time_off("15.0")), fingerprint(&time_off("15")));
    assert_eq!(fingerprint(&time_off("7.50")), "balance 7.5 days");
    assert_ne!(fingerprint(&time_off("16")), fingerprint(&time_off("15")));
    let pay = Assignment::PayRule {
        policy: PolicyRef {
            id: Some(1),
            name: None,
        },
        effective_date: date(2027, 1, 4),
    };
    assert_eq!(fingerprint(&pay), "effective 2027-01-04");
}

#[test]
fn a_sync_puts_what_is_journaled_in_the_database_file_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ct.db");
    let journal = Journal::open(&path).unwrap();
    let key = Key::of("https://api", 7, &time_off("15"));
    journal.begin(&key, "balance 15 days", "r1").unwrap();
    journal.sync().unwrap();
    // Read from a copy of the database file alone, without its WAL: it is there.
    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    let rows: i64 = Connection::open(&copy)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM assignments WHERE state = 'in_flight'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn entries_go_in_flight_then_done_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/ct.db");
    let journal = Journal::open(&path).unwrap();
    let key = Key::of("https://api", 7, &time_off("15"));
    assert_eq!(journal.lookup(&key).unwrap(), None);
    journal
        .start_run(&NewRun {
            id: "r1",
            mode: "run",
            base_url: "https://api",
            company: None,
            sheet: "h.csv",
        })
        .unwrap();
    journal.begin(&key, "balance 15 days", "r1").unwrap();
    assert_eq!(
        journal.lookup(&key).unwrap().unwrap().state,
        State::InFlight
    );
    let finished = Finished {
        state: State::Done,
        attempts: 2,
        http_status: Some(200),
        error: "",
        request_id: "req-1",
        assignment_id: "",
        seen: "",
    };
    journal.finish(&key, &finished).unwrap();
    journal.finish_run("r1", 0, "succeeded: 1").unwrap();
    drop(journal);

    let journal = Journal::open(&path).unwrap();
    let entry = journal.lookup(&key).unwrap().unwrap();
    assert_eq!(
        (
            entry.state.as_str(),
            entry.attempts,
            entry.http_status,
            entry.request_id.as_str()
        ),
        ("done", 2, Some(200), "req-1")
    );
    assert_eq!(journal.user_entries(7).unwrap().len(), 1);
    let runs = journal.runs().unwrap();
    assert_eq!((runs[0].id.as_str(), runs[0].exit_code), ("r1", Some(0)));
    let other_host = Key {
        base_url: "https://api-au".into(),
        ..key
    };
    assert_eq!(
        journal.lookup(&other_host).unwrap(),
        None,
        "keyed by base URL too"
    );
}

#[test]
fn a_version_2_journal_keeps_its_runs_and_rows_and_learns_the_company() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ct.db");
    let old = Connection::open(&path).unwrap();
    old.execute_batch(&format!(
        "{SCHEMA_V1} {SCHEMA_V2} PRAGMA user_version = 2;
         INSERT INTO runs (id, started_at, mode, base_url, sheet, exit_code, outcomes)
           VALUES ('r0', '2026-11-01T00:00:00Z', 'run', 'https://api', 'h.csv', 0, 'succeeded: 1');
         INSERT INTO assignments (base_url, user_id, kind, policy_id, fingerprint, state, run_id, updated_at)
           VALUES ('https://api', 7, 'pay_rule', '12345', 'from 2027-01-04', 'done', 'r0', '2026-11-01T00:00:00Z');"
    ))
    .unwrap();
    drop(old);
    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.user_entries(7).unwrap().len(), 1, "rows kept");
    let company = Company {
        company_id: "c1".into(),
        company_name: "Acme".into(),
    };
    journal
        .start_run(&NewRun {
            id: "r1",
            mode: "run",
            base_url: "https://api",
            company: Some(&company),
            sheet: "h.csv",
        })
        .unwrap();
    let runs = journal.runs().unwrap();
    assert_eq!(runs[0].company(), None, "an old run names no company");
    assert_eq!(runs[1].company().as_deref(), Some("Acme (company c1)"));
    drop(journal);
    let version: i64 = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn a_journal_from_a_newer_release_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ct.db");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = Journal::open(&path).err().unwrap();
    assert!(
        err.to_string()
            .contains("newer than this ct-onboard understands"),
        "{err}"
    );
}

#[test]
fn a_second_lock_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("ct.db");
    let held = StateLock::acquire(&state).unwrap();
    match StateLock::acquire(&state) {
        Err(LockError::Held(holder)) => assert!(
            holder.contains(&format!("pid {}", std::process::id())),
            "{holder}"
        ),
        _ => panic!("the second lock should be refused"),
    }
    drop(held);
    assert!(StateLock::acquire(&state).is_ok(), "released on drop");
}
