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

mod html;

pub use html::PageContext;

use crate::holdings::{Change, Diff};
use crate::input::{Cell, Sheet, normalize_header};
use crate::plan::{Assignment, Identity, Kind, PlanRow};

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
    /// Some write answered with a success is not seen held as sent (yet).
    Unverified,
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
            Outcome::Unverified => "unverified",
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

/// What happened to one assignment. The words appear once, in [`AssignmentStatus::as_str`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStatus {
    /// A dry run: it would be sent.
    #[default]
    Planned,
    /// Sent, and Connecteam accepted it.
    Done,
    /// Already done with the same parameters: nothing sent.
    Skipped,
    /// Already done with other parameters: left alone unless `--reapply`.
    Conflict,
    Failed,
    /// Not started: today's quota ran out.
    Deferred,
    /// Not started: the run stopped first (interrupt, refused key, `--max-errors`, `--limit`).
    NotAttempted,
    /// Sent and answered with a success, but not seen held as sent within the verify
    /// patience: the next run reads the account before deciding.
    Unverified,
}

impl AssignmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentStatus::Planned => "planned",
            AssignmentStatus::Done => "done",
            AssignmentStatus::Skipped => "skipped",
            AssignmentStatus::Conflict => "conflict",
            AssignmentStatus::Failed => "failed",
            AssignmentStatus::Deferred => "deferred",
            AssignmentStatus::NotAttempted => "not_attempted",
            AssignmentStatus::Unverified => "unverified",
        }
    }

    /// Held by the account when the run ends, by this run or an earlier one.
    pub fn is_held(self) -> bool {
        matches!(self, AssignmentStatus::Done | AssignmentStatus::Skipped)
    }
}

/// One assignment's line in `assignments.csv`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentLine {
    pub kind: Kind,
    pub policy_id: String,
    pub policy_name: String,
    pub balance: String,
    pub unit: String,
    pub effective_date: String,
    pub status: AssignmentStatus,
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub error: String,
    pub request_id: String,
    pub assignment_id: String,
    pub started_at: String,
    pub finished_at: String,
    /// What it changes in the account, and what the account held before.
    pub change: Change,
    pub holds: String,
    /// How a balance worked out per row came about: `15 days × 184/365 = 7.5`.
    pub balance_basis: String,
}

impl AssignmentLine {
    /// A planned line of a plan cut short by a signal: it is not planned after all.
    pub fn interrupted(&mut self) {
        if self.status == AssignmentStatus::Planned {
            self.status = AssignmentStatus::NotAttempted;
            self.error = "interrupted before the plan was complete".to_owned();
        }
    }

    /// The line with what the account holds and what sending changes.
    #[must_use]
    pub fn with_diff(self, diff: &Diff) -> AssignmentLine {
        AssignmentLine {
            change: diff.change,
            holds: diff.holds_in_words(),
            ..self
        }
    }

    /// The fields that describe what is sent, status `planned`.
    pub fn of(a: &Assignment) -> AssignmentLine {
        let (policy_id, policy_name) = a.policy_id_and_name();
        let mut line = AssignmentLine {
            kind: a.kind(),
            policy_id,
            policy_name,
            ..AssignmentLine::default()
        };
        match a {
            Assignment::TimeOff {
                balance: Some(b), ..
            } => {
                line.balance = b.amount.to_string();
                line.unit = b.unit.as_str().to_owned();
            }
            Assignment::TimeOff { balance: None, .. } => {}
            Assignment::PayRule { effective_date, .. } => {
                line.effective_date = effective_date.to_string();
            }
            Assignment::OnboardingPack { .. } => {}
        }
        line
    }

    /// Not sent, for `reason`.
    pub fn unsent(a: &Assignment, status: AssignmentStatus, reason: &str) -> AssignmentLine {
        AssignmentLine {
            status,
            error: reason.to_owned(),
            ..AssignmentLine::of(a)
        }
    }
}

