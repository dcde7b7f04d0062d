//! ct-onboard: onboard new hires into Connecteam in bulk.
//!
//! The modules follow the data: the sheet and manifest are read ([`input`], [`manifest`]),
//! checked and planned ([`plan`]), and reported ([`report`]). [`commands`] ties them to
//! the command line ([`cli`], [`config`]) and decides the [`exit`] code.

#![warn(clippy::all, rust_2018_idioms, unused_qualifications)]

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod exec;
pub mod exit;
pub mod input;
pub mod journal;
pub mod manifest;
pub mod plan;
pub mod problem;
pub mod progress;
pub mod report;
pub mod resolve;
pub mod sandbox;
pub mod saved_plan;
pub mod throttle;

pub use cli::Cli;
pub use exit::Exit;
