//! `report.html`: the page HR reviews, from the same typed results as the CSVs.
//!
//! Compiled askama templates escape every value from the sheet, the manifest and the
//! API. The page is self-contained (no fonts, scripts, styles or images from elsewhere),
//! its Content-Security-Policy allows only its own inline script and style, it reads
//! without JavaScript (the tables are HTML), and long tables come in collapsed chunks.

use std::collections::BTreeMap;

use askama::Template;
use sha2::{Digest, Sha256};

use super::{AssignmentStatus, Estimate, Summary, UserLine};
use crate::api::Timeline;
use crate::holdings::Change;
use crate::input::{Sheet, normalize_header};
use crate::problem::visible;

/// Rows per collapsible chunk of the users table.
const CHUNK: usize = 500;

/// What the page needs beyond the lines and the summary.
pub struct PageContext<'a> {
    /// The account's base URL; `None` for an offline plan.
    pub account: Option<&'a str>,
    /// The SHA-256 of the sheet and the manifest as they were read.
    pub sheet_sha256: Option<&'a str>,
    pub manifest_sha256: Option<&'a str>,
    pub rate_per_minute: u32,
    pub reserve_percent: u8,
    pub daily_quota: u32,
    /// A plan's cost.
    pub estimate: Option<&'a Estimate>,
    /// A run's requests over time.
    pub timeline: Option<&'a Timeline>,
    /// The sheet's email column, if it has one.
    pub email_column: Option<usize>,
}

/// The page. Its long tables are not held: each section and chunk keeps where its rows
/// are, and the template builds a row as it writes it (100,000 users make 275,000
/// change rows).
#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    title: String,
    account: String,
    when: String,
    sheet: String,
    sheet_sha: String,
    manifest: String,
    manifest_sha: String,
    tiles: Vec<Tile>,
    facts: Vec<(String, String)>,
    changes: Vec<ChangeSection<'a>>,
    new_people: Vec<NewPersonRow>,
    chunks: Vec<Chunk<'a>>,
    outcomes: Vec<&'static str>,
    chart: Option<Chart>,
    csp: String,
    script: &'static str,
}

struct Tile {
    label: &'static str,
    count: usize,
}

struct ChangeSection<'a> {
    title: String,
    note: String,
    guarded: bool,
    users: &'a [UserLine],
    /// Its assignments, as (user, assignment) positions in `users`.
    entries: Vec<(usize, usize)>,
}

impl ChangeSection<'_> {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn rows(&self) -> impl Iterator<Item = ChangeRow> + '_ {
        self.entries.iter().map(|&(u, a)| {
            let user = &self.users[u];
            let a = &user.assignments[a];
            ChangeRow {
                row: user.row,
                who: user.identifier.clone(),
                policy: format!("{} {}", a.policy_name, a.policy_id)
                    .trim()
                    .to_owned(),
                holds: visible(&a.holds).into_owned(),
                detail: visible(&a.error).into_owned(),
            }
        })
    }
}

struct ChangeRow {
    row: u64,
    who: String,
    policy: String,
    holds: String,
    detail: String,
}

/// One person created (or to be, or not) with `--create-missing`.
struct NewPersonRow {
    row: u64,
    name: String,
    identifier: String,
    action: &'static str,
    user_id: String,
    error: String,
}

/// The rows whose person ct-onboard creates, with what came of it.
fn new_people(users: &[UserLine], columns: &ShownColumns<'_>) -> Vec<NewPersonRow> {
    users
        .iter()
        .filter(|u| matches!(u.user_action, "create" | "created" | "failed"))
        .map(|u| {
            let row = &columns.sheet.rows[u.index];
            NewPersonRow {
                row: u.row,
                name: columns
                    .name
                    .iter()
                    .map(|&c| row.cell(c).display().trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
                identifier: u.identifier.clone(),
                action: u.user_action,
                user_id: u.user_id.map(|i| i.to_string()).unwrap_or_default(),
                error: match u.user_action {
                    "failed" => visible(&u.errors.join("; ")).into_owned(),
                    _ => String::new(),
                },
            }
        })
        .collect()
}

struct Chunk<'a> {
    label: String,
    open: bool,
    users: &'a [UserLine],
    columns: &'a ShownColumns<'a>,
}