/// One sheet row's line in `users.csv`, with its assignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLine {
    /// Index into `Sheet::rows`, for the carried-through columns.
    pub index: usize,
    pub row: u64,
    pub identifier: String,
    pub user_id: Option<u64>,
    /// `existing`, `create` (planned), `created` or `failed`: what was done about the
    /// person before their assignments.
    pub user_action: &'static str,
    pub employee_type: String,
    pub outcome: Outcome,
    pub assignments: Vec<AssignmentLine>,
    pub errors: Vec<String>,
}

impl UserLine {
    /// A row's line with the given assignment lines; outcome and errors follow from them.
    /// An invalid row gets `invalid` and its problems, whatever the lines.
    pub fn new(row: &PlanRow, assignments: Vec<AssignmentLine>) -> UserLine {
        let mut line = UserLine {
            index: row.index,
            row: row.number,
            identifier: row
                .identity
                .as_ref()
                .map(Identity::to_string)
                .unwrap_or_default(),
            user_id: row.user_id,
            // Offline, or not resolved: who the row is in Connecteam is not known.
            user_action: match (&row.person, row.user_id) {
                (None, None) => "",
                (person, _) => crate::plan::user_action(person.as_deref()),
            },
            employee_type: row.employee_type.clone(),
            outcome: Outcome::Planned,
            assignments,
            errors: Vec::new(),
        };
        let not_created = row.person.as_ref().and_then(|p| match &p.state {
            crate::plan::Creation::Failed(why) => Some((Outcome::Failed, why.clone())),
            crate::plan::Creation::NotSent(why) => Some((Outcome::NotAttempted, why.clone())),
            // Exit 1 and `failed.csv`: a cron job hears of it.
            crate::plan::Creation::InDoubt(why) => Some((Outcome::Unverified, why.clone())),
            _ => None,
        });
        for (i, basis) in &row.bases {
            if let Some(a) = line.assignments.get_mut(*i) {
                a.balance_basis.clone_from(basis);
            }
        }
        if let Some((outcome, why)) = not_created.filter(|_| row.is_valid()) {
            line.assignments = row
                .assignments
                .iter()
                .map(|a| AssignmentLine {
                    // Nothing is held by someone who is not there.
                    change: Change::New,
                    ..AssignmentLine::unsent(
                        a,
                        AssignmentStatus::NotAttempted,
                        match outcome {
                            Outcome::Unverified => {
                                "not sent: whether the person was created is not known yet"
                            }
                            _ => "not sent: the person was not created",
                        },
                    )
                })
                .collect();
            line.outcome = outcome;
            line.errors = vec![why];
        } else if row.is_valid() {
            line.errors = line
                .assignments
                .iter()
                .filter(|a| !a.error.is_empty())
                .map(|a| format!("{} {}: {}", a.kind, a.policy_id, a.error))
                .collect();
            line.outcome = Outcome::of(&line.assignments);
        } else {
            line.assignments.clear();
            line.outcome = Outcome::Invalid;
            line.errors = row.problems.iter().map(|p| p.message.clone()).collect();
        }
        line
    }

    /// A planned row: every assignment `planned` (an invalid row: `invalid`).
    pub fn planned(row: &PlanRow) -> UserLine {
        UserLine::new(
            row,
            row.assignments.iter().map(AssignmentLine::of).collect(),
        )
    }

    pub fn count(&self, status: AssignmentStatus) -> usize {
        self.assignments
            .iter()
            .filter(|a| a.status == status)
            .count()
    }
}

