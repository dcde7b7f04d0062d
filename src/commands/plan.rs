//! `plan` and `run --dry-run`, and the validation every run starts with.

use std::path::Path;

use super::{
    Inputs, api_failure, connect, load_inputs, plan_inputs, print_problems, stop_invalid,
    write_run_report,
};
use crate::api::Client;
use crate::cli::InputArgs;
use crate::config::Settings;
use crate::exec;
use crate::exit::Exit;
use crate::journal::Journal;
use crate::plan::{Identity, Plan, PlanRow};
use crate::report::{AssignmentLine, Outcome, Summary, UserLine};
use crate::resolve::{Directory, LOOKUP_BATCH, UserDirectory, resolve_manifest, resolve_users};
use crate::saved_plan::{Fingerprints, SavedAssignment, SavedPlan, file_sha256, sha256_hex};

/// Inputs validated (online when there is a client) and planned, ready to report or run.
pub(crate) struct Prepared {
    pub inputs: Inputs,
    pub plan: Plan,
    pub client: Option<Client>,
    pub invalid_rows: usize,
}

/// Where a run's client comes from.
pub(crate) enum Target<'a> {
    /// The settings' base URL and key; no key means offline.
    Settings,
    /// The in-process sandbox at this URL.
    Sandbox(&'a str),
}

/// Reads and checks everything, against Connecteam when there is a client: every problem
/// is printed, and any that stops the run becomes its exit code.
pub(crate) async fn prepare(
    args: &InputArgs,
    config: Option<&Path>,
    target: Target<'_>,
) -> Result<Prepared, Exit> {
    let mut inputs =
        load_inputs(args, config).map_err(|problems| stop_invalid(print_problems(&problems)))?;
    let client = match target {
        Target::Settings => connect(&inputs.settings),
        Target::Sandbox(url) => {
            let key = crate::api::ApiKey::new("sandbox").expect("a non-empty key");
            let timeout = std::time::Duration::from_secs(inputs.settings.request_timeout_secs());
            Client::new(url, &key, timeout).map(Some)
        }
    }
    .map_err(|message| {
        eprintln!("error: {message}");
        Exit::Invalid
    })?;
    let retries = inputs.settings.max_retries();
    if let Some(client) = &client {
        let directory = Directory::fetch(client, retries)
            .await
            .map_err(|e| api_failure(&e))?;
        let resolved = resolve_manifest(&inputs.manifest, &directory);
        for warning in &resolved.warnings {
            eprintln!("warning: {warning}");
        }
        if !resolved.errors.is_empty() {
            return Err(stop_invalid(print_problems(&resolved.errors)));
        }
        inputs.manifest = resolved.manifest;
    }
    let mut plan = plan_inputs(&inputs, args);
    if let Some(client) = &client {
        let users = UserDirectory::fetch(client, &plan, retries)
            .await
            .map_err(|e| api_failure(&e))?;
        resolve_users(&mut plan, &users, &inputs.columns, &inputs.sheet.file);
    }
    let global = print_problems(&plan.problems);
    let invalid_rows = plan.rows.iter().filter(|r| !r.is_valid()).count();
    let nothing_valid = invalid_rows == plan.rows.len();
    if global > 0 || (invalid_rows > 0 && (!args.skip_invalid || nothing_valid)) {
        let count = global + print_problems(plan.rows.iter().flat_map(|r| &r.problems));
        if global == 0 && !nothing_valid && !args.skip_invalid {
            eprintln!(
                "(--skip-invalid would go ahead with the {} valid rows)",
                plan.rows.len() - invalid_rows
            );
        }
        return Err(stop_invalid(count));
    }
    for problem in plan.rows.iter().flat_map(|r| &r.problems) {
        eprintln!("skipped: {problem}");
    }
    Ok(Prepared {
        inputs,
        plan,
        client,
        invalid_rows,
    })
}

