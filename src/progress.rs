//! Progress: a bar on a terminal (counts, assignments a minute, ETA, and a paused state
//! saying for how long and why); plain log lines otherwise (cron), every few seconds.
//!
//! Log lines written while the bar is up go through [`StderrAroundBar`], which lifts the
//! bar for the line and draws it again below: no ghost copies of the bar.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::report::{AssignmentStatus, UserLine};

const LOG_EVERY: Duration = Duration::from_secs(10);

/// The bar on screen, if any, for [`StderrAroundBar`].
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Where logs go: stderr, around the progress bar when one is up.
#[derive(Debug, Clone, Copy, Default)]
pub struct StderrAroundBar;

impl Write for StderrAroundBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = ACTIVE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for StderrAroundBar {
    type Writer = StderrAroundBar;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

#[derive(Debug, Default)]
struct Counts {
    /// Users whose assignments are all settled, sent or not.
    users: u64,
    /// Of those, users with at least one request sent.
    sent_to: u64,
    done: u64,
    failed: u64,
}

/// Whether, how long and why every request is paused.
pub type PauseProbe = Box<dyn Fn() -> Option<(Duration, &'static str)> + Send + Sync>;

pub struct Progress {
    bar: Option<ProgressBar>,
    total_users: u64,
    started: Instant,
    last_log: Mutex<Instant>,
    counts: Mutex<Counts>,
    paused: Option<PauseProbe>,
}

/// `3m 20s`, `45s`, `2h 05m`.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

impl Progress {
    /// A bar when stderr is a terminal and `show` is true; log lines otherwise. `paused`
    /// tells the bar when every request waits, and why.
    pub fn new(total_users: u64, show: bool, color: bool, paused: Option<PauseProbe>) -> Progress {
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total_users);
            let template = if color {
                "{bar:30.cyan/blue} {pos}/{len} users  {msg}"
            } else {
                "{bar:30} {pos}/{len} users  {msg}"
            };
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            *ACTIVE.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
            bar
        });
        Progress {
            bar,
            total_users,
            started: Instant::now(),
            last_log: Mutex::new(Instant::now()),
            counts: Mutex::new(Counts::default()),
            paused,
        }
    }

    /// The bar's words: a pause, or the counts, the rate a minute and the ETA.
    fn message(&self, counts: &Counts) -> String {
        if let Some((left, why)) = self.paused.as_ref().and_then(|p| p()) {
            return format!(
                "paused {}: {why}  ({} done, {} failed)",
                human(left),
                counts.done,
                counts.failed
            );
        }
        let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
        #[expect(clippy::cast_precision_loss, reason = "counts are small")]
        let per_minute = counts.done as f64 * 60.0 / elapsed;
        #[expect(clippy::cast_precision_loss, reason = "counts are small")]
        let eta = match counts.users {
            0 => String::from("…"),
            n => human(Duration::from_secs_f64(
                (self.total_users.saturating_sub(n)) as f64 * elapsed / n as f64,
            )),
        };
        format!(
            "{} assignments done, {} failed  {per_minute:.0}/min  ETA {eta}",
            counts.done, counts.failed
        )
    }

    /// Redraws the bar's words (a pause begins or ends between users).
    pub fn tick(&self) {
        if let Some(bar) = &self.bar {
            let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
            bar.set_message(self.message(&counts));
        }
    }

    pub fn user_done(&self, line: &UserLine) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.users += 1;
        let done = line.count(AssignmentStatus::Done) as u64;
        let failed = line.count(AssignmentStatus::Failed) as u64;
        counts.sent_to += u64::from(line.assignments.iter().any(|a| a.attempts > 0));
        counts.done += done;
        counts.failed += failed;
        match &self.bar {
            Some(bar) => {
                bar.set_message(self.message(&counts));
                bar.inc(1);
            }
            None => {
                let mut last = self.last_log.lock().unwrap_or_else(PoisonError::into_inner);
                if last.elapsed() >= LOG_EVERY || counts.users == self.total_users {
                    *last = Instant::now();
                    tracing::info!(
                        event = "progress",
                        users = counts.users,
                        of = self.total_users,
                        sent_to = counts.sent_to,
                        done = counts.done,
                        failed = counts.failed,
                        "progress: {}/{} users settled ({} sent to, {} not started), {}",
                        counts.users,
                        self.total_users,
                        counts.sent_to,
                        counts.users - counts.sent_to,
                        self.message(&counts)
                    );
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            *ACTIVE.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(200)), "3m 20s");
        assert_eq!(human(Duration::from_secs(7500)), "2h 05m");
    }
}