impl Outcome {
    /// A user's outcome from its assignments' statuses.
    pub fn of(assignments: &[AssignmentLine]) -> Outcome {
        use AssignmentStatus as S;
        let has = |status: S| assignments.iter().any(|a| a.status == status);
        if has(S::Failed) {
            if assignments.iter().any(|a| a.status.is_held()) {
                Outcome::Partial
            } else {
                Outcome::Failed
            }
        } else if has(S::Conflict) {
            Outcome::Conflict
        } else if has(S::Unverified) {
            Outcome::Unverified
        } else if has(S::Deferred) {
            Outcome::Deferred
        } else if has(S::NotAttempted) {
            if has(S::Done) {
                Outcome::Partial
            } else {
                Outcome::NotAttempted
            }
        } else if has(S::Planned) {
            Outcome::Planned
        } else if !assignments.is_empty() && assignments.iter().all(|a| a.status == S::Skipped) {
            Outcome::Skipped
        } else {
            Outcome::Succeeded
        }
    }
}

/// Counts of each change across `users`' assignments.
pub fn count_changes(users: &[UserLine]) -> BTreeMap<Change, usize> {
    let mut counts = BTreeMap::new();
    for a in users.iter().flat_map(|u| &u.assignments) {
        *counts.entry(a.change).or_insert(0) += 1;
    }
    counts
}

/// Counts of each assignment status across `users`.
pub fn count_statuses(users: &[UserLine]) -> BTreeMap<AssignmentStatus, usize> {
    let mut counts = BTreeMap::new();
    for a in users.iter().flat_map(|u| &u.assignments) {
        *counts.entry(a.status).or_insert(0) += 1;
    }
    counts
}

/// What a plan will cost in requests, time and daily quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    pub users: usize,
    pub assignments: usize,
    pub time_off: usize,
    pub pay_rule: usize,
    /// Onboarding pack assignments planned, and the requests that make them (one per
    /// pack per 500 users).
    pub onboarding_pack: usize,
    pub pack_writes: usize,
    /// Done before with the same parameters, per the journal: not sent again.
    pub already_done: usize,
    /// Done before with other parameters: left alone unless `--reapply`.
    pub conflicts: usize,
    /// People not in Connecteam yet, and the `POST /users/v1/users` (25 a request) that
    /// create them.
    pub people_to_create: usize,
    pub creations: usize,
    /// Which company (`GET /me`) and the two policy listings, read once per run.
    pub policy_reads: usize,
    pub user_lookups: usize,
    /// Reads of what users hold, before writing (refresh) and after (verify).
    pub refresh_reads: usize,
    pub verify_reads: usize,
    /// Assignments by what they change in the account.
    pub changes: BTreeMap<Change, usize>,
    /// Changes held back because they would lose what a user holds.
    pub guarded: usize,
    /// Assignments held back because what the user holds could not be read.
    pub guarded_unknown: usize,
}