/// `plan` and `run --dry-run`: validate, print the plan, and write a report of `planned`
/// rows. Sends no write.
pub(crate) async fn dry_run(args: &InputArgs, config: Option<&Path>, out: Option<&Path>) -> Exit {
    let started = jiff::Timestamp::now();
    let Prepared {
        inputs,
        plan,
        client,
        invalid_rows,
    } = match prepare(args, config, Target::Settings).await {
        Ok(prepared) => prepared,
        Err(exit) => return exit,
    };
    let decided = match journal_decisions(&inputs, client.as_ref(), &plan) {
        Ok(decided) => decided,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Invalid;
        }
    };
    let users: Vec<UserLine> = plan
        .rows
        .iter()
        .map(|row| planned_line_as(row, decided.get(&row.index).map(Vec::as_slice)))
        .collect();
    let estimate = Estimate::of(&plan, &users);
    let conflicts = users.iter().any(|u| u.outcome == Outcome::Conflict);
    let exit = if invalid_rows > 0 || conflicts {
        Exit::SomeFailed
    } else {
        Exit::Success
    };
    let mut summary = Summary {
        mode: "plan",
        offline: client.is_none(),
        assignments: estimate.assignments,
        requests_planned: estimate.requests(),
        requests_sent: client.as_ref().map_or(0, Client::requests_sent),
        rate_limited: client.as_ref().map_or(0, Client::rate_limited_count),
        quota_left: client.as_ref().and_then(|c| c.last_limits().day_remaining),
        exit_code: exit.code(),
        ..Summary::new(&inputs, &users, started)
    };
    let dir = match write_run_report(&inputs, &users, &mut summary) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!(
                "error: cannot write the report under {}: {e}",
                inputs.settings.report_dir().display()
            );
            return Exit::Invalid;
        }
    };
    let checked_at = client.as_ref().map(Client::base_url);
    print!(
        "{}",
        estimate.render(&inputs.settings, invalid_rows, checked_at)
    );
    println!("Report: {}", dir.display());
    if let Some(out) = out {
        if let Err(message) = save_plan(out, args, &inputs, &plan, client.as_ref()) {
            eprintln!("error: {message}");
            return Exit::Invalid;
        }
        println!(
            "Plan saved to {}: apply exactly it with `ct-onboard run {} --plan {}`",
            out.display(),
            args.hires.display(),
            out.display()
        );
    }
    exit
}

/// What a saved plan is checked against when it is applied.
pub(crate) fn fingerprints(args: &InputArgs, settings: &Settings) -> Result<Fingerprints, String> {
    let manifest = settings.manifest();
    let shaping = format!(
        "base_url={}\nsheet={:?}\ndate_format={:?}\ncolumns={:?}\nallow_retroactive={}\nskip_invalid={}",
        settings.base_url().map_err(|p| p.message)?,
        args.sheet,
        settings.date_format,
        settings.columns(),
        args.allow_retroactive,
        args.skip_invalid
    );
    Ok(Fingerprints {
        sheet: args.hires.display().to_string(),
        sheet_sha256: file_sha256(&args.hires)?,
        manifest: manifest.display().to_string(),
        manifest_sha256: file_sha256(&manifest)?,
        settings_sha256: sha256_hex(shaping.as_bytes()),
    })
}

