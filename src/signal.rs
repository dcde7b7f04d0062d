//! Signals: the first SIGINT or SIGTERM stops the run's work (no request starts after it,
//! waits end, requests in flight get a short grace, the report is written); the second
//! exits at once.
//!
//! The handlers are installed when a [`Signals`] is made, not when it is first awaited:
//! a signal that arrives between the two is kept, not lost to the default action. While
//! a report is being written ([`Writing`]), the second signal waits for it to end: a
//! report is whole or not there, never half-written.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Reports being written now.
static WRITING: AtomicUsize = AtomicUsize::new(0);

/// Held while a report (or a saved plan) is written: the quit-at-once signal waits for it.
#[must_use]
pub struct Writing(());

impl Writing {
    pub fn start() -> Writing {
        WRITING.fetch_add(1, Ordering::SeqCst);
        Writing(())
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        WRITING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Resolves when no report is being written.
async fn writes_done() {
    if WRITING.load(Ordering::SeqCst) == 0 {
        return;
    }
    tracing::warn!("finishing the report first, so that it is not left half-written…");
    while WRITING.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

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
    /// flight get a short grace, the report is written); exits, 130, on the second: at
    /// once, or as soon as a report being written is whole.
    pub async fn interrupt(mut self, stop: Arc<Stop>) {
        self.next().await;
        tracing::warn!(
            "interrupted: starting no new request, finishing those in flight, writing the report… (again to quit at once)"
        );
        stop.set(StopReason::Interrupted);
        self.next().await;
        writes_done().await;
        std::process::exit(i32::from(Exit::Interrupted.code()));
    }
}