impl Estimate {
    /// The cost of what `lines` still plan to send (not what the journal settles).
    pub fn of(plan: &crate::plan::Plan, lines: &[UserLine]) -> Estimate {
        let valid: Vec<&PlanRow> = plan.valid_rows().collect();
        let count = |status: AssignmentStatus, kind: Option<Kind>| {
            lines
                .iter()
                .flat_map(|l| &l.assignments)
                .filter(|a| a.status == status && kind.is_none_or(|k| a.kind == k))
                .count()
        };
        let emails = valid
            .iter()
            .filter(|r| matches!(r.identity, Some(Identity::Email(_))) || r.also_email.is_some())
            .count();
        let ids = valid
            .iter()
            .filter(|r| matches!(r.identity, Some(Identity::UserId(_))))
            .count();
        // Creating people, the phones of rows found by email are looked up too.
        let creating = valid.iter().any(|r| r.person.is_some());
        let phones = valid
            .iter()
            .filter(|r| match r.identity {
                Some(Identity::Phone(_)) => true,
                Some(Identity::Email(_)) => creating && r.phone.is_some(),
                _ => false,
            })
            .count();
        let batch = crate::resolve::LOOKUP_BATCH;
        Estimate {
            users: valid.len(),
            assignments: count(AssignmentStatus::Planned, None),
            time_off: count(AssignmentStatus::Planned, Some(Kind::TimeOff)),
            pay_rule: count(AssignmentStatus::Planned, Some(Kind::PayRule)),
            onboarding_pack: count(AssignmentStatus::Planned, Some(Kind::OnboardingPack)),
            pack_writes: {
                let mut per_pack: BTreeMap<&str, usize> = BTreeMap::new();
                for a in lines.iter().flat_map(|l| &l.assignments).filter(|a| {
                    a.status == AssignmentStatus::Planned && a.kind == Kind::OnboardingPack
                }) {
                    *per_pack.entry(a.policy_id.as_str()).or_default() += 1;
                }
                per_pack
                    .values()
                    .map(|n| n.div_ceil(crate::api::endpoint::PACK_BATCH))
                    .sum()
            },
            already_done: count(AssignmentStatus::Skipped, None),
            conflicts: count(AssignmentStatus::Conflict, None),
            people_to_create: valid.iter().filter(|r| r.person.is_some()).count(),
            creations: valid
                .iter()
                .filter(|r| r.person.is_some())
                .count()
                .div_ceil(crate::api::endpoint::CREATE_BATCH),
            // Which company, the two policy listings, and the packs when named.
            policy_reads: 3 + usize::from(valid.iter().any(|r| {
                r.assignments
                    .iter()
                    .any(|a| a.kind() == Kind::OnboardingPack)
            })),
            // Each lookup's page of users, and the empty page that ends it.
            user_lookups: 2
                * (emails.div_ceil(batch) + phones.div_ceil(batch) + ids.div_ceil(batch)),
            refresh_reads: 0,
            verify_reads: 0,
            changes: count_changes(lines),
            guarded: lines
                .iter()
                .flat_map(|l| &l.assignments)
                .filter(|a| a.status == AssignmentStatus::Conflict && a.change != Change::Unknown)
                .count(),
            guarded_unknown: lines
                .iter()
                .flat_map(|l| &l.assignments)
                .filter(|a| a.status == AssignmentStatus::Conflict && a.change == Change::Unknown)
                .count(),
        }
    }

    pub fn requests(&self) -> usize {
        self.assignments - self.onboarding_pack
            + self.pack_writes
            + self.creations
            + self.policy_reads
            + self.user_lookups
            + self.refresh_reads
            + self.verify_reads
    }
}

/// The figures of `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub run_id: String,
    pub mode: &'static str,
    /// True when nothing was checked against Connecteam.
    pub offline: bool,
    /// True against the simulator (`--sandbox`): nothing reached Connecteam.
    pub rehearsal: bool,
    /// Which company the key is for (`GET /me`); none offline.
    pub company_id: Option<String>,
    pub company_name: Option<String>,
    pub sheet: String,
    pub manifest: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_secs: f64,
    pub users: usize,
    pub outcomes: BTreeMap<Outcome, usize>,
    /// Assignments by what they change in the account (`unknown` when it was not read).
    pub changes: BTreeMap<Change, usize>,
    pub assignments: usize,
    pub requests_planned: usize,
    pub requests_sent: u64,
    pub rate_limited: u64,
    pub retries: u64,
    pub quota_left: Option<u64>,
    /// When today's quota resets, if the run stopped for it.
    pub quota_resets_at: Option<String>,
    /// Kinds of holding not read before writing (`--without-refresh`): those
    /// assignments were decided by the journal.
    pub without_refresh: Vec<&'static str>,
    /// People created in Connecteam (`--create-missing`); a plan counts those it would
    /// create in `users_to_create`.
    pub users_created: usize,
    pub users_to_create: usize,
    pub exit_code: u8,
}

impl Summary {
    /// `Northwind Foods (company 4f9a2c)`, when the account was read.
    pub fn company(&self) -> Option<String> {
        let id = self.company_id.as_deref()?;
        Some(match self.company_name.as_deref() {
            Some(name) => format!("{name} (company {id})"),
            None => format!("company {id}"),
        })
    }
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
    // Owner-only from the top: the folder of reports holds personal data too.
    let mut parent = std::fs::DirBuilder::new();
    parent.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut parent, 0o700);
    parent.create(report_dir)?;
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