/// The sheet's columns the users table shows.
struct ShownColumns<'a> {
    sheet: &'a Sheet,
    /// `Name`, or `First Name` and `Last Name`, …
    name: Vec<usize>,
    email: Option<usize>,
}

impl Chunk<'_> {
    fn rows(&self) -> impl Iterator<Item = Row> + '_ {
        self.users.iter().map(|user| {
            let row = &self.columns.sheet.rows[user.index];
            let shown = |c: usize| row.cell(c).display().trim().to_owned();
            Row {
                number: user.row,
                name: self
                    .columns
                    .name
                    .iter()
                    .map(|&c| shown(c))
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
                email: self.columns.email.map(shown).unwrap_or_default(),
                employee_type: user.employee_type.clone(),
                outcome: user.outcome.as_str(),
                assignments: user
                    .assignments
                    .iter()
                    .map(|a| Assigned {
                        policy: if a.policy_name.is_empty() {
                            a.policy_id.clone()
                        } else {
                            a.policy_name.clone()
                        },
                        value: if a.kind == crate::plan::Kind::OnboardingPack {
                            "onboarding pack".to_owned()
                        } else if !a.balance_basis.is_empty() {
                            a.balance_basis.clone()
                        } else if a.effective_date.is_empty() {
                            format!("{} {}", a.balance, a.unit).trim().to_owned()
                        } else {
                            format!("from {}", a.effective_date)
                        },
                        status: a.status.as_str(),
                    })
                    .collect(),
                errors: visible(&user.errors.join("; ")).into_owned(),
            }
        })
    }
}

struct Row {
    number: u64,
    name: String,
    email: String,
    employee_type: String,
    outcome: &'static str,
    assignments: Vec<Assigned>,
    errors: String,
}

struct Assigned {
    policy: String,
    value: String,
    status: &'static str,
}

/// The chart's shapes, coordinates already formatted for SVG.
struct Chart {
    width: u32,
    height: u32,
    bars: Vec<Bar>,
    limit_y: String,
    limit_label: String,
    pauses: Vec<(String, String)>,
    limited: Vec<String>,
    /// The axis' length ("45 s", "12 min") and one bin ("second", "5 s", "minute").
    span: String,
    bin: String,
    peak: usize,
}

struct Bar {
    x: String,
    y: String,
    w: String,
    h: String,
    count: usize,
    /// The bin's start and end, for its tooltip ("10–15 s").
    range: String,
}

fn coordinate(v: f64) -> String {
    format!("{v:.1}")
}

const SCRIPT: &str = r#"
(function () {
  var table = document.getElementById('users');
  var filter = document.getElementById('outcome-filter');
  if (!table || !filter) return;
  filter.hidden = false;
  filter.addEventListener('change', function () {
    table.setAttribute('data-only', filter.value);
  });
  var bodies = Array.prototype.slice.call(table.querySelectorAll('tbody'));
  window.addEventListener('beforeprint', function () {
    Array.prototype.forEach.call(document.querySelectorAll('details'), function (d) { d.open = true; });
  });
  Array.prototype.forEach.call(table.querySelectorAll('th[data-sort]'), function (th) {
    var column = th.cellIndex;
    th.tabIndex = 0;
    th.addEventListener('click', function () {
      var rows = [];
      bodies.forEach(function (b) { rows = rows.concat(Array.prototype.slice.call(b.rows)); });
      var down = th.getAttribute('aria-sort') !== 'ascending';
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute('data-key') || a.cells[column].textContent;
        var y = b.cells[column].getAttribute('data-key') || b.cells[column].textContent;
        var n = parseFloat(x) - parseFloat(y);
        var c = isNaN(n) ? x.localeCompare(y) : n;
        return down ? c : -c;
      });
      th.setAttribute('aria-sort', down ? 'ascending' : 'descending');
      var size = bodies.length ? Math.ceil(rows.length / bodies.length) : 0;
      bodies.forEach(function (b, i) {
        rows.slice(i * size, (i + 1) * size).forEach(function (r) { b.appendChild(r); });
      });
    });
  });
})();
"#;

