//! What each subcommand does, from parsed arguments to an exit code.

use std::path::Path;

use jiff::civil::Date;

use crate::api::{ApiError, ApiKey, Client, ErrorClass};
use crate::cli::{Cli, Command, InputArgs, PoliciesArgs, RunArgs, SandboxArgs};
use crate::config::Settings;
use crate::exit::Exit;
use crate::input::{Columns, Sheet, read_sheet};
use crate::manifest::{Manifest, read_manifest};
use crate::plan::{Assignment, Identity, Plan, PlanOptions, PlanRow, plan};
use crate::problem::Problem;
use crate::report::{self, AssignmentLine, Outcome, Summary, UserLine};
use crate::resolve::{Directory, LOOKUP_BATCH, UserDirectory, resolve_manifest, resolve_users};
use crate::sandbox::{Sandbox, Seed};

/// Runs one command and decides the exit code.
pub async fn run(cli: Cli) -> Exit {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Check(args) => check(&args, config),
        Command::Plan(args) => {
            if args.out.is_some() {
                return not_yet("plan --out (saved plans)");
            }
            dry_run(&args.input, config).await
        }
        Command::Run(args) => run_command(&args, config).await,
        Command::Policies(args) => policies(&args, config).await,
        Command::History(_) => not_yet("history"),
        Command::Sandbox(args) => sandbox(&args).await,
    }
}

async fn run_command(args: &RunArgs, config: Option<&Path>) -> Exit {
    if args.plan.is_some() {
        return not_yet("run --plan (saved plans)");
    }
    if args.dry_run {
        return dry_run(&args.input, config).await;
    }
    not_yet(if args.sandbox {
        "run --sandbox"
    } else {
        "run (real assignments)"
    })
}

/// Says plainly that a feature is not in this build, rather than pretending.
fn not_yet(feature: &str) -> Exit {
    eprintln!(
        "ct-onboard: `{feature}` is not available in this build yet. \
         `check`, `plan` (or `run --dry-run`), `policies` and `sandbox` work today."
    );
    Exit::Invalid
}

/// The inputs of a run, read and checked for shape (not yet planned).
pub struct Inputs {
    pub settings: Settings,
    pub manifest: Manifest,
    pub sheet: Sheet,
    pub columns: Columns,
}

/// Reads settings, manifest and sheet, collecting every problem before giving up.
pub fn load_inputs(args: &InputArgs, config: Option<&Path>) -> Result<Inputs, Vec<Problem>> {
    let file_settings = Settings::load(config).map_err(|p| vec![p])?;
    let settings = args.settings.clone().or(file_settings);
    let mut problems = settings.check();
    let manifest = read_manifest(&settings.manifest())
        .map_err(|mut p| problems.append(&mut p))
        .ok();
    let sheet = read_sheet(&args.hires, args.sheet.as_deref())
        .map_err(|p| problems.push(p))
        .ok();
    let columns = sheet.as_ref().and_then(|s| {
        Columns::find(&s.file, &s.headers, &settings.columns())
            .map_err(|mut p| problems.append(&mut p))
            .ok()
    });
    match (manifest, sheet, columns) {
        (Some(manifest), Some(sheet), Some(columns)) if problems.is_empty() => Ok(Inputs {
            settings,
            manifest,
            sheet,
            columns,
        }),
        _ => Err(problems),
    }
}

fn today(args: &InputArgs) -> Date {
    args.today.unwrap_or_else(|| jiff::Zoned::now().date())
}

pub fn plan_inputs(inputs: &Inputs, args: &InputArgs) -> Plan {
    let options = PlanOptions {
        today: today(args),
        allow_retroactive: args.allow_retroactive,
        date_format: inputs.settings.date_format.clone(),
    };
    plan(&inputs.sheet, &inputs.columns, &inputs.manifest, &options)
}

fn print_problems<'a>(problems: impl IntoIterator<Item = &'a Problem>) -> usize {
    let mut count = 0;
    for problem in problems {
        eprintln!("error: {problem}");
        count += 1;
    }
    count
}

fn stop_invalid(count: usize) -> Exit {
    eprintln!(
        "{count} problem{} found; nothing was sent.",
        if count == 1 { "" } else { "s" }
    );
    Exit::Invalid
}

/// `check`: offline validation only. Exit 0 or 2.
fn check(args: &InputArgs, config: Option<&Path>) -> Exit {
    let inputs = match load_inputs(args, config) {
        Ok(inputs) => inputs,
        Err(problems) => return stop_invalid(print_problems(&problems)),
    };
    let plan = plan_inputs(&inputs, args);
    let count = print_problems(plan.all_problems());
    if count > 0 {
        return stop_invalid(count);
    }
    println!(
        "{}: {} rows valid, {} assignments for {} employee types. (Offline check: policies and users are checked by `plan` with an API key.)",
        inputs.sheet.file,
        plan.rows.len(),
        plan.assignment_count(),
        inputs.manifest.types.len()
    );
    Exit::Success
}