/// Writes the report files into `dir`: the CSVs, `report.html`, and `summary.json` last.
pub fn write_report(
    dir: &Path,
    sheet: &Sheet,
    users: &[UserLine],
    summary: &Summary,
    page: &PageContext<'_>,
) -> std::io::Result<()> {
    let _writing = crate::signal::Writing::start();
    tracing::info!(event = "report", dir = %dir.display(), "writing the report in {}", dir.display());
    // Each file streams into its temporary: a report of 100,000 rows is never held whole.
    write_atomic_with(dir, "users.csv", |w| users_csv(w, sheet, users))?;
    write_atomic_with(dir, "assignments.csv", |w| assignments_csv(w, users))?;
    write_atomic_with(dir, "failed.csv", |w| failed_csv(w, sheet, users))?;
    write_atomic_with(dir, "report.html", |w| {
        html::write(w, sheet, users, summary, page)
    })?;
    let mut json = serde_json::to_vec_pretty(summary).map_err(std::io::Error::other)?;
    json.push(b'\n');
    write_atomic(dir, "summary.json", &json)
}

/// Writes `bytes` to `path` atomically and owner-only (see [`write_atomic`]).
pub fn write_atomic_path(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let _writing = crate::signal::Writing::start();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other(format!("{} is not a file name", path.display())))?;
    write_atomic(dir, name, bytes)
}

/// Writes `bytes` to `dir/name` through a temporary file in the same folder and a rename,
/// so a reader sees the old file or the whole new one, never a part. Mode 0600.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(dir, name, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], with the content streamed in by `write`.
pub fn write_atomic_with(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    let mut buffered = std::io::BufWriter::new(file);
    write(&mut buffered)?;
    let file = buffered.into_inner().map_err(|e| e.into_error())?;
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

/// A CSV writer over `out`, which has had the BOM Excel needs to read UTF-8.
fn csv_writer(out: &mut dyn Write) -> std::io::Result<csv::Writer<&mut dyn Write>> {
    out.write_all(BOM)?;
    Ok(csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out))
}

fn write_row<'a>(
    w: &mut csv::Writer<&mut dyn Write>,
    fields: impl IntoIterator<Item = Cow<'a, str>>,
) -> std::io::Result<()> {
    let safe: Vec<String> = fields
        .into_iter()
        .map(|f| excel_safe(&f).into_owned())
        .collect();
    w.write_record(&safe).map_err(std::io::Error::other)
}

fn finish(mut w: csv::Writer<&mut dyn Write>) -> std::io::Result<()> {
    w.flush()
}

const USER_COLUMNS: [&str; 10] = [
    "row",
    "identifier",
    "user_id",
    "user_action",
    "employee_type",
    "outcome",
    "assignments",
    "succeeded",
    "failed",
    "error",
];

/// A sheet column's header in `users.csv`: suffixed when it would repeat one of
/// ct-onboard's own (`user_id (sheet)`), so that every column has a name of its own.
fn carried_header(header: &str) -> Cow<'_, str> {
    let key = normalize_header(header);
    if USER_COLUMNS
        .iter()
        .any(|ours| normalize_header(ours) == key)
    {
        Cow::Owned(format!("{header} (sheet)"))
    } else {
        Cow::Borrowed(header)
    }
}

