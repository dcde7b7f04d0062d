//! The run report HR opens in Excel: `users.csv`, `assignments.csv`, `failed.csv` and
//! `summary.json` in a folder of their own per run.
//!
//! Files are written to a temporary name and renamed into place (never half-written),
//! readable by their owner only (they hold personal data), as UTF-8 with a BOM so Excel
//! shows accented names, with formula-looking text neutralised.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::input::{Sheet, normalize_header};

/// What happened to one sheet row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Partial,
    Failed,
    Invalid,
    Skipped,
    Conflict,
    Deferred,
    NotAttempted,
    Planned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Partial => "partial",
            Outcome::Failed => "failed",
            Outcome::Invalid => "invalid",
            Outcome::Skipped => "skipped",
            Outcome::Conflict => "conflict",
            Outcome::Deferred => "deferred",
            Outcome::NotAttempted => "not_attempted",
            Outcome::Planned => "planned",
        }
    }

    /// Rows with these outcomes go to `failed.csv`, to be fixed and fed back in.
    pub fn needs_another_run(self) -> bool {
        !matches!(
            self,
            Outcome::Succeeded | Outcome::Skipped | Outcome::Planned
        )
    }
}

/// One assignment's line in `assignments.csv`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentLine {
    pub kind: &'static str,
    pub policy_id: String,
    pub policy_name: String,
    pub balance: String,
    pub unit: String,
    pub effective_date: String,
    pub status: String,
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub error: String,
    pub request_id: String,
    pub assignment_id: String,
    pub started_at: String,
    pub finished_at: String,
}

/// One sheet row's line in `users.csv`, with its assignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLine {
    /// Index into `Sheet::rows`, for the carried-through columns.
    pub index: usize,
    pub row: u64,
    pub identifier: String,
    pub user_id: Option<u64>,
    pub employee_type: String,
    pub outcome: Outcome,
    pub assignments: Vec<AssignmentLine>,
    pub errors: Vec<String>,
}

impl UserLine {
    fn count(&self, status: &str) -> usize {
        self.assignments
            .iter()
            .filter(|a| a.status == status)
            .count()
    }
}

/// The figures of `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub run_id: String,
    pub mode: &'static str,
    /// True when nothing was checked against Connecteam.
    pub offline: bool,
    pub sheet: String,
    pub manifest: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_secs: f64,
    pub users: usize,
    pub outcomes: BTreeMap<Outcome, usize>,
    pub assignments: usize,
    pub requests_planned: usize,
    pub requests_sent: u64,
    pub rate_limited: u64,
    pub retries: u64,
    pub quota_left: Option<u64>,
    /// When today's quota resets, if the run stopped for it.
    pub quota_resets_at: Option<String>,
    pub exit_code: u8,
}

/// Counts of each outcome among `users`.
pub fn count_outcomes(users: &[UserLine]) -> BTreeMap<Outcome, usize> {
    let mut counts = BTreeMap::new();
    for user in users {
        *counts.entry(user.outcome).or_insert(0) += 1;
    }
    counts
}

/// A fresh run ID from the clock, such as `20261123T091500Z`.
pub fn new_run_id() -> String {
    jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// Creates `report_dir/<run_id>/` (owner-only), adding `-2`, `-3`… if two runs share a second.
pub fn create_run_dir(report_dir: &Path, run_id: &str) -> std::io::Result<(PathBuf, String)> {
    std::fs::create_dir_all(report_dir)?;
    for n in 1u32.. {
        let id = if n == 1 {
            run_id.to_owned()
        } else {
            format!("{run_id}-{n}")
        };
        let dir = report_dir.join(&id);
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&dir) {
            Ok(()) => return Ok((dir, id)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    unreachable!("some suffix is free")
}

/// Writes the four report files into `dir`.
pub fn write_report(
    dir: &Path,
    sheet: &Sheet,
    users: &[UserLine],
    summary: &Summary,
) -> std::io::Result<()> {
    write_atomic(dir, "users.csv", &users_csv(sheet, users)?)?;
    write_atomic(dir, "assignments.csv", &assignments_csv(users)?)?;
    write_atomic(dir, "failed.csv", &failed_csv(sheet, users)?)?;
    let mut json = serde_json::to_vec_pretty(summary).map_err(std::io::Error::other)?;
    json.push(b'\n');
    write_atomic(dir, "summary.json", &json)
}

/// Writes `bytes` to `dir/name` through a temporary file in the same folder and a rename,
/// so a reader sees the old file or the whole new one, never a part. Mode 0600.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(dir.join(name)).map_err(|e| e.error)?;
    Ok(())
}

/// Neutralises text Excel would run as a formula by prefixing `'`. Plain numbers such
/// as `-5` are left alone: they cannot be formulas and users want them as numbers.
pub fn excel_safe(text: &str) -> Cow<'_, str> {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r', '\n']);
    if risky && text.parse::<f64>().is_err() {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(BOM.to_vec())
}

