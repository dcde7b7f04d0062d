//! Settings: one struct read from the settings file and from flags, merged field by field
//! (flags win), with defaults in accessors. The lychee pattern.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

use crate::input::ColumnMapping;
use crate::problem::{Place, Problem};

pub const DEFAULT_CONFIG: &str = "config/ct-onboard.toml";
/// The environment variable that names the settings file.
pub const CONFIG_ENV: &str = "CT_ONBOARD_CONFIG";
pub const GLOBAL_BASE_URL: &str = "https://api.connecteam.com";
pub const AU_BASE_URL: &str = "https://api-au.connecteam.com";

/// Every setting, as a flag and as a key of the settings file. All optional: unset means
/// "the file's value, else the default".
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// API base URL (overrides --region)
    #[arg(
        long,
        env = "CONNECTEAM_BASE_URL",
        value_name = "URL",
        help_heading = "Connecteam"
    )]
    pub base_url: Option<String>,
    /// Connecteam region: global or au
    #[arg(long, value_name = "REGION", help_heading = "Connecteam")]
    pub region: Option<String>,
    /// The account's per-minute request limit (Expert plan: 100)
    #[arg(long, value_name = "N", help_heading = "Pacing")]
    pub rate_per_minute: Option<u32>,
    /// The account's daily request limit (Expert plan: 10000)
    #[arg(long, value_name = "N", help_heading = "Pacing")]
    pub daily_quota: Option<u32>,
    /// Percent of the per-minute and daily limits left for other integrations
    #[arg(long, value_name = "PERCENT", help_heading = "Pacing")]
    pub quota_reserve_percent: Option<u8>,
    /// Users processed at once
    #[arg(long, value_name = "N", help_heading = "Pacing")]
    pub concurrency: Option<usize>,
    /// Seconds before one request is abandoned and retried
    #[arg(long, value_name = "SECONDS", help_heading = "Pacing")]
    pub request_timeout_secs: Option<u64>,
    /// Retries of one request after a 5xx, timeout or dropped connection
    #[arg(long, value_name = "N", help_heading = "Pacing")]
    pub max_retries: Option<u32>,
    /// The first retry's wait in milliseconds; it doubles each retry (with jitter), up to 30 s
    #[arg(long, value_name = "MS", help_heading = "Pacing")]
    pub retry_backoff_ms: Option<u64>,
    /// Where run reports are written
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub report_dir: Option<PathBuf>,
    /// The journal file
    #[arg(long, value_name = "FILE", help_heading = "Run control")]
    pub state: Option<PathBuf>,
    /// The manifest file
    #[arg(long, value_name = "FILE", help_heading = "Input")]
    pub manifest: Option<PathBuf>,
    /// strftime format of text dates in the sheet, such as %d/%m/%Y (default: YYYY-MM-DD only)
    #[arg(long, value_name = "FORMAT", help_heading = "Input")]
    pub date_format: Option<String>,
    /// A file holding the API key, readable by its owner only
    #[arg(long, value_name = "FILE", help_heading = "Connecteam")]
    pub api_key_file: Option<PathBuf>,
    /// Stop (exit 3, the rest deferred) after being rate-limited this long with no request
    /// succeeding, such as 10m, 90s or 1h [default: 10m]
    #[arg(long, value_name = "DURATION", help_heading = "Pacing")]
    pub rate_limit_patience: Option<String>,
    /// The zone "today" is in (an IANA name such as Australia/Sydney): for retroactive
    /// dates and the pay rules in effect now [default: the machine's zone]
    #[arg(long, value_name = "ZONE", help_heading = "Input")]
    pub timezone: Option<String>,
    /// The country of phone numbers written without a country code (an ISO 3166 code
    /// such as US or GB)
    #[arg(long, value_name = "CODE", help_heading = "Input")]
    pub default_country: Option<String>,
    /// Create the sheet's people who are not in Connecteam yet (matched by neither
    /// email nor phone), 25 a request, before their assignments
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", help_heading = "Run control")]
    pub create_missing: Option<bool>,
    /// Send Connecteam's activation SMS to the people created [default: off]
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", help_heading = "Run control")]
    pub send_activation: Option<bool>,
    /// Go ahead without reading what users hold of this kind (time_off, pay_rule,
    /// onboarding_pack):
    /// those assignments are then decided by the journal, and guarded [repeatable]
    #[arg(long, value_enum, value_name = "KIND", help_heading = "Run control")]
    pub without_refresh: Option<Vec<crate::plan::Kind>>,
    /// How long verify waits for a write to show in the account (read-after-write
    /// lag), looking again a few times, backing off [default: 30s]
    #[arg(long, value_name = "DURATION", help_heading = "Run control")]
    pub verify_patience: Option<String>,
    /// The oldest that what users hold may be when a write is sent: a long run reads the
    /// next users again first [default: 10m]
    #[arg(long, value_name = "DURATION", help_heading = "Run control")]
    pub refresh_max_age: Option<String>,
    /// Header names for the columns ct-onboard reads (settings file only)
    #[arg(skip)]
    pub columns: Option<ColumnMapping>,
    /// Whether `base_url` came from the settings file (not a flag or the environment).
    #[arg(skip)]
    #[serde(skip)]
    pub base_url_in_file: bool,
    /// How lists go into query strings: only "repeat" (userIds=1&userIds=2), as the
    /// official document says; kept so that files that name it still load (settings
    /// file only)
    #[arg(skip)]
    pub query_arrays: Option<String>,
    /// Seeds the client's jitter (backoffs, pauses), so that a replayed test replays
    /// the client too
    #[arg(long, env = "CT_ONBOARD_JITTER_SEED", hide = true, value_name = "N")]
    #[serde(skip)]
    pub jitter_seed: Option<u64>,
}

