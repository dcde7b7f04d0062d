//! Validation speed and memory: `cargo bench --bench validation`.
//!
//! Generates new-hire sheets of 10,000 and 100,000 rows (CSV and XLSX), runs the release
//! binary's `check` and an offline `plan` (which writes the whole report) on each as a
//! user would, and prints wall time, rows per second and the process's peak resident
//! memory. Targets for `check`: a 100k-row CSV under 2 s and 150 MB; a 100k-row XLSX
//! well under the 149 MB it once took.
//!
//! `VALIDATION_SHEETS=DIR cargo bench --bench validation` keeps the sheets in `DIR`, for
//! a profiler such as heaptrack to read.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The generated sheets' columns, as an HR export would have them.
const HEADERS: [&str; 8] = [
    "Employee Number",
    "First Name",
    "Last Name",
    "User ID",
    "Work Email",
    "Employee Type",
    "Start Date",
    "Department",
];

const TYPES: [&str; 4] = ["full-time", "part-time", "night-shift", "intern"];

fn main() {
    // A child of this bench writes each sheet, so that the bench itself stays small: a
    // child's peak RSS starts from its parent's size at the fork.
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, path, rows] = args.as_slice()
        && flag == "--write-sheet"
    {
        let path = Path::new(path);
        let rows = rows.parse().expect("rows");
        if path.extension().is_some_and(|e| e == "csv") {
            write_csv(path, rows)
        } else {
            write_xlsx(path, rows)
        }
        return;
    }
    let temp = tempfile::tempdir().expect("temp dir");
    let kept = std::env::var_os("VALIDATION_SHEETS").map(std::path::PathBuf::from);
    let dir = kept.as_deref().unwrap_or(temp.path());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/manifest.yaml");
    let reports = temp.path().join("reports");
    println!(
        "{:<8} {:<6} {:>8} {:>10} {:>12} {:>10}",
        "format", "command", "rows", "seconds", "rows/s", "peak MB"
    );
    for rows in [10_000, 100_000] {
        for format in ["csv", "xlsx"] {
            let path = dir.join(format!("hires-{rows}.{format}"));
            let written = Command::new(std::env::current_exe().expect("this bench"))
                .arg("--write-sheet")
                .arg(&path)
                .arg(rows.to_string())
                .status()
                .expect("write the sheet");
            assert!(written.success(), "writing {}", path.display());
            // `check` reads and validates; an offline `plan` also writes the whole report.
            for command in ["check", "plan"] {
                let (seconds, peak_kb) = measure(command, &path, &manifest, &reports);
                println!(
                    "{format:<8} {command:<6} {rows:>8} {seconds:>10.3} {:>12.0} {:>10.1}",
                    rows as f64 / seconds,
                    peak_kb as f64 / 1024.0
                );
            }
        }
    }
}

fn row(i: usize) -> (u64, String, &'static str, String) {
    let start = jiff::civil::date(2027, 1, 4)
        .checked_add(jiff::Span::new().days((i % 180) as i64))
        .expect("date");
    (
        10_000_000 + i as u64,
        format!("hire{i}@northwind-foods.example"),
        TYPES[i % TYPES.len()],
        start.to_string(),
    )
}

fn write_csv(path: &Path, rows: usize) {
    let mut w = csv::Writer::from_path(path).expect("create csv");
    w.write_record(HEADERS).expect("header");
    for i in 0..rows {
        let (id, email, ty, start) = row(i);
        let id = if i % 3 == 0 {
            String::new()
        } else {
            id.to_string()
        };
        w.write_record([
            &format!("E-{i}"),
            "Alex",
            "Doe",
            &id,
            &email,
            ty,
            &start,
            "Operations",
        ])
        .expect("row");
    }
    w.flush().expect("flush");
}

fn write_xlsx(path: &Path, rows: usize) {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).expect("header");
    }
    for i in 0..rows {
        let (id, email, ty, start) = row(i);
        let r = i as u32 + 1;
        let d: jiff::civil::Date = start.parse().expect("date");
        sheet.write_string(r, 0, format!("E-{i}")).expect("cell");
        sheet.write_string(r, 1, "Alex").expect("cell");
        sheet.write_string(r, 2, "Doe").expect("cell");
        if i % 3 != 0 {
            sheet.write_number(r, 3, id as f64).expect("cell");
        }
        sheet.write_string(r, 4, &email).expect("cell");
        sheet.write_string(r, 5, ty).expect("cell");
        let when =
            ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8).expect("date");
        sheet
            .write_date_with_format(r, 6, &when, &date)
            .expect("cell");
        sheet.write_string(r, 7, "Operations").expect("cell");
    }
    book.save(path).expect("save xlsx");
}

/// Runs `ct-onboard COMMAND` on a sheet in a child process; returns seconds and that
/// child's own peak RSS, read from `wait4` (the children's aggregate maximum would hide a
/// smaller peak behind an earlier, larger one).
fn measure(command: &str, sheet: &Path, manifest: &Path, reports: &Path) -> (f64, i64) {
    let start = Instant::now();
    #[expect(
        clippy::zombie_processes,
        reason = "waited for by wait4 below, which std's Child cannot do"
    )]
    let child = Command::new(env!("CARGO_BIN_EXE_ct-onboard"))
        .arg(command)
        .arg(sheet)
        .arg("--manifest")
        .arg(manifest)
        .arg("--report-dir")
        .arg(reports)
        .env("CT_ONBOARD_TODAY", "2026-11-23")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run ct-onboard");
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `pid` is our own child, not yet waited for; wait4 fills `status` and `usage`.
    let (waited, usage) = unsafe {
        let waited = libc::wait4(pid, &mut status, 0, usage.as_mut_ptr());
        (waited, usage.assume_init())
    };
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command} failed on {} (status {status})",
        sheet.display()
    );
    // Linux reports kilobytes.
    (seconds, usage.ru_maxrss)
}