/// The Content-Security-Policy: nothing from anywhere, except this page's own style and
/// its one script (by hash).
fn csp() -> String {
    let hash = base64(&Sha256::digest(SCRIPT.as_bytes()));
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'; \
         img-src 'none'; base-uri 'none'; form-action 'none'"
    )
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes the page to `out`.
pub fn write(
    out: &mut dyn std::io::Write,
    sheet: &Sheet,
    users: &[UserLine],
    summary: &Summary,
    context: &PageContext<'_>,
) -> std::io::Result<()> {
    let title = match (summary.mode, summary.rehearsal) {
        ("plan", false) => "Plan",
        ("plan", true) => "Rehearsed plan",
        (_, true) => "Rehearsal",
        _ => "Run",
    };
    let columns = shown_columns(sheet, context.email_column);
    let page = Page {
        title: title.to_owned(),
        account: match (context.account, summary.company()) {
            _ if summary.rehearsal => "a simulated account (nothing reached Connecteam)".to_owned(),
            (Some(url), Some(company)) => format!("{company} at {url}"),
            (Some(url), None) => url.to_owned(),
            (None, _) => "offline: nothing was checked against Connecteam".to_owned(),
        },
        when: summary.finished_at.clone(),
        sheet: summary.sheet.clone(),
        sheet_sha: context
            .sheet_sha256
            .unwrap_or("not read from a file")
            .to_owned(),
        manifest: summary.manifest.clone(),
        manifest_sha: context
            .manifest_sha256
            .unwrap_or("not read from a file")
            .to_owned(),
        tiles: tiles(summary),
        facts: facts(summary, context),
        changes: changes(users),
        new_people: new_people(users, &columns),
        chunks: chunks(users, &columns),
        outcomes: summary.outcomes.keys().map(|o| o.as_str()).collect(),
        chart: context
            .timeline
            .map(|t| chart(t, context.rate_per_minute, summary.duration_secs)),
        csp: csp(),
        script: SCRIPT,
    };
    page.write_into(out)
}

fn tiles(summary: &Summary) -> Vec<Tile> {
    summary
        .outcomes
        .iter()
        .map(|(outcome, count)| Tile {
            label: outcome.as_str(),
            count: *count,
        })
        .collect()
}

fn facts(summary: &Summary, context: &PageContext<'_>) -> Vec<(String, String)> {
    let usable_day =
        u64::from(context.daily_quota) * (100 - u64::from(context.reserve_percent.min(99))) / 100;
    let usable_minute = u64::from(context.rate_per_minute)
        * (100 - u64::from(context.reserve_percent.min(99)))
        / 100;
    let mut facts = vec![
        ("Users".to_owned(), summary.users.to_string()),
        ("Assignments".to_owned(), summary.assignments.to_string()),
    ];
    if !summary.without_refresh.is_empty() {
        facts.push((
            "Not read before writing".to_owned(),
            format!(
                "{} (--without-refresh): decided by the journal; anything ct-onboard did not itself make is held back",
                summary.without_refresh.join(", ")
            ),
        ));
    }
    let requests = match context.estimate {
        Some(estimate) => {
            let requests = estimate.requests() as u64;
            facts.push(("Requests needed".into(), requests.to_string()));
            #[expect(clippy::cast_precision_loss, reason = "request counts are small")]
            let minutes = requests as f64 / usable_minute.max(1) as f64;
            facts.push((
                "Time needed".into(),
                format!(
                    "about {:.0} min at {usable_minute} requests a minute",
                    minutes.ceil()
                ),
            ));
            requests
        }
        None => {
            facts.push(("Requests sent".into(), summary.requests_sent.to_string()));
            facts.push((
                "Rate-limited (429s)".into(),
                summary.rate_limited.to_string(),
            ));
            facts.push((
                "Duration".into(),
                format!("{:.0} s", summary.duration_secs.ceil()),
            ));
            summary.requests_sent
        }
    };
    facts.push((
        "The day's quota allows".into(),
        format!(
            "{usable_day} requests ({} less the {} % reserve)",
            context.daily_quota, context.reserve_percent
        ),
    ));
    facts.push((
        "Days this batch needs".into(),
        requests.div_ceil(usable_day.max(1)).max(1).to_string(),
    ));
    facts
}

fn change_title(change: Change) -> &'static str {
    match change {
        Change::New => "New assignments",
        Change::Unchanged => "Already held: nothing sent",
        Change::SetBalance => "Balance changes",
        Change::Move => "Moves to another policy of the same type",
        Change::Switch => "Pay-rule switches (ours starts later)",
        Change::Replace => "Pay-rule replacements (ours removes a later one)",
        Change::Unknown => "Not read from the account",
    }
}