impl Settings {
    /// Reads the settings file: `--config FILE`, else the file `CT_ONBOARD_CONFIG` names,
    /// else `config/ct-onboard.toml` in the current folder when there is one. A missing
    /// default file is fine; a missing named one is not. Relative paths in the file
    /// (`report_dir`, `state`, `manifest`, `api_key_file`) are taken from the file's
    /// folder, so that the file works from any folder (cron, systemd).
    pub fn load(path: Option<&Path>) -> Result<Settings, Problem> {
        let from_env = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty());
        let (path, named) = match (path, from_env) {
            (Some(p), _) => (p.to_path_buf(), true),
            (None, Some(p)) => (PathBuf::from(p), true),
            (None, None) => (PathBuf::from(DEFAULT_CONFIG), false),
        };
        let file = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => {
                return Ok(Settings::default());
            }
            Err(e) => {
                return Err(Problem::new(
                    &file,
                    Place::File,
                    format!("cannot read the settings file: {e}"),
                ));
            }
        };
        let settings: Settings = toml::from_str(&text).map_err(|e| {
            let place = e.span().map_or(Place::File, |span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() as u64 + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
                Place::Text { line, column }
            });
            Problem::new(&file, place, e.message().to_owned())
        })?;
        Ok(settings.rebased(path.parent().unwrap_or(Path::new(""))))
    }

    /// The settings with their relative paths taken from `dir` (a settings file's folder).
    #[must_use]
    fn rebased(self, dir: &Path) -> Settings {
        let at = |p: Option<PathBuf>| {
            p.map(|p| {
                if p.is_relative() {
                    tidy(&dir.join(p))
                } else {
                    p
                }
            })
        };
        Settings {
            report_dir: at(self.report_dir),
            state: at(self.state),
            manifest: at(self.manifest),
            api_key_file: at(self.api_key_file),
            ..self
        }
    }

    /// Fills every field this one leaves unset from `file`: flags win over the file.
    #[must_use]
    pub fn or(self, file: Settings) -> Settings {
        Settings {
            base_url_in_file: self.base_url.is_none() && file.base_url.is_some(),
            base_url: self.base_url.or(file.base_url),
            region: self.region.or(file.region),
            rate_per_minute: self.rate_per_minute.or(file.rate_per_minute),
            daily_quota: self.daily_quota.or(file.daily_quota),
            quota_reserve_percent: self.quota_reserve_percent.or(file.quota_reserve_percent),
            concurrency: self.concurrency.or(file.concurrency),
            request_timeout_secs: self.request_timeout_secs.or(file.request_timeout_secs),
            max_retries: self.max_retries.or(file.max_retries),
            retry_backoff_ms: self.retry_backoff_ms.or(file.retry_backoff_ms),
            report_dir: self.report_dir.or(file.report_dir),
            state: self.state.or(file.state),
            manifest: self.manifest.or(file.manifest),
            date_format: self.date_format.or(file.date_format),
            api_key_file: self.api_key_file.or(file.api_key_file),
            columns: self.columns.or(file.columns),
            query_arrays: self.query_arrays.or(file.query_arrays),
            jitter_seed: self.jitter_seed,
            rate_limit_patience: self.rate_limit_patience.or(file.rate_limit_patience),
            without_refresh: self.without_refresh.or(file.without_refresh),
            timezone: self.timezone.or(file.timezone),
            default_country: self.default_country.or(file.default_country),
            create_missing: self.create_missing.or(file.create_missing),
            send_activation: self.send_activation.or(file.send_activation),
            verify_patience: self.verify_patience.or(file.verify_patience),
            refresh_max_age: self.refresh_max_age.or(file.refresh_max_age),
        }
    }

    /// Where the base URL comes from, for messages.
    pub fn base_url_origin(&self) -> &'static str {
        match (&self.base_url, std::env::var("CONNECTEAM_BASE_URL")) {
            (Some(url), Ok(env)) if *url == env => "CONNECTEAM_BASE_URL",
            (Some(_), _) if self.base_url_in_file => "the settings file",
            (Some(_), _) => "--base-url",
            (None, _) if self.region.is_some() => "the region setting",
            (None, _) => "the default",
        }
    }

    pub fn base_url(&self) -> Result<String, Problem> {
        if let Some(url) = &self.base_url {
            return Ok(url.trim_end_matches('/').to_owned());
        }
        match self
            .region
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("global" | "us" | "") => Ok(GLOBAL_BASE_URL.to_owned()),
            Some("au") => Ok(AU_BASE_URL.to_owned()),
            Some(other) => Err(Problem::new(
                "settings",
                Place::Setting("region".into()),
                format!("region \"{other}\" is not one of: global, au"),
            )),
        }
    }
    pub fn rate_per_minute(&self) -> u32 {
        self.rate_per_minute.unwrap_or(100)
    }
    pub fn daily_quota(&self) -> u32 {
        self.daily_quota.unwrap_or(10_000)
    }
    pub fn quota_reserve_percent(&self) -> u8 {
        self.quota_reserve_percent.unwrap_or(10)
    }
    pub fn concurrency(&self) -> usize {
        self.concurrency.unwrap_or(4)
    }
    pub fn request_timeout_secs(&self) -> u64 {
        self.request_timeout_secs.unwrap_or(30)
    }
    pub fn max_retries(&self) -> u32 {
        self.max_retries.unwrap_or(5)
    }
    pub fn retry_backoff(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.retry_backoff_ms.unwrap_or(500))
    }
    pub fn rate_limit_patience(&self) -> std::time::Duration {
        self.rate_limit_patience
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(std::time::Duration::from_secs(600))
    }
    /// The zone "today" is in: the setting's, else the machine's.
    pub fn time_zone(&self) -> Result<jiff::tz::TimeZone, String> {
        match &self.timezone {
            Some(name) => jiff::tz::TimeZone::get(name).map_err(|e| {
                format!("\"{name}\" is not a time zone this machine knows (an IANA name such as Australia/Sydney): {e}")
            }),
            None => Ok(jiff::tz::TimeZone::system()),
        }
    }

    /// Whether people not in Connecteam yet are created (`--create-missing`).
    pub fn create_missing(&self) -> bool {
        self.create_missing.unwrap_or(false)
    }

    /// Whether the people created get Connecteam's activation SMS.
    pub fn send_activation(&self) -> bool {
        self.send_activation.unwrap_or(false)
    }

    /// The country of phone numbers without a country code, if the setting names one.
    pub fn country(&self) -> Result<Option<phonenumber::country::Id>, String> {
        match &self.default_country {
            None => Ok(None),
            Some(code) => code
                .trim()
                .to_uppercase()
                .parse::<phonenumber::country::Id>()
                .map(Some)
                .map_err(|_| {
                    format!("\"{code}\" is not a country code (an ISO 3166 code such as US or GB)")
                }),
        }
    }

    /// The zone's name, for the plan to say.
    pub fn time_zone_name(&self) -> String {
        match &self.timezone {
            Some(name) => name.clone(),
            None => jiff::tz::TimeZone::system().iana_name().map_or_else(
                || "the machine's zone".to_owned(),
                |n| format!("{n} (the machine's zone)"),
            ),
        }
    }

    /// The kinds of holding not to read (`--without-refresh`).
    pub fn without_refresh(&self) -> std::collections::BTreeSet<crate::plan::Kind> {
        self.without_refresh.iter().flatten().copied().collect()
    }
    pub fn verify_patience(&self) -> std::time::Duration {
        self.verify_patience
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(std::time::Duration::from_secs(30))
    }
    pub fn refresh_max_age(&self) -> std::time::Duration {
        self.refresh_max_age
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(std::time::Duration::from_secs(600))
    }
    pub fn report_dir(&self) -> PathBuf {
        self.report_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("reports"))
    }
    pub fn state(&self) -> PathBuf {
        self.state
            .clone()
            .unwrap_or_else(|| PathBuf::from("state/ct-onboard.db"))
    }
    pub fn manifest(&self) -> PathBuf {
        self.manifest
            .clone()
            .unwrap_or_else(|| PathBuf::from("config/manifest.yaml"))
    }
    pub fn columns(&self) -> ColumnMapping {
        self.columns.clone().unwrap_or_default()
    }

    /// How the API client is set up: timeout, pacing, retries.
    pub fn client_options(&self) -> crate::api::ClientOptions {
        crate::api::ClientOptions {
            timeout: std::time::Duration::from_secs(self.request_timeout_secs()),
            rate_per_minute: self.rate_per_minute(),
            reserve_percent: self.quota_reserve_percent(),
            daily_quota: self.daily_quota(),
            retry: crate::api::RetryPolicy {
                max_retries: self.max_retries(),
                backoff_base: self.retry_backoff(),
            },
            rate_limit_patience: self.rate_limit_patience(),
            jitter_seed: self.jitter_seed,
        }
    }

    /// Requests per minute ct-onboard allows itself: the limit less the reserve, at least 1.
    pub fn effective_rate_per_minute(&self) -> u32 {
        let keep = 100 - u32::from(self.quota_reserve_percent());
        (self.rate_per_minute() * keep / 100).max(1)
    }

    /// Checks values that parse but make no sense, all at once.
    pub fn check(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |name: &str, message: &str| {
            problems.push(Problem::new(
                "settings",
                Place::Setting(name.into()),
                message.to_owned(),
            ));
        };
        if self.rate_per_minute == Some(0) {
            bad("rate_per_minute", "must be at least 1");
        }
        if self.daily_quota == Some(0) {
            bad("daily_quota", "must be at least 1");
        }
        if self.quota_reserve_percent.is_some_and(|p| p >= 100) {
            bad("quota_reserve_percent", "must be below 100");
        }
        if self.concurrency == Some(0) {
            bad("concurrency", "must be at least 1");
        }
        if self.request_timeout_secs == Some(0) {
            bad("request_timeout_secs", "must be at least 1");
        }
        if let Err(message) = self.time_zone() {
            bad("timezone", &message);
        }
        if let Err(message) = self.country() {
            bad("default_country", &message);
        }
        match self.query_arrays.as_deref() {
            None | Some("repeat") => {}
            Some("comma") => bad(
                "query_arrays",
                "\"comma\" is no longer accepted: the official OpenAPI document declares no style for array \
                 parameters, so they are repeated keys (userIds=1&userIds=2); remove the setting",
            ),
            Some(_) => bad(
                "query_arrays",
                "must be \"repeat\" (repeated keys), or left out",
            ),
        }
        for (name, value) in [
            ("rate_limit_patience", &self.rate_limit_patience),
            ("verify_patience", &self.verify_patience),
            ("refresh_max_age", &self.refresh_max_age),
        ] {
            if let Some(Err(message)) = value.as_deref().map(parse_duration) {
                bad(name, &message);
            }
        }
        if let Some(format) = &self.date_format {
            let probe = jiff::civil::date(2027, 12, 31);
            let ok = jiff::fmt::strtime::format(format.as_str(), probe)
                .ok()
                .and_then(|s| jiff::civil::Date::strptime(format.as_str(), &s).ok())
                == Some(probe);
            if !ok {
                bad(
                    "date_format",
                    "must be a strftime date format with year, month and day, such as %d/%m/%Y",
                );
            }
        }
        match self.base_url() {
            Ok(url) => {
                if let Err(message) = crate::api::check_base_url(&url) {
                    problems.push(Problem::new(
                        "settings",
                        Place::Setting("base_url".into()),
                        format!("{message} (from {})", self.base_url_origin()),
                    ));
                }
            }
            Err(p) => problems.push(p),
        }
        problems
    }
}