fn users_csv(out: &mut dyn Write, sheet: &Sheet, users: &[UserLine]) -> std::io::Result<()> {
    let mut w = csv_writer(out)?;
    write_row(
        &mut w,
        USER_COLUMNS
            .iter()
            .map(|c| Cow::Borrowed(*c))
            .chain(sheet.headers.iter().map(|h| carried_header(h))),
    )?;
    for user in users {
        let ours = [
            user.row.to_string(),
            user.identifier.clone(),
            user.user_id.map(|i| i.to_string()).unwrap_or_default(),
            user.user_action.to_owned(),
            user.employee_type.clone(),
            user.outcome.as_str().to_owned(),
            user.assignments.len().to_string(),
            user.assignments
                .iter()
                .filter(|a| a.status.is_held())
                .count()
                .to_string(),
            user.count(AssignmentStatus::Failed).to_string(),
            user.errors.join("; "),
        ];
        let carried = sheet.rows[user.index]
            .cells()
            .map(Cell::display)
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

const ASSIGNMENT_COLUMNS: [&str; 21] = [
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
    "change",
    "holds",
    "balance_basis",
];

fn assignments_csv(out: &mut dyn Write, users: &[UserLine]) -> std::io::Result<()> {
    let mut w = csv_writer(out)?;
    write_row(&mut w, ASSIGNMENT_COLUMNS.iter().map(|c| Cow::Borrowed(*c)))?;
    for user in users {
        for a in &user.assignments {
            let fields = [
                user.row.to_string(),
                user.identifier.clone(),
                user.user_id.map(|i| i.to_string()).unwrap_or_default(),
                a.kind.as_str().to_owned(),
                a.policy_id.clone(),
                a.policy_name.clone(),
                a.balance.clone(),
                a.unit.clone(),
                a.effective_date.clone(),
                a.status.as_str().to_owned(),
                a.http_status.map(|s| s.to_string()).unwrap_or_default(),
                a.attempts.to_string(),
                a.error.clone(),
                a.request_id.clone(),
                a.assignment_id.clone(),
                a.started_at.clone(),
                a.finished_at.clone(),
                user.employee_type.clone(),
                a.change.as_str().to_owned(),
                a.holds.clone(),
                a.balance_basis.clone(),
            ];
            write_row(&mut w, fields.into_iter().map(Cow::Owned))?;
        }
    }
    finish(w)
}

/// The rows to run again, in the sheet's own columns plus `error`: fix and feed back in.
/// A sheet that already has an `error` column (a `failed.csv` fed back) gets it replaced.
fn failed_csv(out: &mut dyn Write, sheet: &Sheet, users: &[UserLine]) -> std::io::Result<()> {
    let keep: Vec<usize> = (0..sheet.headers.len())
        .filter(|&i| normalize_header(&sheet.headers[i]) != "error")
        .collect();
    let mut w = csv_writer(out)?;
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

    fn line(status: AssignmentStatus) -> AssignmentLine {
        AssignmentLine {
            status,
            ..AssignmentLine::default()
        }
    }

    #[test]
    fn outcomes_follow_assignment_statuses() {
        use AssignmentStatus::*;
        let of = |statuses: &[AssignmentStatus]| {
            Outcome::of(&statuses.iter().map(|s| line(*s)).collect::<Vec<_>>())
        };
        assert_eq!(of(&[Done, Done]), Outcome::Succeeded);
        assert_eq!(of(&[]), Outcome::Succeeded);
        assert_eq!(of(&[Done, Failed]), Outcome::Partial);
        assert_eq!(of(&[Skipped, Failed]), Outcome::Partial);
        assert_eq!(of(&[Failed]), Outcome::Failed);
        assert_eq!(of(&[Done, Conflict]), Outcome::Conflict);
        assert_eq!(of(&[Done, Deferred]), Outcome::Deferred);
        assert_eq!(of(&[NotAttempted, NotAttempted]), Outcome::NotAttempted);
        assert_eq!(of(&[Skipped, Skipped]), Outcome::Skipped);
        assert_eq!(of(&[Planned, Skipped]), Outcome::Planned);
    }

    #[test]
    fn an_interrupted_user_with_some_assignments_done_is_partial() {
        use AssignmentStatus::*;
        let lines = [line(Done), line(NotAttempted)];
        assert_eq!(Outcome::of(&lines), Outcome::Partial);
    }

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