fn changes(users: &[UserLine]) -> Vec<ChangeSection<'_>> {
    let mut guarded = Vec::new();
    let mut by_change: BTreeMap<Change, Vec<(usize, usize)>> = BTreeMap::new();
    for (u, user) in users.iter().enumerate() {
        for (i, a) in user.assignments.iter().enumerate() {
            let is_guarded = a.status == AssignmentStatus::Conflict;
            if is_guarded {
                guarded.push((u, i));
            } else {
                by_change.entry(a.change).or_default().push((u, i));
            }
        }
    }
    let mut sections = Vec::new();
    if !guarded.is_empty() {
        sections.push(ChangeSection {
            title: format!("Guarded: not sent ({})", guarded.len()),
            note: "Each would lose what the user holds, or what the user holds could not be read, as it says. \
                   --allow-overwrite sends them."
                .into(),
            guarded: true,
            users,
            entries: guarded,
        });
    }
    for (change, entries) in by_change {
        sections.push(ChangeSection {
            title: format!("{} ({})", change_title(change), entries.len()),
            note: String::new(),
            guarded: false,
            users,
            entries,
        });
    }
    sections
}

/// The sheet's name columns (`Name`, or `First Name` and `Last Name`) and its email.
fn shown_columns(sheet: &Sheet, email: Option<usize>) -> ShownColumns<'_> {
    let wanted = [
        "name",
        "fullname",
        "firstname",
        "lastname",
        "givenname",
        "surname",
    ];
    let name = sheet
        .headers
        .iter()
        .enumerate()
        .filter(|(_, h)| wanted.contains(&normalize_header(h).as_str()))
        .map(|(i, _)| i)
        .collect();
    ShownColumns { sheet, name, email }
}

fn chunks<'a>(users: &'a [UserLine], columns: &'a ShownColumns<'a>) -> Vec<Chunk<'a>> {
    let total = users.len();
    users
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, part)| {
            let label = match (part.first(), part.last()) {
                (Some(first), Some(last)) if total > CHUNK => {
                    format!("Rows {} to {}", first.row, last.row)
                }
                _ => format!("All {total} rows"),
            };
            Chunk {
                label,
                open: i == 0,
                users: part,
                columns,
            }
        })
        .collect()
}

/// Bin widths the chart picks from, in seconds: the narrowest that keeps a run within
/// [`MAX_BINS`] bars.
const BIN_SECONDS: [u32; 13] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200];
const MAX_BINS: usize = 60;

