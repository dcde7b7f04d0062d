//! Signals: the first SIGINT or SIGTERM stops the run's work (no request starts after it,
//! waits end, requests in flight get a short grace, the report is written); the second
//! exits at once.
//!
//! The handlers are installed when a [`Signals`] is made, not when it is first awaited:
//! a signal that arrives between the two is kept, not lost to the default action.

use std::sync::Arc;

use crate::api::{Stop, StopReason};
use crate::exit::Exit;

/// SIGINT and SIGTERM, listened to from the moment this is made.
pub struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers now. Must be called inside the runtime.
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves on the next SIGINT or SIGTERM.
    pub async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => drop(signal.recv().await),
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = recv(&mut self.interrupt) => {}
                () = recv(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }

    /// Sets `stop` on the first signal (no request starts after it, waits end, requests in
    /// flight get a short grace, the report is written); exits at once, 130, on the second.
    pub async fn interrupt(mut self, stop: Arc<Stop>) {
        self.next().await;
        tracing::warn!(
            "interrupted: starting no new request, finishing those in flight, writing the report… (again to quit at once)"
        );
        stop.set(StopReason::Interrupted);
        self.next().await;
        std::process::exit(i32::from(Exit::Interrupted.code()));
    }
}