fn write_row<'a>(
    w: &mut csv::Writer<Vec<u8>>,
    fields: impl IntoIterator<Item = Cow<'a, str>>,
) -> std::io::Result<()> {
    let safe: Vec<String> = fields
        .into_iter()
        .map(|f| excel_safe(&f).into_owned())
        .collect();
    w.write_record(&safe).map_err(std::io::Error::other)
}

fn finish(w: csv::Writer<Vec<u8>>) -> std::io::Result<Vec<u8>> {
    w.into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

const USER_COLUMNS: [&str; 9] = [
    "row",
    "identifier",
    "user_id",
    "employee_type",
    "outcome",
    "assignments",
    "succeeded",
    "failed",
    "error",
];

fn users_csv(sheet: &Sheet, users: &[UserLine]) -> std::io::Result<Vec<u8>> {
    let mut w = csv_writer();
    write_row(
        &mut w,
        USER_COLUMNS
            .iter()
            .map(|c| Cow::Borrowed(*c))
            .chain(sheet.headers.iter().map(|h| Cow::Borrowed(h.as_str()))),
    )?;
    for user in users {
        let ours = [
            user.row.to_string(),
            user.identifier.clone(),
            user.user_id.map(|i| i.to_string()).unwrap_or_default(),
            user.employee_type.clone(),
            user.outcome.as_str().to_owned(),
            user.assignments.len().to_string(),
            (user.count("done") + user.count("skipped")).to_string(),
            user.count("failed").to_string(),
            user.errors.join("; "),
        ];
        let carried = sheet.rows[user.index]
            .cells
            .iter()
            .map(|c| c.display())
            .chain(std::iter::repeat(Cow::Borrowed("")));
        write_row(
            &mut w,
            ours.into_iter()
                .map(Cow::Owned)
                .chain(carried.take(sheet.headers.len())),
        )?;
    }
    finish(w)
}

const ASSIGNMENT_COLUMNS: [&str; 18] = [
    "row",
    "identifier",
    "user_id",
    "kind",
    "policy_id",
    "policy_name",
    "balance",
    "unit",
    "effective_date",
    "status",
    "http_status",
    "attempts",
    "error",
    "request_id",
    "assignment_id",
    "started_at",
    "finished_at",
    "employee_type",
];

fn assignments_csv(users: &[UserLine]) -> std::io::Result<Vec<u8>> {
    let mut w = csv_writer();
    write_row(&mut w, ASSIGNMENT_COLUMNS.iter().map(|c| Cow::Borrowed(*c)))?;
    for user in users {
        for a in &user.assignments {
            let fields = [
                user.row.to_string(),
                user.identifier.clone(),
                user.user_id.map(|i| i.to_string()).unwrap_or_default(),
                a.kind.to_owned(),
                a.policy_id.clone(),
                a.policy_name.clone(),
                a.balance.clone(),
                a.unit.clone(),
                a.effective_date.clone(),
                a.status.clone(),
                a.http_status.map(|s| s.to_string()).unwrap_or_default(),
                a.attempts.to_string(),
                a.error.clone(),
                a.request_id.clone(),
                a.assignment_id.clone(),
                a.started_at.clone(),
                a.finished_at.clone(),
                user.employee_type.clone(),
            ];
            write_row(&mut w, fields.into_iter().map(Cow::Owned))?;
        }
    }
    finish(w)
}

/// The rows to run again, in the sheet's own columns plus `error`: fix and feed back in.
/// A sheet that already has an `error` column (a `failed.csv` fed back) gets it replaced.
fn failed_csv(sheet: &Sheet, users: &[UserLine]) -> std::io::Result<Vec<u8>> {
    let keep: Vec<usize> = (0..sheet.headers.len())
        .filter(|&i| normalize_header(&sheet.headers[i]) != "error")
        .collect();
    let mut w = csv_writer();
    write_row(
        &mut w,
        keep.iter()
            .map(|&i| Cow::Borrowed(sheet.headers[i].as_str()))
            .chain([Cow::Borrowed("error")]),
    )?;
    for user in users.iter().filter(|u| u.outcome.needs_another_run()) {
        let row = &sheet.rows[user.index];
        let error = if user.errors.is_empty() {
            user.outcome.as_str().to_owned()
        } else {
            user.errors.join("; ")
        };
        write_row(
            &mut w,
            keep.iter()
                .map(|&i| row.cell(i).display())
                .chain([Cow::Owned(error)]),
        )?;
    }
    finish(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_text_is_neutralised_but_numbers_are_not() {
        assert_eq!(excel_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(excel_safe("+1 555 0100"), "'+1 555 0100");
        assert_eq!(excel_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(excel_safe("\tx"), "'\tx");
        assert_eq!(excel_safe("-5"), "-5");
        assert_eq!(excel_safe("-2.5"), "-2.5");
        assert_eq!(excel_safe("Ana"), "Ana");
    }
}
