//! `history`: past runs, and one user's assignment states, from the journal.

use std::path::Path;

use crate::cli::HistoryArgs;
use crate::config::Settings;
use crate::console::Console;
use crate::error::Error;
use crate::exit::Exit;
use crate::journal::{Entry, Journal, RunRecord};

pub(crate) fn history(
    args: &HistoryArgs,
    config: Option<&Path>,
    console: &Console,
) -> Result<Exit, Error> {
    let file = Settings::load(config).map_err(|p| Error::invalid(vec![p]))?;
    let state = args.settings.clone().or(file).state();
    if !state.exists() && args.json {
        console.line("[]");
        return Ok(Exit::Success);
    }
    if !state.exists() {
        console.line(&format!(
            "No journal at {} yet: nothing has run with this state file.",
            state.display()
        ));
        return Ok(Exit::Success);
    }
    let journal = Journal::open(&state).map_err(Error::journal)?;
    let text = match (args.user, args.json) {
        (Some(user), false) => {
            render_user(user, &journal.user_entries(user).map_err(Error::journal)?)
        }
        (None, false) => render_runs(&journal.runs().map_err(Error::journal)?),
        (Some(user), true) => json(&journal.user_entries(user).map_err(Error::journal)?)?,
        (None, true) => json(&journal.runs().map_err(Error::journal)?)?,
    };
    console.out(&text);
    Ok(Exit::Success)
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|e| Error::Local(e.to_string()))
}

/// Left-aligned columns, two spaces apart.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out += &format!("{}\n", cells.join("  ").trim_end());
    }
    out
}

fn render_runs(runs: &[RunRecord]) -> String {
    if runs.is_empty() {
        return "No runs recorded yet.\n".to_owned();
    }
    let mut rows = vec![
        [
            "RUN", "STARTED", "MODE", "COMPANY", "EXIT", "OUTCOMES", "SHEET",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for run in runs {
        let (exit, outcomes) = match (run.exit_code, &run.finished_at) {
            (Some(code), Some(_)) => (code.to_string(), run.outcomes.clone()),
            _ => (
                "-".to_owned(),
                "did not finish (killed?): the next run completes it".to_owned(),
            ),
        };
        rows.push(vec![
            run.id.clone(),
            run.started_at.clone(),
            run.mode.clone(),
            run.company().unwrap_or_else(|| "-".to_owned()),
            exit,
            outcomes,
            run.sheet.clone(),
        ]);
    }
    table(&rows)
}

fn render_user(user: u64, entries: &[Entry]) -> String {
    if entries.is_empty() {
        return format!("No assignment recorded for user {user}.\n");
    }
    let mut rows = vec![
        [
            "KIND", "POLICY", "STATE", "SENT", "ATTEMPTS", "HTTP", "RUN", "UPDATED", "BASE URL",
            "ERROR",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for e in entries {
        rows.push(vec![
            e.key.kind.as_str().to_owned(),
            e.key.policy_id.clone(),
            e.state.as_str().to_owned(),
            e.fingerprint.clone(),
            e.attempts.to_string(),
            e.http_status.map(|s| s.to_string()).unwrap_or_default(),
            e.run_id.clone(),
            e.updated_at.clone(),
            e.key.base_url.clone(),
            e.error.clone(),
        ]);
    }
    format!("User {user}\n{}", table(&rows))
}
