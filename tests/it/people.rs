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