/// The client for the configured base URL, if a key is set (`Ok(None)` if not).
fn connect(settings: &Settings) -> Result<Option<Client>, String> {
    let Some(key) = ApiKey::from_file_or_env(settings.api_key_file.as_deref())? else {
        return Ok(None);
    };
    let base_url = settings.base_url().map_err(|p| p.message)?;
    let timeout = std::time::Duration::from_secs(settings.request_timeout_secs());
    Client::new(&base_url, &key, timeout).map(Some)
}

/// Reports a failed read from Connecteam and picks the exit code.
fn api_failure(e: &ApiError) -> Exit {
    let status = e
        .status
        .map_or_else(String::new, |s| format!(" (HTTP {s})"));
    if e.class == ErrorClass::Auth {
        eprintln!(
            "error: Connecteam refused the API key{status}: {e}. Check the key and its permissions; nothing was sent."
        );
        return Exit::AuthRefused;
    }
    eprintln!("error: cannot read from Connecteam{status}: {e}. Nothing was sent.");
    Exit::SomeFailed
}

/// `plan` and `run --dry-run`: validate (against Connecteam when a key is set), print the
/// plan, and write a report of `planned` rows. Sends no write.
async fn dry_run(args: &InputArgs, config: Option<&Path>) -> Exit {
    let started = jiff::Timestamp::now();
    let mut inputs = match load_inputs(args, config) {
        Ok(inputs) => inputs,
        Err(problems) => return stop_invalid(print_problems(&problems)),
    };
    let client = match connect(&inputs.settings) {
        Ok(client) => client,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Invalid;
        }
    };
    let retries = inputs.settings.max_retries();
    if let Some(client) = &client {
        let directory = match Directory::fetch(client, retries).await {
            Ok(directory) => directory,
            Err(e) => return api_failure(&e),
        };
        let resolved = resolve_manifest(&inputs.manifest, &directory);
        for warning in &resolved.warnings {
            eprintln!("warning: {warning}");
        }
        if !resolved.errors.is_empty() {
            return stop_invalid(print_problems(&resolved.errors));
        }
        inputs.manifest = resolved.manifest;
    }
    let mut plan = plan_inputs(&inputs, args);
    if let Some(client) = &client {
        let users = match UserDirectory::fetch(client, &plan, retries).await {
            Ok(users) => users,
            Err(e) => return api_failure(&e),
        };
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
        return stop_invalid(count);
    }
    for problem in plan.rows.iter().flat_map(|r| &r.problems) {
        eprintln!("skipped: {problem}");
    }
    let users: Vec<UserLine> = plan.rows.iter().map(planned_line).collect();
    let estimate = Estimate::of(&plan);
    let exit = if invalid_rows > 0 {
        Exit::SomeFailed
    } else {
        Exit::Success
    };
    let summary = Summary {
        run_id: String::new(),
        mode: "plan",
        offline: client.is_none(),
        sheet: inputs.sheet.file.clone(),
        manifest: inputs.manifest.file.clone(),
        started_at: started.to_string(),
        finished_at: String::new(),
        duration_secs: 0.0,
        users: users.len(),
        outcomes: report::count_outcomes(&users),
        assignments: estimate.assignments,
        requests_planned: estimate.requests(),
        requests_sent: 0,
        rate_limited: 0,
        retries: 0,
        quota_left: None,
        exit_code: exit.code(),
    };
    let dir = match write_run_report(&inputs, &users, summary, started) {
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
    exit
}

