//! Progress: a bar with counts, rate and ETA on a terminal; plain log lines otherwise
//! (cron), every few seconds.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::report::{AssignmentStatus, UserLine};

const LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct Counts {
    users: u64,
    done: u64,
    failed: u64,
}

pub struct Progress {
    bar: Option<ProgressBar>,
    total_users: u64,
    started: Instant,
    last_log: Mutex<Instant>,
    counts: Mutex<Counts>,
}

impl Progress {
    /// A bar when stderr is a terminal and `show` is true; log lines otherwise.
    pub fn new(total_users: u64, show: bool) -> Progress {
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total_users);
            let style = ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} users  {msg}  {per_sec}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            total_users,
            started: Instant::now(),
            last_log: Mutex::new(Instant::now()),
            counts: Mutex::new(Counts::default()),
        }
    }

    pub fn user_done(&self, line: &UserLine) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.users += 1;
        counts.done += line.count(AssignmentStatus::Done) as u64;
        counts.failed += line.count(AssignmentStatus::Failed) as u64;
        let message = format!("{} assignments done, {} failed", counts.done, counts.failed);
        match &self.bar {
            Some(bar) => {
                bar.set_message(message);
                bar.inc(1);
            }
            None => {
                let mut last = self
                    .last_log
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if last.elapsed() >= LOG_EVERY || counts.users == self.total_users {
                    *last = Instant::now();
                    let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
                    #[expect(clippy::cast_precision_loss, reason = "user counts are small")]
                    let rate = counts.users as f64 / elapsed;
                    #[expect(clippy::cast_precision_loss, reason = "user counts are small")]
                    let eta = (self.total_users - counts.users) as f64 / rate.max(1e-9);
                    tracing::info!(
                        "progress: {}/{} users, {message}, {:.1} users/s, ETA {:.0} s",
                        counts.users,
                        self.total_users,
                        rate,
                        eta
                    );
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