fn save_plan(
    out: &Path,
    args: &InputArgs,
    inputs: &Inputs,
    plan: &Plan,
    client: Option<&Client>,
) -> Result<(), String> {
    let Some(client) = client else {
        return Err(
            "--out needs a plan checked against Connecteam (set CONNECTEAM_API_KEY): \
                    an offline plan has no resolved user or policy IDs to apply"
                .into(),
        );
    };
    let saved = SavedPlan::new(
        plan,
        client.base_url(),
        fingerprints(args, &inputs.settings)?,
    )?;
    let mut json = serde_json::to_vec_pretty(&saved).map_err(|e| e.to_string())?;
    json.push(b'\n');
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{} is not a file name", out.display()))?;
    crate::report::write_atomic(dir, name, &json)
        .map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// `run --plan`: the saved plan, if the sheet, manifest and settings are still the ones it
/// was made from, the base URL is the same, and no effective date has passed since.
pub(crate) fn load_saved_plan(
    path: &Path,
    args: &InputArgs,
    config: Option<&Path>,
) -> Result<Prepared, Exit> {
    let invalid = |message: String| {
        eprintln!("error: {message}");
        Exit::Invalid
    };
    let inputs =
        load_inputs(args, config).map_err(|problems| stop_invalid(print_problems(&problems)))?;
    let saved = SavedPlan::read(path).map_err(invalid)?;
    let mut stale = saved.stale_because(&fingerprints(args, &inputs.settings).map_err(invalid)?);
    let client = connect(&inputs.settings).map_err(invalid)?.ok_or_else(|| {
        invalid(
            "no API key: set CONNECTEAM_API_KEY or pass --api-key-file FILE. Nothing was sent."
                .into(),
        )
    })?;
    if client.base_url() != saved.base_url {
        stale.push(format!(
            "it was made for {}, and this run is against {}",
            saved.base_url,
            client.base_url()
        ));
    }
    let today = super::today(args);
    let past = saved
        .users
        .iter()
        .flat_map(|u| &u.assignments)
        .find_map(|a| match a {
            SavedAssignment::PayRule { effective_date, .. }
                if *effective_date < today && !args.allow_retroactive =>
            {
                Some(*effective_date)
            }
            _ => None,
        });
    if let Some(date) = past {
        stale.push(format!(
            "effective date {date} is now in the past: applying it would rewrite past payroll"
        ));
    }
    if !stale.is_empty() {
        for reason in &stale {
            eprintln!("error: the plan {} is stale: {reason}", path.display());
        }
        eprintln!(
            "Make a new one with `ct-onboard plan {} --out {}`. Nothing was sent.",
            args.hires.display(),
            path.display()
        );
        return Err(Exit::Invalid);
    }
    let numbers: Vec<u64> = inputs.sheet.rows.iter().map(|r| r.number).collect();
    let plan = saved.to_plan(&inputs.sheet.file, &numbers);
    let invalid_rows = saved.invalid_rows.len();
    Ok(Prepared {
        inputs,
        plan,
        client: Some(client),
        invalid_rows,
    })
}

/// What the journal says a run would do with each valid row, by row index: only when
/// the plan was checked online (the journal is keyed by base URL) and a journal exists.
fn journal_decisions(
    inputs: &Inputs,
    client: Option<&Client>,
    plan: &Plan,
) -> Result<std::collections::HashMap<usize, Vec<exec::Decision>>, String> {
    let state = inputs.settings.state();
    let Some(client) = client.filter(|_| state.exists()) else {
        return Ok(std::collections::HashMap::new());
    };
    let journal = Journal::open(&state)?;
    plan.valid_rows()
        .map(|row| {
            Ok((
                row.index,
                exec::decide(&journal, client.base_url(), row, false)?,
            ))
        })
        .collect()
}

/// The report line of a planned (or invalid) row.
pub(crate) fn planned_line(row: &PlanRow) -> UserLine {
    planned_line_as(row, None)
}

/// The report line of a planned row, with what the journal already settles for it:
/// `skipped` (done before, the same) or `conflict` (done before, differently).
fn planned_line_as(row: &PlanRow, decisions: Option<&[exec::Decision]>) -> UserLine {
    let mut line = exec::user_line(row);
    if row.is_valid() {
        line.assignments = row
            .assignments
            .iter()
            .enumerate()
            .map(|(i, a)| match decisions.and_then(|d| d.get(i)) {
                Some(settled @ (exec::Decision::Skip(_) | exec::Decision::Conflict(_))) => {
                    exec::settled_line(a, settled)
                }
                _ => AssignmentLine {
                    status: "planned".into(),
                    ..exec::describe(a)
                },
            })
            .collect();
        let has = |status: &str| line.assignments.iter().any(|a| a.status == status);
        line.outcome = if has("conflict") {
            Outcome::Conflict
        } else if !line.assignments.is_empty()
            && line.assignments.iter().all(|a| a.status == "skipped")
        {
            Outcome::Skipped
        } else {
            Outcome::Planned
        };
        line.errors = line
            .assignments
            .iter()
            .filter(|a| !a.error.is_empty())
            .map(|a| a.error.clone())
            .collect();
    } else {
        line.outcome = Outcome::Invalid;
        line.errors = row.problems.iter().map(|p| p.message.clone()).collect();
    }
    line
}

/// What a plan will cost in requests, time and daily quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub users: usize,
    pub assignments: usize,
    pub time_off: usize,
    pub pay_rule: usize,
    /// Done before with the same parameters, per the journal: not sent again.
    pub already_done: usize,
    /// Done before with other parameters: left alone unless `--reapply`.
    pub conflicts: usize,
    /// The two policy listings read once per run.
    pub policy_reads: usize,
    pub user_lookups: usize,
}

