use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use ct_onboard::cli::{Cli, LogFormat};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (q, _) if q > 0 => "warn",
        (_, 0) => "info",
        (_, 1) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.without_time().init(),
    }
    ct_onboard::run(cli, &ct_onboard::Console::std()).into()
}