/// `config/../reports` as `reports`: `..` after a named folder undone, lexically.
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for part in path.components() {
        match (part, out.last()) {
            (Component::CurDir, _) => {}
            (Component::ParentDir, Some(Component::Normal(_))) => {
                out.pop();
            }
            _ => out.push(part),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

/// A duration such as `10m`, `90s`, `1h` or `500ms`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || format!("\"{text}\" is not a duration such as 10m, 90s, 1h or 500ms");
    let n: u64 = number.parse().map_err(|_| bad())?;
    let millis = match unit.trim() {
        "ms" => n,
        "" | "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        _ => return Err(bad()),
    };
    Ok(std::time::Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_a_settings_file_are_taken_from_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ct.toml");
        std::fs::write(
            &path,
            "manifest = \"m.yaml\"\nreport_dir = \"../out\"\nstate = \"/var/lib/x.db\"\n",
        )
        .unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.manifest(), dir.path().join("m.yaml"));
        assert_eq!(
            settings.report_dir(),
            dir.path().parent().unwrap().join("out")
        );
        assert_eq!(settings.state(), PathBuf::from("/var/lib/x.db"));
        assert_eq!(
            tidy(Path::new("config/../reports")),
            PathBuf::from("reports")
        );
        assert_eq!(tidy(Path::new("../x")), PathBuf::from("../x"));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        let secs = |t: &str| parse_duration(t).map(|d| d.as_millis());
        assert_eq!(secs("10m"), Ok(600_000));
        assert_eq!(secs("90s"), Ok(90_000));
        assert_eq!(secs("90"), Ok(90_000));
        assert_eq!(secs("1h"), Ok(3_600_000));
        assert_eq!(secs("500ms"), Ok(500));
        assert!(parse_duration("ten minutes").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn flags_win_over_the_file_field_by_field() {
        let file = Settings {
            rate_per_minute: Some(200),
            concurrency: Some(8),
            ..Settings::default()
        };
        let flags = Settings {
            rate_per_minute: Some(50),
            ..Settings::default()
        };
        let merged = flags.or(file);
        assert_eq!(merged.rate_per_minute(), 50);
        assert_eq!(merged.concurrency(), 8);
        assert_eq!(merged.daily_quota(), 10_000);
    }

    #[test]
    fn the_shipped_settings_file_parses_and_holds_every_setting() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG);
        let text = std::fs::read_to_string(&path).unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        assert!(settings.check().is_empty());
        for key in [
            "base_url",
            "region",
            "rate_per_minute",
            "daily_quota",
            "quota_reserve_percent",
            "concurrency",
            "request_timeout_secs",
            "max_retries",
            "retry_backoff_ms",
            "report_dir",
            "state",
            "manifest",
            "date_format",
            "api_key_file",
            "query_arrays",
            "rate_limit_patience",
            "without_refresh",
            "timezone",
            "default_country",
            "create_missing",
            "send_activation",
            "verify_patience",
            "refresh_max_age",
            "[columns]",
        ] {
            assert!(
                text.contains(key),
                "config/ct-onboard.toml does not mention {key}"
            );
        }
    }

    #[test]
    fn region_picks_the_base_url() {
        let au = Settings {
            region: Some("AU".into()),
            ..Settings::default()
        };
        assert_eq!(au.base_url().unwrap(), AU_BASE_URL);
        let bad = Settings {
            region: Some("eu".into()),
            ..Settings::default()
        };
        assert_eq!(bad.check().len(), 1);
    }

    #[test]
    fn unknown_keys_and_bad_formats_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "rate_per_minute = 100\nrate_per_minit = 5\n").unwrap();
        let err = Settings::load(Some(&path)).unwrap_err();
        assert_eq!(err.place, Place::Text { line: 2, column: 1 }, "{err}");
        let s = Settings {
            date_format: Some("%d/%m".into()),
            ..Settings::default()
        };
        assert_eq!(s.check().len(), 1);
    }

    #[test]
    fn effective_rate_leaves_the_reserve() {
        let s = Settings::default();
        assert_eq!(s.effective_rate_per_minute(), 90);
    }
}