/// `policies`: the account's time-off policies (by type) and pay-rule policies.
async fn policies(args: &PoliciesArgs, config: Option<&Path>) -> Exit {
    let settings = match Settings::load(config) {
        Ok(file) => args.settings.clone().or(file),
        Err(p) => return stop_invalid(print_problems([&p])),
    };
    let problems = settings.check();
    if !problems.is_empty() {
        return stop_invalid(print_problems(&problems));
    }
    let client = match connect(&settings) {
        Ok(Some(client)) => client,
        Ok(None) => {
            eprintln!("error: no API key: set CONNECTEAM_API_KEY, or pass --api-key-file FILE");
            return Exit::Invalid;
        }
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Invalid;
        }
    };
    let directory = match Directory::fetch(&client, settings.max_retries()).await {
        Ok(directory) => directory,
        Err(e) => return api_failure(&e),
    };
    if args.json {
        let json = serde_json::json!({
            "policy_types": directory.policy_types,
            "pay_rule_policies": directory.pay_rule_policies,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    } else {
        print!("{}", render_policies(&directory));
    }
    Exit::Success
}

fn render_policies(directory: &Directory) -> String {
    let mut rows = vec![[
        "TYPE".to_owned(),
        "POLICY ID".to_owned(),
        "NAME".to_owned(),
        "UNIT".to_owned(),
    ]];
    for ty in &directory.policy_types {
        for p in &ty.policies {
            rows.push([
                ty.name.clone(),
                p.id.clone(),
                p.name.clone(),
                p.unit.clone().unwrap_or_default(),
            ]);
        }
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("Time-off policies (time_off: policy_id or policy_name)\n");
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out += &format!("  {}\n", cells.join("  ").trim_end());
    }
    out += "\nPay-rule policies (pay_rule: policy_id or policy_name)\n  ID      NAME\n";
    for p in &directory.pay_rule_policies {
        out += &format!("  {:<7} {}\n", p.id, p.name);
    }
    out
}

/// `sandbox`: serves the simulator on loopback until interrupted.
async fn sandbox(args: &SandboxArgs) -> Exit {
    let addr: std::net::SocketAddr = match args.listen.parse() {
        Ok(addr) => addr,
        Err(_) => {
            eprintln!(
                "error: --listen \"{}\" is not an address such as 127.0.0.1:8080",
                args.listen
            );
            return Exit::Invalid;
        }
    };
    if !addr.ip().is_loopback() {
        eprintln!(
            "error: the sandbox listens on loopback only (127.0.0.1 or ::1), not {}",
            addr.ip()
        );
        return Exit::Invalid;
    }
    let seed = match Seed::from_file(&args.seed) {
        Ok(seed) => seed,
        Err(p) => return stop_invalid(print_problems([&p])),
    };
    let server = match Sandbox::start(seed, addr).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return Exit::SomeFailed;
        }
    };
    println!(
        "Connecteam sandbox on {} (any non-empty X-API-KEY); its state: {}/__sandbox/state",
        server.url(),
        server.url()
    );
    println!(
        "Try: CONNECTEAM_BASE_URL={} CONNECTEAM_API_KEY=test ct-onboard plan samples/new-hires.csv",
        server.url()
    );
    wait_for_stop_signal().await;
    Exit::Success
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return drop(interrupt.await),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

fn write_run_report(
    inputs: &Inputs,
    users: &[UserLine],
    mut summary: Summary,
    started: jiff::Timestamp,
) -> std::io::Result<std::path::PathBuf> {
    let (dir, run_id) =
        report::create_run_dir(&inputs.settings.report_dir(), &report::new_run_id())?;
    let finished = jiff::Timestamp::now();
    summary.run_id = run_id;
    summary.finished_at = finished.to_string();
    summary.duration_secs = (finished - started)
        .total(jiff::Unit::Second)
        .unwrap_or(0.0);
    report::write_report(&dir, &inputs.sheet, users, &summary)?;
    Ok(dir)
}

/// The report line of a planned (or invalid) row.
fn planned_line(row: &PlanRow) -> UserLine {
    let outcome = if row.is_valid() {
        Outcome::Planned
    } else {
        Outcome::Invalid
    };
    let assignments = if row.is_valid() {
        row.assignments.iter().map(planned_assignment).collect()
    } else {
        Vec::new()
    };
    UserLine {
        index: row.index,
        row: row.number,
        identifier: row
            .identity
            .as_ref()
            .map(Identity::to_string)
            .unwrap_or_default(),
        user_id: row.user_id,
        employee_type: row.employee_type.clone(),
        outcome,
        assignments,
        errors: row.problems.iter().map(|p| p.message.clone()).collect(),
    }
}

fn planned_assignment(a: &Assignment) -> AssignmentLine {
    let (policy_id, policy_name) = a.policy_id_and_name();
    let mut line = AssignmentLine {
        kind: a.kind(),
        policy_id,
        policy_name,
        status: "planned".into(),
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
            line.effective_date = effective_date.to_string()
        }
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
    /// The two policy listings read once per run.
    pub policy_reads: usize,
    pub user_lookups: usize,
}

impl Estimate {
    pub fn of(plan: &Plan) -> Estimate {
        let valid: Vec<&PlanRow> = plan.valid_rows().collect();
        let count = |kind: &str| {
            valid
                .iter()
                .flat_map(|r| &r.assignments)
                .filter(|a| a.kind() == kind)
                .count()
        };
        let emails = valid
            .iter()
            .filter(|r| matches!(r.identity, Some(Identity::Email(_))))
            .count();
        let ids = valid.len() - emails;
        Estimate {
            users: valid.len(),
            assignments: count("time_off") + count("pay_rule"),
            time_off: count("time_off"),
            pay_rule: count("pay_rule"),
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