impl Estimate {
    /// The cost of what `lines` still plan to send (not what the journal settles).
    pub fn of(plan: &Plan, lines: &[UserLine]) -> Estimate {
        let valid: Vec<&PlanRow> = plan.valid_rows().collect();
        let count = |status: &str, kind: &str| {
            lines
                .iter()
                .flat_map(|l| &l.assignments)
                .filter(|a| a.status == status && (kind.is_empty() || a.kind == kind))
                .count()
        };
        let emails = valid
            .iter()
            .filter(|r| matches!(r.identity, Some(Identity::Email(_))))
            .count();
        let ids = valid.len() - emails;
        Estimate {
            users: valid.len(),
            assignments: count("planned", ""),
            time_off: count("planned", "time_off"),
            pay_rule: count("planned", "pay_rule"),
            already_done: count("skipped", ""),
            conflicts: count("conflict", ""),
            policy_reads: 2,
            user_lookups: emails.div_ceil(LOOKUP_BATCH) + ids.div_ceil(LOOKUP_BATCH),
        }
    }

    pub fn requests(&self) -> usize {
        self.assignments + self.policy_reads + self.user_lookups
    }

    /// The plan as printed; `checked_at` is the base URL when it was checked online.
    pub fn render(
        &self,
        settings: &Settings,
        invalid_rows: usize,
        checked_at: Option<&str>,
    ) -> String {
        let rate = settings.effective_rate_per_minute();
        #[expect(
            clippy::cast_precision_loss,
            reason = "request counts are far below 2^52"
        )]
        let minutes = self.requests() as f64 / f64::from(rate);
        #[expect(
            clippy::cast_precision_loss,
            reason = "request counts are far below 2^52"
        )]
        let share = self.requests() as f64 * 100.0 / f64::from(settings.daily_quota());
        let mut out = match checked_at {
            Some(url) => format!("Plan (policies and users checked against {url})\n"),
            None => "Plan (offline: no API key, so policies, users and emails are not checked against Connecteam)\n"
                .to_owned(),
        };
        out += &format!(
            "  users:        {}{}\n",
            self.users,
            if invalid_rows > 0 {
                format!(" ({invalid_rows} invalid rows skipped)")
            } else {
                String::new()
            }
        );
        out += &format!(
            "  assignments:  {} ({} time-off, {} pay-rule)\n",
            self.assignments, self.time_off, self.pay_rule
        );
        if self.already_done + self.conflicts > 0 {
            out += &format!(
                "  journal:      {} already done (not sent again), {} in conflict (left alone; --reapply sends them)\n",
                self.already_done, self.conflicts
            );
        }
        out += &format!(
            "  requests:     {} ({} assignments + {} policy reads + {} user lookups)\n",
            self.requests(),
            self.assignments,
            self.policy_reads,
            self.user_lookups
        );
        out += &format!(
            "  time:         about {} at {rate} requests/min ({}/min less {}% reserve)\n",
            human_minutes(minutes),
            settings.rate_per_minute(),
            settings.quota_reserve_percent()
        );
        out += &format!(
            "  daily quota:  {share:.1}% of {}\n",
            settings.daily_quota()
        );
        out
    }
}

fn human_minutes(minutes: f64) -> String {
    if minutes < 1.0 {
        format!("{:.0} s", (minutes * 60.0).ceil())
    } else if minutes < 120.0 {
        format!("{:.0} min", minutes.ceil())
    } else {
        format!("{:.1} h", minutes / 60.0)
    }
}
