//! People by phone: phones normalised to E.164 (with `default_country` for numbers
//! written without a code), impossible numbers refused with their cell, and phone
//! lookups batched like emails.

use crate::util::{RunningSandbox, Site, TODAY, sample_seed};

/// A hire known to the account only by phone.
fn by_phone(id: u64, phone: &str) -> ct_onboard::sandbox::SeedUser {
    ct_onboard::sandbox::SeedUser {
        id,
        email: None,
        first_name: "Phone".into(),
        last_name: format!("User {id}"),
        archived: false,
        phone: Some(phone.into()),
    }
}

#[test]
fn rows_identified_by_phone_resolve_in_batches_whatever_the_sheet_wrote() {
    // 150 hires, their phones written three ways; 201-555-01xx are fictional US numbers.
    let users: Vec<_> = (0..150)
        .map(|i| by_phone(8_000_000 + i, &format!("+1201555{:04}", 100 + i)))
        .collect();
    let running = RunningSandbox::start(sample_seed(users));
    let site = Site::new();
    let mut sheet = String::from("First Name,Last Name,Mobile,Employee Type,Start Date\n");
    for i in 0..150u64 {
        let n = 100 + i;
        let phone = match i % 3 {
            0 => format!("(201) 555-{n:04}"),
            1 => format!("+1 201 555 {n:04}"),
            _ => format!("201.555.{n:04}"),
        };
        sheet += &format!("Ada,Row{i},{phone},intern,2029-01-04\n");
    }
    let sheet = site.file("hires.csv", &sheet);
    let ran = site
        .ct(&running, "plan", &sheet)
        .args(["--today", TODAY, "--default-country", "us"])
        .expect(0);
    ran.says("users:        150");
    let users = site.latest_users();
    assert_eq!(users.len(), 150);
    for (i, user) in users.iter().enumerate() {
        assert_eq!(&user["user_id"], (8_000_000 + i as u64).to_string());
        assert_eq!(&user["identifier"], format!("+1201555{:04}", 100 + i));
    }
    let lookups = running.sandbox.snapshot().count("GET /users/v1/users");
    assert_eq!(
        lookups, 4,
        "two batches of 100 phones, each ended by its empty page"
    );
}

