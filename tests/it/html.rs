//! `report.html`, parsed as a browser would: content, escaping of hostile values, the
//! chart after a run, nothing loaded from elsewhere, long tables in chunks.

use scraper::{Html, Selector};

use crate::util::{
    RunningSandbox, TODAY, assert_exit, ct, only_run_dir, read_summary, sample_seed, write,
};

fn page(report_dir: &std::path::Path) -> Html {
    let path = only_run_dir(report_dir).join("report.html");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "owner-only, like the CSVs");
    Html::parse_document(&std::fs::read_to_string(path).unwrap())
}

fn select<'a>(html: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    html.select(&Selector::parse(css).unwrap()).collect()
}

fn text(html: &Html) -> String {
    html.root_element().text().collect()
}

#[test]
fn hostile_names_are_shown_as_text_and_nothing_is_loaded_from_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = write(
        dir.path(),
        "hires.csv",
        "User ID,First Name,Last Name,Employee Type,Start Date\n\
         9170357,<script>alert(1)</script>,<img src=x onerror=alert(2)>,full-time,2029-01-04\n\
         9170358,\"Ana\"\" onmouseover=\"\"alert(3)\",Webb,full-time,2029-01-04\n",
    );
    let reports = dir.path().join("reports");
    let out = ct()
        .arg("plan")
        .arg(&sheet)
        .arg("--report-dir")
        .arg(&reports)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let html = page(&reports);
    let scripts = select(&html, "script");
    assert_eq!(scripts.len(), 1, "only the page's own script");
    assert!(!scripts[0].inner_html().contains("alert"));
    assert!(select(&html, "img").is_empty(), "the <img> is text");
    assert!(select(&html, "[onmouseover], [onerror]").is_empty());
    let shown = text(&html);
    assert!(shown.contains("<script>alert(1)</script>"), "shown as text");
    assert!(shown.contains("<img src=x onerror=alert(2)>"));
    // Self-contained and locked down.
    assert!(select(&html, "[src], [href], link, iframe, object, embed").is_empty());
    let style: String = select(&html, "style")
        .iter()
        .map(|s| s.inner_html())
        .collect();
    assert!(!style.contains("url(") && !style.contains("@import"));
    let csp = select(&html, r#"meta[http-equiv="Content-Security-Policy"]"#);
    let policy = csp[0].value().attr("content").unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(policy.contains("script-src 'sha256-"), "{policy}");
    // A plan has no chart, and says it was not checked.
    assert!(select(&html, "svg.chart").is_empty());
    assert!(shown.contains("offline"));
    assert_eq!(select(&html, "#users tbody tr").len(), 2);
}

#[test]
fn a_run_page_has_its_chart_tiles_and_guarded_changes() {
    let mut seed = sample_seed(vec![]);
    seed.holdings.time_off = vec![ct_onboard::sandbox::SeedTimeOff {
        user_id: 9_170_357,
        policy_id: "pol-vac-pt-001".into(),
        balance: Some(12.5),
    }];
    let running = RunningSandbox::start(seed);
    let dir = tempfile::tempdir().unwrap();
    let out = running.run_samples(dir.path(), &["--rate-per-minute", "1000000"]);
    assert_eq!(out.status.code(), Some(1), "one guarded change");
    let html = page(dir.path());
    assert!(!select(&html, "svg.chart rect.bar").is_empty(), "the chart");
    let label = select(&html, "svg.chart")[0]
        .value()
        .attr("aria-label")
        .unwrap();
    assert!(
        label.starts_with("Requests each second over"),
        "a short run in seconds: {label}"
    );
    assert_eq!(select(&html, "svg.chart line.limit").len(), 1);
    let tiles: Vec<String> = select(&html, ".tile")
        .iter()
        .map(|t| t.text().collect::<String>())
        .collect();
    assert!(
        tiles
            .iter()
            .any(|t| t.contains("29") && t.contains("succeeded")),
        "{tiles:?}"
    );
    assert!(
        tiles
            .iter()
            .any(|t| t.contains("1") && t.contains("conflict")),
        "{tiles:?}"
    );
    let guarded = select(&html, "#changes .guarded");
    assert_eq!(
        guarded.len(),
        1,
        "guarded changes come first, in a section of their own"
    );
    let guarded_text: String = guarded[0].text().collect();
    assert!(
        guarded_text.contains("12.5 hours of Vacation - Part-time"),
        "{guarded_text}"
    );
    assert!(text(&html).contains(&running.sandbox.url()), "the account");
}

#[test]
fn ten_thousand_rows_come_in_collapsed_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let mut sheet = String::from("user_id,employee_type,start_date\n");
    for id in 1..=10_000 {
        sheet += &format!("{id},intern,2029-06-04\n");
    }
    let sheet = write(dir.path(), "many.csv", &sheet);
    let reports = dir.path().join("reports");
    let out = ct()
        .arg("plan")
        .arg(&sheet)
        .args(["--today", TODAY, "--report-dir"])
        .arg(&reports)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let html = page(&reports);
    let chunks = select(&html, "#users > details");
    assert_eq!(chunks.len(), 20, "500 rows a chunk");
    let open = chunks
        .iter()
        .filter(|d| d.value().attr("open").is_some())
        .count();
    assert_eq!(open, 1, "only the first is open");
    assert_eq!(
        select(&html, "#users tbody tr").len(),
        10_000,
        "every row is there"
    );
}

