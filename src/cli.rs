//! The command line, as PRODUCT.md specifies it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Settings;

/// The ENVIRONMENT and EXIT STATUS sections of `--help` and the man page.
pub const AFTER_HELP: &str = "\
ENVIRONMENT:
  CONNECTEAM_API_KEY   the API key (or --api-key-file FILE); never a flag, never printed
  CONNECTEAM_BASE_URL  the API's base URL (default https://api.connecteam.com)
  CT_ONBOARD_CONFIG    the settings file (default config/ct-onboard.toml when present)
  NO_COLOR             no colour on stderr (also --color never)
  RUST_LOG             log filter, overriding -v/-q

EXIT STATUS:
  0    every assignment succeeded, or was already held
  1    some assignments failed or are in conflict (see failed.csv)
  2    invalid input, manifest, settings or usage: nothing was sent
  3    stopped early for the daily quota or rate_limit_patience: run again later
  4    Connecteam refused the API key (401/403)
  69   Connecteam unreachable, or answering what cannot be read, before any write
  74   a local file (journal, report, saved plan) could not be written
  75   another run holds the lock
  130  interrupted";

#[derive(Debug, Parser)]
#[command(
    name = "ct-onboard",
    version,
    about = "Onboard new hires into Connecteam in bulk",
    propagate_version = true,
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Settings file [default: config/ct-onboard.toml when present]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, help_heading = "Output")]
    pub log_format: LogFormat,
    /// What plan and run print on stdout: text, or json (the summary.json object)
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text, help_heading = "Output")]
    pub output: OutputFormat,
    /// Colour on stderr: auto (a terminal, and NO_COLOR unset), always, never
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, help_heading = "Output")]
    pub color: ColorChoice,
    /// No progress bar, even on a terminal
    #[arg(long, global = true, help_heading = "Output")]
    pub no_progress: bool,
    /// More log detail (-v: ct-onboard's requests; -vvv: its dependencies too)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Output")]
    pub verbose: u8,
    /// Less output (-q: warnings and errors only)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose", help_heading = "Output")]
    pub quiet: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether stderr gets colour: `always`; `auto` on a terminal with `NO_COLOR` unset.
    pub fn on_stderr(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::IsTerminal::is_terminal(&std::io::stderr())
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the sheet and manifest offline; nothing is sent
    #[command(after_help = AFTER_HELP)]
    Check(InputArgs),
    /// Show and report what a run would do; sends no write (same as run --dry-run)
    #[command(after_help = AFTER_HELP)]
    Plan(PlanArgs),
    /// Make every assignment
    #[command(after_help = AFTER_HELP)]
    Run(RunArgs),
    /// List the account's time-off and pay-rule policies
    #[command(after_help = AFTER_HELP)]
    Policies(PoliciesArgs),
    /// Show past runs and per-user state from the journal
    #[command(after_help = AFTER_HELP)]
    History(HistoryArgs),
    /// Check that the account holds what the sheet and manifest say; writes nothing
    #[command(after_help = AFTER_HELP)]
    Verify(VerifyArgs),
    /// Write the account (policies, users, what the sheet's users hold, limits) as a
    /// sandbox seed, to rehearse against with --sandbox --seed; read-only
    #[command(after_help = AFTER_HELP)]
    Snapshot(SnapshotArgs),
    /// Serve the local Connecteam simulator
    #[command(after_help = AFTER_HELP)]
    Sandbox(SandboxArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or with --dir write one page per command there
    Man {
        /// Write ct-onboard.1 and a page per subcommand (ct-onboard-run.1, …) here
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// What every command that reads the sheet takes.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// The new-hire sheet (.csv or .xlsx)
    #[arg(value_name = "HIRES")]
    pub hires: PathBuf,
    /// XLSX sheet to read [default: the first]
    #[arg(long, value_name = "NAME", help_heading = "Input")]
    pub sheet: Option<String>,
    /// Accept pay-rule effective dates before today (they rewrite past payroll)
    #[arg(long, help_heading = "Input")]
    pub allow_retroactive: bool,
    /// Go ahead with the valid rows and report the others as invalid
    #[arg(long, help_heading = "Input")]
    pub skip_invalid: bool,
    /// Plan as if today were this date (for rehearsals and tests)
    #[arg(long, env = "CT_ONBOARD_TODAY", hide = true, value_name = "YYYY-MM-DD")]
    pub today: Option<jiff::civil::Date>,
    /// Plan as if now were this instant, "today" being its date in `timezone` (for tests)
    #[arg(long, env = "CT_ONBOARD_NOW", hide = true, value_name = "RFC3339")]
    pub now: Option<jiff::Timestamp>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Save the plan, to apply exactly it later with run --plan
    #[arg(long, value_name = "PLAN.json")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub account: AccountArgs,
    #[command(flatten)]
    pub rehearsal: RehearsalArgs,
}

/// A rehearsal against the built-in simulator instead of Connecteam.
#[derive(Debug, Clone, Default, Args)]
pub struct RehearsalArgs {
    /// Rehearse against the built-in simulator: nothing reaches Connecteam. Without
    /// --seed, every user of the sheet and policy of the manifest exists in it
    #[arg(long, help_heading = "Run control")]
    pub sandbox: bool,
    /// The simulator's account: a seed file, such as one `ct-onboard snapshot` wrote
    #[arg(
        long,
        value_name = "FILE",
        requires = "sandbox",
        help_heading = "Run control"
    )]
    pub seed: Option<PathBuf>,
}

