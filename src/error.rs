//! One error type for everything that ends a command before its work is done, and the
//! one mapping from errors and outcomes to exit codes.

use std::path::PathBuf;

use crate::api::{ApiError, ErrorClass};
use crate::exit::Exit;
use crate::problem::Problem;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Problems in the sheet, manifest, settings or a saved plan: nothing was sent.
    #[error("{} found; nothing was sent.", count(.problems.len()))]
    Invalid {
        problems: Vec<Problem>,
        /// A way forward, shown after the problems.
        hint: Option<String>,
    },
    /// Flags or environment that do not go together, or a missing API key.
    #[error("{0}")]
    Usage(String),
    /// Connecteam refused or failed a read before anything was written.
    #[error("{}", api_message(.base_url, .source))]
    Api {
        base_url: String,
        source: Box<ApiError>,
    },
    /// Another run holds the journal's lock.
    #[error("{} is in use by {holder}; this run stops without doing anything.", .path.display())]
    Locked { path: PathBuf, holder: String },
    /// A local file could not be read or written: the journal, a report, a saved plan.
    #[error("{0}")]
    Local(String),
    /// A signal ended the command before it could start its work.
    #[error("{0}")]
    Interrupted(String),
    /// Connecteam answered what cannot be read, and the command needs it read
    /// (`--require-refresh`, `verify`).
    #[error("{0}")]
    Unreadable(String),
}

fn count(n: usize) -> String {
    format!("{n} problem{}", if n == 1 { "" } else { "s" })
}

fn api_message(base_url: &str, e: &ApiError) -> String {
    let status = e
        .status
        .map_or_else(String::new, |s| format!(" (HTTP {s})"));
    match e.class {
        ErrorClass::Auth => format!(
            "Connecteam refused the API key{status}: {e}. Check the key and its permissions; nothing was sent."
        ),
        ErrorClass::QuotaExhausted => format!("{e}. Nothing was sent."),
        ErrorClass::Stopped => format!("{e}. Nothing was sent."),
        _ => format!("cannot read from Connecteam at {base_url}{status}: {e}. Nothing was sent."),
    }
}

impl Error {
    /// A failed read from Connecteam at `base_url`.
    pub fn api(base_url: &str, source: ApiError) -> Error {
        Error::Api {
            base_url: base_url.to_owned(),
            source: Box::new(source),
        }
    }

    /// The journal could not be read or written.
    pub fn journal(e: impl std::fmt::Display) -> Error {
        Error::Local(e.to_string())
    }

    pub fn invalid(problems: Vec<Problem>) -> Error {
        Error::Invalid {
            problems,
            hint: None,
        }
    }

    /// The exit code this error ends the process with (README "Exit codes").
    pub fn exit(&self) -> Exit {
        match self {
            Error::Invalid { .. } | Error::Usage(_) => Exit::Invalid,
            Error::Api { source, .. } => match source.class {
                ErrorClass::Auth => Exit::AuthRefused,
                ErrorClass::QuotaExhausted => Exit::QuotaExhausted,
                ErrorClass::Stopped => Exit::Interrupted,
                ErrorClass::RateLimited | ErrorClass::Retryable | ErrorClass::Permanent => {
                    Exit::Unavailable
                }
            },
            Error::Locked { .. } => Exit::Locked,
            Error::Unreadable(_) => Exit::Unavailable,
            Error::Interrupted(_) => Exit::Interrupted,
            Error::Local(_) => Exit::CannotWrite,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(class: ErrorClass) -> Error {
        Error::Api {
            base_url: "https://api.example".into(),
            source: Box::new(ApiError::unsent(class, "x".into())),
        }
    }

    #[test]
    fn every_error_has_its_documented_exit_code() {
        assert_eq!(Error::invalid(vec![]).exit().code(), 2);
        assert_eq!(Error::Usage("x".into()).exit().code(), 2);
        assert_eq!(api(ErrorClass::Auth).exit().code(), 4);
        assert_eq!(api(ErrorClass::QuotaExhausted).exit().code(), 3);
        assert_eq!(api(ErrorClass::Retryable).exit().code(), 69);
        assert_eq!(api(ErrorClass::Permanent).exit().code(), 69);
        assert_eq!(api(ErrorClass::RateLimited).exit().code(), 69);
        assert_eq!(api(ErrorClass::Stopped).exit().code(), 130);
        let locked = Error::Locked {
            path: "s.db".into(),
            holder: "pid 1".into(),
        };
        assert_eq!(locked.exit().code(), 75);
        assert_eq!(Error::Local("disk full".into()).exit().code(), 74);
        assert_eq!(Error::Interrupted("x".into()).exit().code(), 130);
    }

    #[test]
    fn an_unreachable_api_names_the_url() {
        let message = api(ErrorClass::Retryable).to_string();
        assert!(message.contains("https://api.example"), "{message}");
    }
}
