use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use ct_onboard::cli::LogFormat;

fn main() -> std::process::ExitCode {
    let cli = ct_onboard::cli::parse();
    // ct-onboard's own events; what its dependencies say only at -vvv (or RUST_LOG).
    let level = match (cli.quiet, cli.verbose) {
        (q, _) if q > 0 => "warn",
        (_, 0) => "warn,ct_onboard=info",
        (_, 1) => "warn,ct_onboard=debug",
        (_, 2) => "warn,ct_onboard=trace",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(ct_onboard::progress::StderrAroundBar)
        .with_ansi(cli.color.on_stderr())
        .with_target(false);
    let console = ct_onboard::Console::std();
    let console = match cli.log_format {
        LogFormat::Json => {
            logs.json().init();
            console.logged()
        }
        // A terminal has its own clock; a log file needs one.
        LogFormat::Text if std::io::stderr().is_terminal() => {
            logs.without_time().init();
            console
        }
        LogFormat::Text => {
            logs.init();
            console
        }
    };
    ct_onboard::run(cli, &console).into()
}