/// How `plan` and `run` treat what the account already holds.
#[derive(Debug, Clone, Default, Args)]
pub struct AccountArgs {
    /// Send guarded changes too: moves and balance changes off a non-zero balance, pay
    /// rules that would remove a later-dated one, and assignments the journal has done
    /// with other parameters
    #[arg(long, alias = "reapply", help_heading = "Run control")]
    pub allow_overwrite: bool,
    /// Accepted and ignored: reading what users hold is required by default now (and
    /// --without-refresh KIND goes on without it)
    #[arg(long, hide = true)]
    pub require_refresh: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SnapshotArgs {
    /// The new-hire sheet whose users to take, with what they hold [default: every
    /// user of the account, without holdings]
    #[arg(value_name = "HIRES")]
    pub hires: Option<PathBuf>,
    /// Where to write the seed (YAML, readable by its owner only: it holds personal data)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// XLSX sheet to read [default: the first]
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
    /// Plan as if today were this date (for rehearsals and tests)
    #[arg(long, env = "CT_ONBOARD_TODAY", hide = true, value_name = "YYYY-MM-DD")]
    pub today: Option<jiff::civil::Date>,
    /// Plan as if now were this instant, "today" being its date in `timezone` (for tests)
    #[arg(long, env = "CT_ONBOARD_NOW", hide = true, value_name = "RFC3339")]
    pub now: Option<jiff::Timestamp>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Plan only: send no write
    #[arg(long, help_heading = "Run control")]
    pub dry_run: bool,
    /// Apply exactly this saved plan
    #[arg(long, value_name = "PLAN.json", help_heading = "Run control")]
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub rehearsal: RehearsalArgs,
    /// Only the first N pending users (a canary)
    #[arg(long, value_name = "N", help_heading = "Run control")]
    pub limit: Option<usize>,
    /// Abort after N failed assignments
    #[arg(long, value_name = "N", help_heading = "Run control")]
    pub max_errors: Option<usize>,
    /// Do not read back what was written
    #[arg(long, help_heading = "Run control")]
    pub no_verify: bool,
    /// Wait this long for another run's lock (such as 30m) instead of exiting 75 at once
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = crate::config::parse_duration, help_heading = "Run control")]
    pub lock_timeout: std::time::Duration,
    #[command(flatten)]
    pub account: AccountArgs,
}

#[derive(Debug, Clone, Args)]
pub struct PoliciesArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// One user's assignment states
    #[arg(long, value_name = "ID")]
    pub user: Option<u64>,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Address to listen on (loopback)
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// Seed file [default: the built-in sample account]
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
}

/// The settings flags of talking to Connecteam, and of pacing the requests.
const ACCOUNT_SETTINGS: &[&str] = &[
    "base_url",
    "region",
    "api_key_file",
    "rate_per_minute",
    "daily_quota",
    "quota_reserve_percent",
    "request_timeout_secs",
    "max_retries",
    "retry_backoff_ms",
    "rate_limit_patience",
];

/// Settings flags that a command does not use, hidden from its `--help` (still accepted,
/// so that one command line of settings serves every command): the account's flags
/// where a command reads no account, plus these.
const UNUSED_SETTINGS: &[(&str, bool, &[&str])] = &[
    ("check", true, &["concurrency", "report_dir", "state"]),
    ("plan", false, &["concurrency"]),
    ("verify", false, &["concurrency", "report_dir", "state"]),
    (
        "snapshot",
        false,
        &["concurrency", "report_dir", "state", "date_format"],
    ),
    (
        "policies",
        false,
        &[
            "concurrency",
            "report_dir",
            "state",
            "manifest",
            "date_format",
        ],
    ),
    (
        "history",
        true,
        &["concurrency", "report_dir", "manifest", "date_format"],
    ),
];

/// The command line as `--help`, completions and the man page show it.
pub fn command() -> clap::Command {
    let mut command = <Cli as clap::CommandFactory>::command();
    for (name, offline, unused) in UNUSED_SETTINGS {
        command = command.mut_subcommand(*name, |sub| {
            sub.mut_args(|arg| {
                let id = arg.get_id().as_str();
                let hide = unused.contains(&id)
                    || (*offline && ACCOUNT_SETTINGS.contains(&id))
                    || arg.is_hide_set();
                arg.hide(hide)
            })
        });
    }
    command
}

/// Parses a command line (the first item is the program's name), or says why not.
pub fn try_parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::FromArgMatches;
    let matches = command().try_get_matches_from(args)?;
    Cli::from_arg_matches(&matches)
}

/// Parses this process's command line, or prints why not and exits (2).
pub fn parse() -> Cli {
    try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
}
