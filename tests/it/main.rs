//! The one integration-test binary: the CLI driven as a user would, on fixture files.

mod account;
mod check;
mod client;
mod edges;
mod exits;
mod fail_closed;
mod hostile;
mod html;
mod journal;
mod online;
mod openapi;
mod packs;
mod people;
mod props;
mod rehearse;
mod report;
mod run;
mod sheets;
mod soak;
mod util;