/// "5 s", "1 min", "2 h": a length of time as the chart labels it.
fn span_label(secs: f64) -> String {
    if secs < 120.0 {
        format!("{} s", secs.ceil() as u64)
    } else if secs < 7200.0 {
        format!("{} min", (secs / 60.0).ceil() as u64)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

/// "second", "5 s", "minute": one bin, as "requests each …" says it.
fn bin_label(bin: u32) -> String {
    match bin {
        1 => "second".to_owned(),
        60 => "minute".to_owned(),
        3600 => "hour".to_owned(),
        b if b % 3600 == 0 => format!("{} h", b / 3600),
        b if b % 60 == 0 => format!("{} min", b / 60),
        b => format!("{b} s"),
    }
}

/// Bin `i` of `bin` seconds as its tooltip names it: "10–15 s", "2–3 min", "1–2 h".
fn bin_range(i: usize, bin: u32) -> String {
    let (unit, name) = match bin {
        b if b < 60 => (1, "s"),
        b if b < 3600 => (60, "min"),
        _ => (3600, "h"),
    };
    let at = |n: usize| {
        let v = n as f64 * f64::from(bin) / f64::from(unit);
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    format!("{}–{} {name}", at(i), at(i + 1))
}

/// Requests per bin against the limit, 429s and pauses marked. The bins fit the run:
/// seconds for a run of a minute, minutes for a run of an hour.
fn chart(timeline: &Timeline, limit: u32, duration: f64) -> Chart {
    let last = timeline.requests.iter().copied().fold(0.0f64, f64::max);
    let duration = duration.max(last).max(1.0);
    let bin = BIN_SECONDS
        .iter()
        .copied()
        .find(|&b| (duration / f64::from(b)).ceil() as usize <= MAX_BINS)
        .unwrap_or(BIN_SECONDS[BIN_SECONDS.len() - 1]);
    let bin_secs = f64::from(bin);
    let bins = ((duration / bin_secs).ceil() as usize).max(1);
    let mut counts = vec![0usize; bins];
    for at in &timeline.requests {
        let i = ((at / bin_secs) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let peak = counts.iter().copied().max().unwrap_or(0);
    // The limit is per minute; at an even pace that is this many in one bin.
    let per_bin = f64::from(limit) * bin_secs / 60.0;
    let top = (peak as f64).max(per_bin).max(1.0) * 1.1;
    let (width, height) = (720u32, 240u32);
    let (left, bottom) = (40.0, 20.0);
    let plot_w = f64::from(width) - left - 10.0;
    let plot_h = f64::from(height) - bottom - 10.0;
    let step = plot_w / bins as f64;
    let y_of = |v: f64| 10.0 + plot_h - v / top * plot_h;
    let x_of = |secs: f64| left + secs / bin_secs * step;
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let y = y_of(count as f64);
            Bar {
                x: coordinate(left + i as f64 * step + step * 0.1),
                y: coordinate(y),
                w: coordinate(step * 0.8),
                h: coordinate(10.0 + plot_h - y),
                count,
                range: bin_range(i, bin),
            }
        })
        .collect();
    let per_bin_text = if per_bin.fract() == 0.0 {
        format!("{per_bin:.0}")
    } else {
        format!("{per_bin:.1}")
    };
    Chart {
        width,
        height,
        bars,
        limit_y: coordinate(y_of(per_bin)),
        limit_label: if bin == 60 {
            format!("limit {limit}/min")
        } else {
            format!("limit {limit}/min = {per_bin_text} each {}", bin_label(bin))
        },
        pauses: timeline
            .pauses
            .iter()
            .map(|(start, length)| {
                (
                    coordinate(x_of(*start)),
                    coordinate((length / bin_secs * step).max(1.0)),
                )
            })
            .collect(),
        limited: timeline
            .rate_limited
            .iter()
            .map(|at| coordinate(x_of(*at)))
            .collect(),
        span: span_label(bins as f64 * bin_secs),
        bin: bin_label(bin),
        peak,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(requests: Vec<f64>) -> Timeline {
        Timeline {
            requests,
            rate_limited: vec![],
            pauses: vec![],
        }
    }

    #[test]
    fn a_minute_long_run_is_charted_in_seconds_and_an_hour_in_minutes() {
        let even = timeline((0..60).map(|s| f64::from(s) + 0.5).collect());
        let chart = chart(&even, 60, 60.0);
        assert_eq!(chart.bin, "second");
        assert_eq!(chart.span, "60 s");
        assert_eq!(chart.bars.len(), 60);
        assert!(chart.bars.iter().all(|b| b.count == 1));
        assert_eq!(chart.bars[10].range, "10–11 s");
        assert_eq!(chart.limit_label, "limit 60/min = 1 each second");
        // The bar and the even pace are the same height.
        assert_eq!(chart.bars[0].y, chart.limit_y);

        let burst = timeline((0..300).map(|i| f64::from(i) / 100.0).collect());
        let chart = super::chart(&burst, 60, 1800.0);
        assert_eq!((chart.bin.as_str(), chart.bars.len()), ("30 s", 60));
        assert_eq!(chart.bars[0].count, 300);
        assert_eq!(chart.peak, 300);
        assert_eq!(chart.bars[1].range, "30–60 s");
        assert_eq!(chart.limit_label, "limit 60/min = 30 each 30 s");

        let hour = super::chart(&timeline(vec![0.0, 3599.0]), 600, 3600.0);
        assert_eq!((hour.bin.as_str(), hour.bars.len()), ("minute", 60));
        assert_eq!(hour.limit_label, "limit 600/min");
        assert_eq!(hour.span, "60 min");
        assert_eq!(hour.bars[59].range, "59–60 min");
        let day = super::chart(&timeline(vec![]), 600, 86_400.0);
        assert_eq!((day.bin.as_str(), day.bars.len()), ("30 min", 48));
        assert_eq!(day.bars[1].range, "30–60 min");
    }

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