#[test]
fn the_page_names_the_sheet_and_manifest_by_the_bytes_read_even_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let sheet = std::fs::read(crate::util::root().join("samples/new-hires.csv")).unwrap();
    let manifest = std::fs::read(crate::util::root().join("config/manifest.yaml")).unwrap();
    let out = ct()
        .args(["plan", "-", "--report-dir"])
        .arg(&reports)
        .write_stdin(sheet.clone())
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let shown = text(&page(&reports));
    let sha = ct_onboard::digest::sha256_hex;
    assert!(
        shown.contains(&format!("sha256 {}", sha(&sheet))),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("sha256 {}", sha(&manifest))),
        "{shown}"
    );
}

#[test]
fn a_rehearsed_plan_says_so_rather_than_naming_the_simulator_as_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let out = ct()
        .args(["plan", "samples/new-hires.csv", "--sandbox", "--report-dir"])
        .arg(&reports)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let html = page(&reports);
    let title: String = select(&html, "title")[0].text().collect();
    assert!(title.contains("Rehearsed plan"), "{title}");
    let shown = text(&html);
    assert!(shown.contains("a simulated account"), "{shown}");
    assert!(
        !shown.contains("http://127.0.0.1"),
        "no simulator URL as the account"
    );
    let summary: serde_json::Value = read_summary(&only_run_dir(&reports));
    assert_eq!(summary["rehearsal"], true);
}

#[test]
fn long_and_right_to_left_values_stay_in_their_column_and_invisible_characters_show() {
    let dir = tempfile::tempdir().unwrap();
    let long = "Bartholomew".repeat(273); // 3,003 characters
    let sheet = write(
        dir.path(),
        "hires.csv",
        &format!(
            "User ID,First Name,Last Name,Email,Employee Type,Start Date\n\
             9170357,{long},Webb,,full-time,2029-01-04\n\
             9170358,\u{202e}LIAF,Okafor,,full-time,2029-01-04\n"
        ),
    );
    let reports = dir.path().join("reports");
    let out = ct()
        .arg("plan")
        .arg(&sheet)
        .args(["--today", TODAY, "--report-dir"])
        .arg(&reports)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let html = page(&reports);
    let rows = select(&html, "#users tbody tr");
    assert_eq!(rows.len(), 2);
    fn cell<'a>(row: &scraper::ElementRef<'a>, n: usize) -> scraper::ElementRef<'a> {
        let sel = Selector::parse("td").unwrap();
        row.select(&sel).nth(n).unwrap()
    }
    // The long name is clipped in its column, the whole of it on hover.
    let name = cell(&rows[0], 1);
    let bdi = name.select(&Selector::parse("bdi.clip").unwrap()).next();
    let bdi = bdi.expect("the name in a clipping <bdi>");
    assert_eq!(
        bdi.value().attr("title"),
        Some(format!("{long} Webb").as_str())
    );
    let style: String = select(&html, "style")
        .iter()
        .map(|s| s.inner_html())
        .collect();
    let rule = style
        .lines()
        .find(|l| l.trim_start().starts_with("bdi.clip"))
        .expect("a rule for clipped values");
    for needed in ["max-width", "overflow: hidden", "text-overflow: ellipsis"] {
        assert!(rule.contains(needed), "{rule}");
    }
    assert!(
        style.contains("overflow-wrap: anywhere"),
        "long messages wrap"
    );
    // A right-to-left override stays inside its own cell's isolate.
    let name = cell(&rows[1], 1);
    let isolated: Vec<String> = name
        .select(&Selector::parse("bdi").unwrap())
        .map(|b| b.text().collect())
        .collect();
    assert_eq!(isolated, vec!["\u{202e}LIAF Okafor".to_owned()]);
    for row in &rows {
        for n in [1, 2, 3] {
            let value = cell(row, n);
            let text: String = value.text().collect();
            if !text.is_empty() {
                assert!(
                    value
                        .select(&Selector::parse("bdi").unwrap())
                        .next()
                        .is_some(),
                    "every value from the sheet is isolated: {}",
                    value.html()
                );
            }
        }
    }
}

#[test]
fn an_email_holding_a_zero_width_space_is_refused_with_the_space_shown() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = write(
        dir.path(),
        "hires.csv",
        "First Name,Email,Employee Type,Start Date\n\
         Ana,ana\u{200b}@example.com,full-time,2029-01-04\n",
    );
    let out = ct()
        .arg("plan")
        .arg(&sheet)
        .args(["--today", TODAY])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            r#"row 2, column "Email" (B): "ana\u{200b}@example.com" holds an invisible character"#
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{200b}'),
        "never the character itself: {stderr}"
    );
}
