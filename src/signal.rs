//! Signals: the first SIGINT or SIGTERM stops the run's work (no request starts after it,
//! waits end, requests in flight get a short grace, the report is written); the second
//! exits at once.

use std::sync::Arc;

use crate::api::{Stop, StopReason};
use crate::exit::Exit;

/// Sets `stop` on the first SIGINT or SIGTERM (no request starts after it, waits end,
/// requests in flight get a short grace, the report is written); exits at once, 130,
/// on the second.
pub async fn interrupt_on_signals(stop: Arc<Stop>) {
    wait_for_stop_signal().await;
    tracing::warn!(
        "interrupted: starting no new request, finishing those in flight, writing the report… (again to quit at once)"
    );
    stop.set(StopReason::Interrupted);
    wait_for_stop_signal().await;
    std::process::exit(i32::from(Exit::Interrupted.code()));
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
