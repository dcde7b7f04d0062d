//! Rehearsals anywhere: the simulator built in, seeded from your own sheet, or from a
//! snapshot of your account.

use std::path::{Path, PathBuf};

use ct_onboard::sandbox::{SeedHoldings, SeedPack, SeedPayRule, SeedTimeOff};

use crate::util::{
    RunningSandbox, TODAY, TestCommand, read_records, sample_seed, seed_user, write,
};

/// The binary run from an empty folder that has no `samples/` and no `config/`.
fn in_empty_folder(dir: &Path) -> TestCommand {
    let mut cmd = TestCommand::ct();
    cmd.current_dir(dir);
    cmd
}

fn output(cmd: &mut TestCommand) -> (i32, String, String) {
    let ran = cmd.run();
    (ran.code, ran.stdout, ran.stderr)
}

/// A sheet and manifest whose users and policies are in no seed.
fn own_batch(dir: &Path) -> (PathBuf, PathBuf) {
    let sheet = write(
        dir,
        "crew.csv",
        "Email,Employee Type,Start Date\nzoe@acme.example,crew,2029-03-01\n\
         raj@acme.example,crew,2029-03-01\nli@acme.example,crew,2029-03-01\n",
    );
    let manifest = write(
        dir,
        "manifest.yaml",
        "employee_types:\n  crew:\n    time_off:\n      - policy_name: Crew Leave\n        balance: 10\n        unit: days\n\
         \x20     - policy_id: crew-sick\n    pay_rule:\n      policy_name: Crew Hourly\n      effective_date: start_date\n",
    );
    (sheet, manifest)
}

#[test]
fn from_an_empty_folder_run_sandbox_rehearses_your_own_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (sheet, manifest) = own_batch(dir.path());
    let (code, stdout, stderr) = output(
        in_empty_folder(dir.path())
            .args([
                "run",
                "crew.csv",
                "--manifest",
                "manifest.yaml",
                "--sandbox",
            ])
            .args(["--no-progress", "--rate-per-minute", "1000000"]),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("3 users: 3 succeeded; 9 assignments done"),
        "{stdout}"
    );
    assert!(
        stdout.contains("seeded from crew.csv and manifest.yaml")
            && stdout.contains("Nothing reached Connecteam."),
        "{stdout}"
    );
    assert!(sheet.exists() && manifest.exists());
    assert!(
        dir.path().join("reports").is_dir(),
        "the report is written here"
    );
    assert!(
        !dir.path().join("state").exists(),
        "a rehearsal journals to a scratch file"
    );
}

#[test]
fn from_an_empty_folder_the_sandbox_serves_its_built_in_account() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = in_empty_folder(dir.path())
        .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
        .spawn();
    let mut answer = String::new();
    crate::util::wait_until("the sandbox to serve its account", || {
        let policies = in_empty_folder(dir.path())
            .args([
                "policies",
                "--base-url",
                &format!("http://127.0.0.1:{port}"),
            ])
            .env("CONNECTEAM_API_KEY", "any")
            .run();
        answer = policies.stdout;
        policies.code == 0
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(answer.contains("Vacation - Full-time"), "{answer}");
}

#[test]
fn plan_sandbox_really_asks_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    own_batch(dir.path());
    let (code, stdout, stderr) = output(in_empty_folder(dir.path()).args([
        "plan",
        "crew.csv",
        "--manifest",
        "manifest.yaml",
        "--sandbox",
    ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("policies and users checked against http://127.0.0.1:"),
        "not offline: {stdout}"
    );
    assert!(stdout.contains("changes:      9 new"), "{stdout}");
    assert!(stdout.contains("Nothing reached Connecteam."), "{stdout}");
}

/// An account with an archived user and two users sharing an email, and holdings.
fn tricky_account() -> RunningSandbox {
    let mut seed = sample_seed(vec![
        seed_user(8_800_001, "gone@northwind-foods.example", true),
        seed_user(8_800_002, "twin@northwind-foods.example", false),
        seed_user(8_800_003, "twin@northwind-foods.example", false),
    ]);
    seed.holdings = SeedHoldings {
        packs: vec![SeedPack {
            pack_id: 501,
            user_id: 9_170_357,
            status: "completed".into(),
        }],
        time_off: vec![SeedTimeOff {
            user_id: 9_170_357,
            policy_id: "pol-vac-pt-001".into(),
            balance: Some(12.5),
        }],
        pay_rules: vec![SeedPayRule {
            user_id: 9_170_358,
            policy_id: 12345,
            effective_date: jiff::civil::date(2030, 1, 1),
        }],
    };
    RunningSandbox::start(seed)
}

/// `plan --skip-invalid`: exit code, the skipped rows' messages, and each assignment's
/// change and holds.
fn plan_of(cmd: &mut TestCommand, reports: &Path) -> (i32, Vec<String>, Vec<String>) {
    let (code, stdout, stderr) = output(
        cmd.args(["--skip-invalid", "--report-dir"])
            .arg(reports)
            .env("CT_ONBOARD_TODAY", TODAY),
    );
    let skipped: Vec<String> = stderr
        .lines()
        .filter(|l| l.starts_with("skipped:"))
        .map(str::to_owned)
        .collect();
    let run = crate::util::only_run_dir(reports);
    let changes = read_records(&run.join("assignments.csv"))
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {} {}",
                &a["row"], &a["policy_id"], &a["change"], &a["status"], &a["holds"]
            )
        })
        .collect();
    assert!(code == 1, "{stdout}{stderr}");
    (code, skipped, changes)
}

#[test]
fn a_snapshot_rehearses_the_same_refusals_and_changes_offline() {
    let running = tricky_account();
    let dir = tempfile::tempdir().unwrap();
    let sheet = write(
        dir.path(),
        "hires.csv",
        "User ID,Email,Employee Type,Start Date\n9170357,,full-time,2029-01-04\n\
         9170358,,full-time,2029-01-04\n,gone@northwind-foods.example,part-time,2029-01-04\n\
         ,twin@northwind-foods.example,part-time,2029-01-04\n9170359,,intern,2029-01-04\n",
    );
    let real = plan_of(
        TestCommand::new(running.ct_process())
            .arg("plan")
            .arg(&sheet),
        &dir.path().join("real"),
    );
    assert_eq!(
        real.1.len(),
        2,
        "the archived and the ambiguous email: {real:?}"
    );
    assert!(
        real.2
            .contains(&"2 501 unchanged skipped on the pack (completed)".to_owned()),
        "{real:?}"
    );

    let seed = dir.path().join("account.yaml");
    let (code, stdout, stderr) = output(
        TestCommand::new(running.ct_process())
            .arg("snapshot")
            .arg(&sheet)
            .arg("--out")
            .arg(&seed),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("personal data"), "{stdout}");
    assert!(
        stdout.contains("2 onboarding packs, 3 holdings"),
        "the packs and who is on them: {stdout}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&seed).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let requests_before = running.sandbox.snapshot().requests.values().sum::<u64>();

    // Offline: no key, no base URL, only the snapshot.
    let rehearsed = plan_of(
        TestCommand::ct()
            .arg("plan")
            .arg(&sheet)
            .arg("--sandbox")
            .arg("--seed")
            .arg(&seed),
        &dir.path().join("rehearsed"),
    );
    assert_eq!(rehearsed, real);
    assert_eq!(
        running.sandbox.snapshot().requests.values().sum::<u64>(),
        requests_before,
        "not one request to the account"
    );
}