#[test]
fn an_impossible_phone_is_refused_with_its_cell_and_one_without_a_code_asks_for_the_country() {
    let site = Site::new();
    let sheet = site.file(
        "hires.csv",
        "Phone,Employee Type\n\
         +1 555 000 0000,intern\n\
         201 555 0123,intern\n\
         +44 20 7946 0958,intern\n",
    );
    let ran = crate::util::TestCommand::ct()
        .arg("check")
        .arg(&sheet)
        .args(["--today", TODAY])
        .expect(2);
    ran.says(r#"row 2, column "Phone" (A): "+1 555 000 0000" is not a valid phone number for country code +1"#);
    ran.says(r#"row 3, column "Phone" (A): "201 555 0123" has no country code"#);
    ran.says("set default_country");
    assert!(
        !ran.text().contains("row 4"),
        "a number with its code is fine"
    );
    // With the country given, the national number is read.
    crate::util::TestCommand::ct()
        .arg("check")
        .arg(&sheet)
        .args(["--today", TODAY, "--default-country", "US"])
        .expect(2)
        .says("row 2,");
    let ran = crate::util::TestCommand::ct()
        .arg("check")
        .arg(&sheet)
        .args(["--today", TODAY, "--default-country", "Narnia"])
        .expect(2);
    ran.says(r#""Narnia" is not a country code"#);
}

#[test]
fn the_sandbox_takes_phones_as_the_document_writes_them() {
    let running = RunningSandbox::start(sample_seed(vec![by_phone(8_000_001, "+12015550100")]));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let get = |query: &str| {
        let url = format!("{}/users/v1/users?{query}", running.sandbox.url());
        runtime.block_on(async {
            let r = reqwest::Client::new()
                .get(url)
                .header("X-API-KEY", "k")
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (status, body) = get("phoneNumbers=%2B12015550100");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("8000001"), "{body}");
    let (status, body) = get("phoneNumbers=%2B12015550100,%2B12015550101");
    assert_eq!(
        status, 422,
        "a comma list is not the document's form: {body}"
    );
    let (status, _) = get("phoneNumbers=2015550100");
    assert_eq!(status, 422, "no + and country code");
}

/// `n` new hires, none in Connecteam: names, a US mobile, an email, interns.
fn new_hires(site: &Site, n: u64) -> std::path::PathBuf {
    let mut sheet = String::from("First Name,Last Name,Mobile,Email,Employee Type,Start Date\n");
    for i in 0..n {
        sheet += &format!(
            "Ada,Newhire{i},+1 201 555 {:04},ada{i}@newco.example,intern,2029-01-04\n",
            1000 + i
        );
    }
    site.file("hires.csv", &sheet)
}

fn created_count(running: &RunningSandbox) -> u64 {
    running.sandbox.snapshot().users_created
}

#[test]
fn forty_people_not_in_connecteam_are_created_once_in_two_requests_and_onboarded() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let site = Site::new();
    let sheet = new_hires(&site, 40);
    // Without the flag: every row refused, the message naming it.
    let ran = site
        .ct(&running, "plan", &sheet)
        .args(["--today", TODAY])
        .expect(2);
    ran.says("row 2, column \"Email\" (D): no Connecteam user has the email ada0@newco.example (--create-missing creates people who are not in Connecteam yet)");
    // The plan says who would be created, and how.
    let ran = site
        .ct(&running, "plan", &sheet)
        .args(["--today", TODAY, "--create-missing"])
        .expect(0);
    ran.says("new people:   40 to create in Connecteam (2 requests of up to 25), activation SMS not sent");
    ran.says("2 to create people");
    assert!(
        site.latest_users()
            .iter()
            .all(|u| &u["user_action"] == "create")
    );
    assert_eq!(created_count(&running), 0, "a plan creates no one");
    let summary = crate::util::read_summary(&site.latest());
    assert_eq!(summary["users_to_create"], 40);
    // The run creates them, 25 and 15, then assigns what the manifest says.
    site.ct(&running, "run", &sheet)
        .args(["--today", TODAY, "--create-missing"])
        .expect(0);
    let snapshot = running.sandbox.snapshot();
    assert_eq!(snapshot.users_created, 40);
    assert_eq!(snapshot.count("POST /users/v1/users"), 2);
    assert_eq!(snapshot.activation_sms, 0, "no SMS unless asked");
    let users = site.latest_users();
    assert!(
        users.iter().all(|u| &u["user_action"] == "created"),
        "{users:?}"
    );
    assert!(
        users.iter().all(|u| &u["outcome"] == "succeeded"),
        "{users:?}"
    );
    let ids: std::collections::BTreeSet<&str> = users.iter().map(|u| &u["user_id"]).collect();
    assert_eq!(ids.len(), 40, "forty new user IDs");
    assert_eq!(
        snapshot
            .pay_rule_assignments
            .iter()
            .filter(|a| a.user_id >= 20_000_000)
            .count(),
        40,
        "every new person has their pay rule"
    );
    let summary = crate::util::read_summary(&site.latest());
    assert_eq!(summary["users_created"], 40);
    // An estimate, never short (the quota check relies on it): the creations and the
    // reads after them are in it.
    let (planned, sent) = (
        summary["requests_planned"].as_u64().unwrap(),
        summary["requests_sent"].as_u64().unwrap(),
    );
    assert!(
        planned >= sent && planned <= sent + sent / 10,
        "planned {planned}, sent {sent}: {:?}",
        snapshot.requests
    );
    // Run again: they exist now; nobody is created twice, nothing is sent again.
    site.ct(&running, "run", &sheet)
        .args(["--today", TODAY, "--create-missing"])
        .expect(0);
    let again = running.sandbox.snapshot();
    assert_eq!(again.users_created, 40);
    assert_eq!(again.count("POST /users/v1/users"), 2);
    assert_eq!(again.writes(), snapshot.writes());
    let users = site.latest_users();
    assert!(users.iter().all(|u| &u["user_action"] == "existing"));
    // verify checks the people it created by name and phone; a name changed in the app
    // shows.
    site.ct(&running, "verify", &sheet)
        .args(["--today", TODAY])
        .expect(0)
        .says("40 people ct-onboard created are in the account with the sheet's names and phones.");
    let renamed: u64 = users[3]["user_id"].parse().unwrap();
    running.sandbox.hold_user(ct_onboard::sandbox::SeedUser {
        id: renamed,
        email: Some("ada3@newco.example".into()),
        first_name: "Ada".into(),
        last_name: "Oldname".into(),
        archived: false,
        phone: Some("+12015551003".into()),
    });
    site.ct(&running, "verify", &sheet)
        .args(["--today", TODAY])
        .expect(1)
        .says(&format!("row 5 (user {renamed}): created by ct-onboard, the account shows last name \"Oldname\" (the sheet: \"Newhire3\")"))
        .says("1 of 40 people ct-onboard created differ");
}

#[test]
fn a_creation_applied_then_dropped_is_looked_up_and_never_sent_twice() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    running.sandbox.set_faults(ct_onboard::sandbox::Faults {
        create_drops_after_applying: 1,
        ..Default::default()
    });
    let site = Site::new();
    let sheet = new_hires(&site, 30);
    site.ct(&running, "run", &sheet)
        .args(["--today", TODAY, "--create-missing", "--send-activation"])
        .expect(0);
    let snapshot = running.sandbox.snapshot();
    assert_eq!(snapshot.users_created, 30, "each person once");
    assert_eq!(
        snapshot.count("POST /users/v1/users"),
        2,
        "the dropped batch was found by phone, not sent again"
    );
    assert_eq!(snapshot.activation_sms, 30);
    let users = site.latest_users();
    assert!(
        users.iter().all(|u| &u["user_action"] == "created"),
        "{users:?}"
    );
    assert!(
        users.iter().all(|u| &u["outcome"] == "succeeded"),
        "{users:?}"
    );
}

#[test]
fn a_refused_batch_is_narrowed_to_the_person_at_fault_and_the_rest_are_created() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    running.sandbox.set_faults(ct_onboard::sandbox::Faults {
        refuse_phones: vec!["+12015551013".into()],
        ..Default::default()
    });
    let site = Site::new();
    let sheet = new_hires(&site, 25);
    let ran = site
        .ct(&running, "run", &sheet)
        .args(["--today", TODAY, "--create-missing"])
        .expect(1);
    let snapshot = running.sandbox.snapshot();
    assert_eq!(snapshot.users_created, 24);
    let posts = snapshot.count("POST /users/v1/users");
    // 25 → 12 | 13 → 6 | 7 → 3 | 4 → 2 | 2 → 1 | 1: the refused ones, plus their halves.
    assert!(posts <= 2 * 5 + 1, "bounded narrowing, {posts} requests");
    let users = site.latest_users();
    let failed: Vec<_> = users
        .iter()
        .filter(|u| &u["user_action"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{users:?}");
    assert_eq!(&failed[0]["row"], "15");
    assert_eq!(&failed[0]["outcome"], "failed");
    assert!(
        failed[0]["error"].contains("The phone number +12015551013 is not supported"),
        "the API's message: {:?}",
        failed[0]
    );
    ran.says("failed");
    // failed.csv holds the one row, to fix and feed back.
    let again = crate::util::read_records(&site.latest().join("failed.csv"));
    assert_eq!(again.len(), 1);
    // The page has a section for the new people, the refused one with its message.
    let page = std::fs::read_to_string(site.latest().join("report.html")).unwrap();
    let html = scraper::Html::parse_document(&page);
    let rows = |css: &str| {
        html.select(&scraper::Selector::parse(css).unwrap())
            .map(|r| r.text().collect::<String>())
            .collect::<Vec<_>>()
    };
    assert_eq!(rows("#new-people tbody tr.person-created").len(), 24);
    let failed = rows("#new-people tbody tr.person-failed");
    assert_eq!(failed.len(), 1);
    assert!(failed[0].contains("Ada Newhire13"), "{failed:?}");
    assert!(failed[0].contains("is not supported"), "{failed:?}");
}

#[test]
fn a_person_begun_in_a_killed_run_is_looked_up_before_anything_is_sent() {
    // A run that journaled "creating" and was killed before it heard the answer: the
    // account made the person. The next run finds them by phone and creates no one.
    let running = RunningSandbox::start(sample_seed(vec![]));
    let site = Site::new();
    let sheet = new_hires(&site, 3);
    let journal = ct_onboard::journal::Journal::open(&site.state()).unwrap();
    let base = running.sandbox.url();
    for i in 0..3 {
        journal
            .set_person(
                &base,
                &format!("+1201555{:04}", 1000 + i),
                &ct_onboard::journal::PersonState::Creating,
                "killed-run",
            )
            .unwrap();
    }
    drop(journal);
    // What the killed run's request did: one of the three was made.
    running.sandbox.hold_user(ct_onboard::sandbox::SeedUser {
        email: Some("ada1@newco.example".into()),
        ..by_phone(20_000_500, "+12015551001")
    });
    // And one the account shows by phone only (the email did not take): ours all the same.
    running.sandbox.hold_user(ct_onboard::sandbox::SeedUser {
        first_name: "Ada".into(),
        last_name: "Newhire2".into(),
        ..by_phone(20_000_501, "+12015551002")
    });
    // At once, the third (not found) may yet show: a new person is not made twice.
    site.ct(&running, "run", &sheet)
        .args(["--today", TODAY, "--create-missing"])
        .expect(1)
        .says("1 unverified");
    assert_eq!(running.sandbox.snapshot().users_created, 0);
    // An hour on, not found is believed.
    site.ct(&running, "run", &sheet)
        .args(["--today", TODAY, "--create-missing"])
        .env("CT_ONBOARD_NOW", crate::util::hours_later(2))
        .expect(0);
    let users = site.latest_users();
    assert_eq!(&users[2]["user_action"], "existing", "{:?}", users[2]);
    assert_eq!(&users[2]["user_id"], "20000501");
    assert_eq!(
        &users[1]["user_action"], "existing",
        "found in the plan's lookups"
    );
    assert_eq!(&users[1]["user_id"], "20000500");
    assert_eq!(
        running.sandbox.snapshot().users_created,
        1,
        "only the one not made"
    );
}

#[test]
fn creating_needs_names_and_a_phone_not_already_someone_elses() {
    let running = RunningSandbox::start(sample_seed(vec![by_phone(8_000_001, "+12015550100")]));
    let site = Site::new();
    let sheet = site.file(
        "hires.csv",
        "First Name,Last Name,Mobile,Email,Employee Type\n\
         Ada,,+1 201 555 0101,ada@newco.example,intern\n\
         Bo,Lee,+1 201 555 0100,bo@newco.example,intern\n\
         Cy,Ng,+1 201 555 0102,cy@newco.example,intern\n\
         Di,Ng,+1 201 555 0102,di@newco.example,intern\n",
    );
    let ran = site
        .ct(&running, "plan", &sheet)
        .args(["--today", TODAY, "--create-missing"])
        .expect(2);
    ran.says("row 2, column \"Email\" (D): no Connecteam user has the email ada@newco.example, and creating the person needs a first_name, last_name and phone: the row has no last_name");
    ran.says("row 3, column \"Email\" (D): no Connecteam user has the email bo@newco.example, but the phone +12015550100 is user 8000001's");
    ran.says(
        "row 5, column \"Mobile\" (C): the phone +12015550102 is also on row 4, to be created",
    );
    assert!(!ran.text().contains("row 4, column"), "{}", ran.text());
}

/// The sample account with three custom fields: a dropdown, a date and a number.
fn seed_with_fields() -> ct_onboard::sandbox::Seed {
    let mut seed = sample_seed(vec![]);
    seed.custom_fields = serde_json::from_value(serde_json::json!([
        {"id": 31, "name": "Department", "dropdownOptions": [
            {"id": 1, "value": "Kitchen"}, {"id": 2, "value": "Front of house"},
            {"id": 3, "value": "Bar", "isDisabled": true}]},
        {"id": 32, "name": "Contract start", "type": "date"},
        {"id": 33, "name": "Badge", "type": "number"},
        {"id": 34, "name": "Employment", "type": "str"}
    ]))
    .unwrap();
    seed
}

const FIELDS_MANIFEST: &str = "\
user_fields:
  Department: {column: Dept}
  Employment: {value: Permanent}
employee_types:
  intern:
    time_off:
      - policy_id: pol-sick-001
        balance: 3
        unit: days
    user_fields:
      Contract start: {column: Start Date}
      Badge: {column: Badge}
";

#[test]
fn custom_fields_are_checked_against_the_account_and_set_on_the_people_created() {
    let running = RunningSandbox::start(seed_with_fields());
    let site = Site::new();
    let manifest = site.file("manifest.yaml", FIELDS_MANIFEST);
    let bad = site.file(
        "bad.csv",
        "First Name,Last Name,Mobile,Employee Type,Start Date,Dept,Badge\n\
         Ada,One,+1 201 555 2001,intern,2029-01-04,Kitchen,17\n\
         Bo,Two,+1 201 555 2002,intern,2029-01-04,Bar,x9\n",
    );
    let ran = site
        .ct(&running, "plan", &bad)
        .arg("--manifest")
        .arg(&manifest)
        .args(["--today", TODAY, "--create-missing"])
        .expect(2);
    ran.says(r#"row 3, column "Dept" (F): custom field "Department": "Bar" is not one of its options (Kitchen, Front of house)"#);
    ran.says(r#"row 3, column "Badge" (G): custom field "Badge": "x9" is not a number"#);
    assert!(!ran.text().contains("row 2,"), "{}", ran.text());
    let good = site.file(
        "good.csv",
        "First Name,Last Name,Mobile,Employee Type,Start Date,Dept,Badge\n\
         Ada,One,+1 201 555 2001,intern,2029-01-04,front of HOUSE,17\n\
         Bo,Two,+1 201 555 2002,intern,2029-01-04,,\n",
    );
    site.ct(&running, "run", &good)
        .arg("--manifest")
        .arg(&manifest)
        .args(["--today", TODAY, "--create-missing"])
        .expect(0);
    let users = site.latest_users();
    let ada: u64 = users[0]["user_id"].parse().unwrap();
    let bo: u64 = users[1]["user_id"].parse().unwrap();
    let shown = |id| {
        running
            .sandbox
            .field_values(id)
            .into_iter()
            .map(|f| (f["customFieldId"].as_u64().unwrap(), f["value"].clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .collect::<Vec<_>>()
    };
    use serde_json::json;
    assert_eq!(
        shown(ada),
        vec![
            (31, json!([{"id": 2}])),
            (32, json!("2029-01-04")),
            (33, json!(17.0)),
            (34, json!("Permanent")),
        ]
    );
    assert_eq!(
        shown(bo),
        vec![(32, json!("2029-01-04")), (34, json!("Permanent"))],
        "an empty cell sets nothing"
    );
    // A field the account does not have is the manifest's error, with its line.
    let unknown = site.file(
        "unknown.yaml",
        &FIELDS_MANIFEST.replace("Badge: {column: Badge}", "Shoe size: {value: 9}"),
    );
    let third = site.file(
        "third.csv",
        "First Name,Last Name,Mobile,Employee Type,Start Date,Dept,Badge\n\
         Cy,Three,+1 201 555 2003,intern,2029-01-04,Kitchen,\n",
    );
    let ran = site
        .ct(&running, "plan", &third)
        .arg("--manifest")
        .arg(&unknown)
        .args(["--today", TODAY, "--create-missing"])
        .expect(2);
    ran.says("unknown.yaml: line 12");
    ran.says(r#"this account has no custom field "Shoe size"; it has: Department, Contract start, Badge, Employment"#);
}

#[test]
fn a_rehearsal_creates_the_people_the_sheet_names_by_email_or_phone() {
    let site = Site::new();
    let sheet = new_hires(&site, 30);
    crate::util::TestCommand::ct()
        .arg("run")
        .arg(&sheet)
        .args([
            "--sandbox",
            "--create-missing",
            "--today",
            TODAY,
            "--no-progress",
        ])
        .args(["--rate-per-minute", "1000000", "--report-dir"])
        .arg(site.reports())
        .expect(0)
        .says("30 users: 30 succeeded");
    let users = site.latest_users();
    assert!(
        users.iter().all(|u| &u["user_action"] == "created"),
        "{users:?}"
    );
    let summary = crate::util::read_summary(&site.latest());
    assert_eq!(summary["rehearsal"], true);
    assert_eq!(summary["users_created"], 30);
}

#[test]
fn a_canary_creates_only_the_people_it_onboards() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    let site = Site::new();
    let sheet = new_hires(&site, 30);
    site.ct(&running, "run", &sheet)
        .args(["--today", TODAY, "--create-missing", "--limit", "5"])
        .run();
    assert_eq!(created_count(&running), 5, "--limit 5 creates five people");
    let users = site.latest_users();
    let created = users
        .iter()
        .filter(|u| &u["user_action"] == "created")
        .count();
    assert_eq!(created, 5);
    let left: Vec<_> = users
        .iter()
        .filter(|u| &u["user_action"] == "create")
        .collect();
    assert_eq!(left.len(), 25);
    assert!(
        left.iter().all(|u| &u["outcome"] == "not_attempted"),
        "{left:?}"
    );
    assert!(left[0]["error"].contains("--limit"), "{:?}", left[0]);
}

#[test]
fn a_creation_without_an_answer_is_not_sent_again_until_a_later_run_looks_first() {
    let running = RunningSandbox::start(sample_seed(vec![]));
    // The server takes longer than the client waits: no answer at all.
    running
        .sandbox
        .stall(ct_onboard::api::endpoint::Endpoint::CreateUsers);
    let site = Site::new();
    let sheet = new_hires(&site, 3);
    let ran = site
        .ct(&running, "run", &sheet)
        .args([
            "--today",
            TODAY,
            "--create-missing",
            "--request-timeout-secs",
            "1",
        ])
        .run();
    let snapshot = running.sandbox.snapshot();
    assert_eq!(
        snapshot.count("POST /users/v1/users"),
        1,
        "sent once: {}",
        ran.text()
    );
    // Not a success a cron job could miss: exit 1, and the rows in failed.csv.
    ran.expect(1);
    let users = site.latest_users();
    assert!(
        users.iter().all(|u| &u["user_action"] == "create"),
        "{users:?}"
    );
    assert!(
        users.iter().all(|u| &u["outcome"] == "unverified"),
        "{users:?}"
    );
    let failed = std::fs::read_to_string(site.latest().join("failed.csv")).unwrap();
    assert_eq!(failed.lines().count(), 1 + 3, "{failed}");
    assert!(
        users[0]["error"].contains("may have been created"),
        "{:?}",
        users[0]
    );
    // A later run looks the phones up first (nobody), then, an hour on (a new person
    // can take a while to show), creates them, once.
    running.sandbox.release();
    site.ct(&running, "run", &sheet)
        .args(["--today", TODAY, "--create-missing"])
        .env("CT_ONBOARD_NOW", crate::util::hours_later(2))
        .expect(0);
    let snapshot = running.sandbox.snapshot();
    assert_eq!(snapshot.users_created, 3);
    assert_eq!(snapshot.count("POST /users/v1/users"), 2);
}

#[test]
fn a_custom_field_or_option_the_account_names_twice_is_refused_not_guessed() {
    let mut seed = sample_seed(vec![]);
    seed.custom_fields = serde_json::from_value(serde_json::json!([
        {"id": 41, "name": "Team", "type": "str"},
        {"id": 42, "name": "team", "type": "str"},
        {"id": 43, "name": "Site", "dropdownOptions": [{"id": 1, "value": "North"}, {"id": 2, "value": "north"}]}
    ]))
    .unwrap();
    let running = RunningSandbox::start(seed);
    let site = Site::new();
    let sheet = site.file(
        "h.csv",
        "First Name,Last Name,Mobile,Employee Type,Site\nAda,One,+1 201 555 2001,intern,North\n",
    );
    let manifest = |fields: &str| {
        site.file(
            "m.yaml",
            &format!("user_fields:\n{fields}employee_types:\n  intern:\n    time_off:\n      - policy_id: pol-sick-001\n"),
        )
    };
    site.ct(&running, "plan", &sheet)
        .arg("--manifest")
        .arg(manifest("  Team: {value: A}\n"))
        .args(["--today", TODAY, "--create-missing"])
        .expect(2)
        .says(
            "this account has 2 custom fields named \"Team\": ct-onboard cannot tell which to set",
        );
    site.ct(&running, "plan", &sheet)
        .arg("--manifest")
        .arg(manifest("  Site: {column: Site}\n"))
        .args(["--today", TODAY, "--create-missing"])
        .expect(2)
        .says("custom field \"Site\": \"North\" is 2 of its options: ct-onboard cannot tell which");
    assert_eq!(running.sandbox.snapshot().users_created, 0);
}
