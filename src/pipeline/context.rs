//! Flags and the settings file, resolved once into what the stages need: the settings
//! (the file read once, the flags over it), the day, the choices of the command line,
//! and the account to talk to. Stages take these plain values, never clap's types.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::civil::Date;

use crate::api::{ApiKey, Client, Stop};
use crate::cli::InputArgs;
use crate::config::Settings;
use crate::error::Error;
use crate::problem::Problem;

/// Everything a command that reads a sheet decides once, before the stages.
#[derive(Debug, Clone)]
pub struct Context {
    /// The flags over the settings file, read once.
    pub settings: Settings,
    /// What was wrong with the settings (reported with the inputs' problems).
    pub settings_problems: Vec<Problem>,
    pub hires: PathBuf,
    /// The XLSX sheet to read, when not the first.
    pub sheet: Option<String>,
    /// The day plans are made for.
    pub today: Date,
    /// The instant decisions are made at (`CT_ONBOARD_NOW` in tests): how long ago
    /// ct-onboard's own unclear writes were sent.
    pub now: jiff::Timestamp,
    pub allow_retroactive: bool,
    pub skip_invalid: bool,
    /// Send guarded changes too.
    pub allow_overwrite: bool,
    /// Set by the signal handler: every request and wait checks it.
    pub stop: Arc<Stop>,
}

impl Context {
    /// The command line's inputs with the settings file (`config`) read once under them.
    pub fn new(
        args: &InputArgs,
        allow_overwrite: bool,
        config: Option<&Path>,
        stop: &Arc<Stop>,
    ) -> Context {
        let (file, mut settings_problems) = match Settings::load(config) {
            Ok(file) => (file, Vec::new()),
            Err(problem) => (Settings::default(), vec![problem]),
        };
        let settings = args.settings.clone().or(file);
        settings_problems.extend(settings.check());
        let zone = settings
            .time_zone()
            .unwrap_or_else(|_| jiff::tz::TimeZone::system());
        Context {
            settings,
            settings_problems,
            hires: args.hires.clone(),
            sheet: args.sheet.clone(),
            today: args.today.unwrap_or_else(|| {
                args.now
                    .unwrap_or_else(jiff::Timestamp::now)
                    .to_zoned(zone)
                    .date()
            }),
            now: args.now.unwrap_or_else(jiff::Timestamp::now),
            allow_retroactive: args.allow_retroactive,
            skip_invalid: args.skip_invalid,
            allow_overwrite,
            stop: Arc::clone(stop),
        }
    }
}

/// The settings file merged under the flags, and checked (for commands without a sheet).
pub fn settings(flags: &Settings, config: Option<&Path>) -> Result<Settings, Error> {
    let file = Settings::load(config).map_err(|p| Error::invalid(vec![p]))?;
    let settings = flags.clone().or(file);
    let problems = settings.check();
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(Error::invalid(problems))
    }
}

/// What a command does: its words in `summary.json`, the journal and `history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `plan` (and `run --dry-run`): nothing is sent.
    Plan,
    /// `run` against the account.
    Run,
    /// `run --sandbox`: a rehearsal against the in-process simulator.
    Sandbox,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Plan => "plan",
            Mode::Run => "run",
            Mode::Sandbox => "sandbox",
        }
    }
}

/// The account a command talks to.
#[derive(Debug, Clone)]
pub enum Account {
    /// No API key: nothing is read or sent; the plan says so.
    Offline,
    Online(Client),
}

impl Account {
    pub fn client(&self) -> Option<&Client> {
        match self {
            Account::Offline => None,
            Account::Online(client) => Some(client),
        }
    }
}

/// Where requests go: the settings' account, or the in-process sandbox at a URL.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Settings,
    Sandbox(&'a str),
}

/// The account of `target`: offline when the settings have no key. Its client stops on
/// `stop`, which the signal handler sets.
pub fn connect(
    settings: &Settings,
    target: Target<'_>,
    stop: &Arc<Stop>,
) -> Result<Account, Error> {
    let options = settings.client_options();
    let (url, key, origin) = match target {
        Target::Settings => {
            let Some(key) =
                ApiKey::from_file_or_env(settings.api_key_file.as_deref()).map_err(Error::Usage)?
            else {
                return Ok(Account::Offline);
            };
            let url = settings.base_url().map_err(|p| Error::invalid(vec![p]))?;
            (url, key, settings.base_url_origin())
        }
        Target::Sandbox(url) => (
            url.to_owned(),
            ApiKey::new("sandbox").expect("a non-empty key"),
            "the rehearsal",
        ),
    };
    let client = Client::new(&url, &key, &options).map_err(Error::Usage)?;
    Ok(Account::Online(
        client.with_stop(Arc::clone(stop)).with_origin(origin),
    ))
}

/// The account, which this command cannot do without: `why` says what it needs it for.
pub fn online(account: Account, why: &str) -> Result<Client, Error> {
    match account {
        Account::Online(client) => Ok(client),
        Account::Offline => Err(Error::Usage(format!(
            "no API key, and {why}: set CONNECTEAM_API_KEY or pass --api-key-file FILE"
        ))),
    }
}
