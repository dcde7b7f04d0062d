//! Fresh holdings: no write goes out on what users held longer ago than
//! `refresh_max_age`. A user whose holdings are older than that when it starts has them
//! read again, with the next users not yet started (one batch), and its assignments
//! decided again from what is found: a policy assigned in the app meanwhile is a change
//! like any other, classified and guarded.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::civil::Date;
use tokio::time::Instant;

use super::pool::Run;
use crate::holdings::{Holdings, Names, Reads};
use crate::pipeline::decide::{Decision, decide_row};
use crate::plan::{Kind, PlanRow};
use crate::resolve::Directory;

/// Users read again together: one balances page.
const BATCH: usize = 100;

/// What each row's user holds, and when it was read.
pub struct Fresh<'a> {
    directory: &'a Directory,
    names: Names,
    rows: &'a [&'a PlanRow],
    today: Date,
    now: jiff::Timestamp,
    skipped: BTreeSet<Kind>,
    max_age: Duration,
    allow_overwrite: bool,
    slots: Mutex<Vec<Slot>>,
    /// One read at a time: a worker that waits finds its user read by the one before.
    reading: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Slot {
    holdings: Arc<Holdings>,
    read_at: Instant,
    started: bool,
}

/// How fresh holdings are kept: the refresh's reads, and the rules of the decisions.
pub struct FreshOptions {
    pub today: Date,
    pub now: jiff::Timestamp,
    pub skipped: BTreeSet<Kind>,
    pub max_age: Duration,
    pub allow_overwrite: bool,
}

impl<'a> Fresh<'a> {
    /// Every row's holdings as the refresh read them at `read_at`.
    pub fn new(
        directory: &'a Directory,
        rows: &'a [&'a PlanRow],
        holdings: Arc<Holdings>,
        read_at: Instant,
        options: FreshOptions,
    ) -> Fresh<'a> {
        let slot = Slot {
            holdings,
            read_at,
            started: false,
        };
        Fresh {
            directory,
            names: Names::of(directory),
            rows,
            today: options.today,
            now: options.now,
            skipped: options.skipped,
            max_age: options.max_age,
            allow_overwrite: options.allow_overwrite,
            slots: Mutex::new(vec![slot; rows.len()]),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a row's user started: it is no longer read with the next batch.
    pub fn started(&self, slot: usize) {
        self.slots()[slot].started = true;
    }

    fn stale(&self, slot: usize) -> bool {
        self.slots()[slot].read_at.elapsed() > self.max_age
    }

    /// The row's decisions made again from what its user holds now, when what was read
    /// is older than allowed (`None`: still fresh, the planned decisions stand). An error
    /// means it could not be read again: nothing is sent to that user.
    pub async fn decisions(
        &self,
        run: &Run<'_>,
        slot: usize,
        row: &PlanRow,
    ) -> Result<Option<Vec<Decision>>, String> {
        if !self.stale(slot) {
            return Ok(None);
        }
        let reading = self.reading.lock().await;
        if self.stale(slot) {
            self.read_again(run, slot).await.map_err(|e| {
                format!("not sent: what the user holds could not be read again before writing: {e}")
            })?;
        }
        drop(reading);
        let holdings = Arc::clone(&self.slots()[slot].holdings);
        let Some(user) = row.user_id else {
            return Ok(None);
        };
        let own = run
            .journal
            .own(run.client.base_url(), user)
            .map_err(|e| e.to_string())?;
        Ok(Some(decide_row(
            row,
            &holdings,
            &own,
            &self.names,
            self.allow_overwrite,
            self.now,
        )))
    }

    /// Reads again `slot`'s user and the next users not yet started whose holdings are
    /// older than allowed, as one batch.
    async fn read_again(&self, run: &Run<'_>, slot: usize) -> Result<(), crate::api::ApiError> {
        let batch: Vec<usize> =
            {
                let slots = self.slots();
                std::iter::once(slot)
                    .chain((slot + 1..slots.len()).filter(|&s| {
                        !slots[s].started && slots[s].read_at.elapsed() > self.max_age
                    }))
                    .take(BATCH)
                    .collect()
            };
        let pairs = || {
            batch
                .iter()
                .filter_map(|&s| Some((self.rows[s].user_id?, self.rows[s])))
                .flat_map(|(user, row)| row.assignments.iter().map(move |a| (user, a)))
                // The packs went out before the pool: nothing of them is decided again.
                .filter(|(_, a)| a.kind() != Kind::OnboardingPack)
        };
        let reads = Reads::of(pairs(), self.directory, self.today, &self.skipped);
        // As old as their first read: the age counts from before it.
        let read_at = Instant::now();
        tracing::info!(
            "what {} users hold was read over {} s ago: reading it again before writing",
            batch.len(),
            self.max_age.as_secs()
        );
        let mut holdings = Holdings::fetch(run.client, self.directory, &reads).await?;
        holdings
            .read_replace_candidates(run.client, pairs())
            .await?;
        let holdings = Arc::new(holdings);
        let mut slots = self.slots();
        for s in batch {
            slots[s].holdings = Arc::clone(&holdings);
            slots[s].read_at = read_at;
        }
        Ok(())
    }
}
