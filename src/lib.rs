//! ct-onboard: onboard new hires into Connecteam in bulk.
//!
//! The modules follow the data (CONTRIBUTING.md has the map): the sheet and manifest are
//! read ([`input`], [`manifest`]), planned ([`plan`]), resolved against the account
//! ([`resolve`]) through the one gateway ([`api`], paced by [`throttle`]), executed
//! ([`exec`], recorded in the [`journal`]) and reported ([`report`]). [`pipeline`] runs
//! those stages as values; [`commands`] render them; [`error`] and [`exit`] decide how a
//! command ends.

#![warn(clippy::all, rust_2018_idioms, unused_qualifications)]

pub mod api;
pub mod cli;
mod commands;
mod config;
pub mod console;
pub mod digest;
mod error;
pub mod exit;
mod holdings;
pub mod input;
pub mod journal;
pub mod manifest;
mod pipeline;
pub mod plan;
pub mod problem;
pub mod progress;
mod report;
mod resolve;
pub mod sandbox;
mod saved_plan;
mod signal;

pub use cli::Cli;
pub use console::Console;
pub use error::Error;
pub use exit::Exit;

/// Runs one parsed command line to its exit code, printing through `console`. Builds
/// its own async runtime, so it can be called from a plain test as well as from `main`.
pub fn run(cli: Cli, console: &Console) -> Exit {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(commands::dispatch(cli, console)),
        Err(e) => {
            console.error(format!("cannot start the async runtime: {e}"));
            Exit::CannotWrite
        }
    }
}
