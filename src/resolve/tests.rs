use jiff::civil::date;

use super::*;
use crate::api::model::{PackInfo, TimeOffPolicyInfo};
use crate::input::{ColumnMapping, parse_delimited};
use crate::manifest::manifest_from_yaml;
use crate::plan::{PlanOptions, plan};

fn directory() -> Directory {
    let policy = |id: &str, name: &str, unit: &str| TimeOffPolicyInfo {
        id: id.into(),
        name: name.into(),
        unit: Some(unit.into()),
        accrual_type: None,
    };
    Directory {
        company: Company::default(),
        policy_types: vec![
            PolicyType {
                id: "pt-vac".into(),
                name: "Vacation".into(),
                policies: vec![
                    policy("vac-ft", "Vacation - Full-time", "days"),
                    policy("vac-pt", "Vacation - Part-time", "hours"),
                ],
            },
            PolicyType {
                id: "pt-sick".into(),
                name: "Sick".into(),
                policies: vec![policy("sick", "Sick Leave", "days")],
            },
            PolicyType {
                id: "pt-other".into(),
                name: "Other".into(),
                policies: vec![policy("dup-1", "Twin", "days")],
            },
            PolicyType {
                id: "pt-more".into(),
                name: "More".into(),
                policies: vec![policy("dup-2", "twin", "days")],
            },
        ],
        pay_rule_policies: vec![
            PayRulePolicyInfo {
                id: 12345,
                name: "Standard Hourly".into(),
            },
            PayRulePolicyInfo {
                id: 12346,
                name: "Overtime Eligible".into(),
            },
        ],
        packs: [
            (501, "New hire essentials"),
            (502, "Safety"),
            (503, "safety"),
        ]
        .into_iter()
        .map(|(id, name)| PackInfo {
            id,
            name: name.into(),
            is_default: false,
            description: None,
        })
        .collect(),
    }
}

fn resolve(yaml: &str) -> Resolved {
    resolve_manifest(&manifest_from_yaml("m.yaml", yaml).unwrap(), &directory())
}

fn messages(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

#[test]
fn names_and_ids_are_filled_in_from_the_account() {
    let r = resolve(
        "employee_types:\n  a:\n    time_off:\n      - policy_name: vacation - full-time\n      - policy_id: sick\n    pay_rule:\n      policy_name: Overtime Eligible\n      effective_date: 2027-01-04\n",
    );
    assert!(
        r.errors.is_empty() && r.warnings.is_empty(),
        "{:?} {:?}",
        r.errors,
        r.warnings
    );
    let a = &r.manifest.types[0];
    assert_eq!(a.time_off[0].policy.id.as_deref(), Some("vac-ft"));
    assert_eq!(
        a.time_off[0].policy.name.as_deref(),
        Some("Vacation - Full-time")
    );
    assert_eq!(a.time_off[1].policy.name.as_deref(), Some("Sick Leave"));
    assert_eq!(a.pay_rule.as_ref().unwrap().policy.id, Some(12346));
}

#[test]
fn unknown_ambiguous_and_mismatched_policies_are_errors_with_their_place() {
    let r = resolve(
        "employee_types:
  a:
    time_off:
      - policy_id: nope
      - policy_name: Nope
      - policy_name: Twin
      - policy_id: sick
        policy_name: Vacation
    pay_rule:
      policy_id: 999
      effective_date: 2027-01-04
  b:
    pay_rule:
      policy_name: Night
      effective_date: 2027-01-04
",
    );
    assert_eq!(
        messages(&r.errors),
        [
            "m.yaml: line 4, column 9: time-off policy \"nope\" does not exist in this account (`ct-onboard policies` lists them)",
            "m.yaml: line 5, column 9: no time-off policy is named \"Nope\" (`ct-onboard policies` lists them)",
            "m.yaml: line 6, column 9: 2 time-off policies are named \"Twin\" (dup-1, dup-2): use policy_id",
            "m.yaml: line 7, column 9: time-off policy \"sick\" is named \"Sick Leave\", not \"Vacation\"",
            "m.yaml: line 10, column 7: pay-rule policy 999 does not exist or is not enabled in this account (`ct-onboard policies` lists them)",
            "m.yaml: line 14, column 7: no pay-rule policy is named \"Night\" (`ct-onboard policies` lists them)",
        ]
    );
}

#[test]
fn onboarding_packs_resolve_by_id_or_name_and_unknown_ones_are_refused_with_their_line() {
    let r = resolve(
        "employee_types:
  a:
    onboarding_packs:
      - pack_name: new HIRE essentials
      - pack_id: 502
  c:
    onboarding_packs:
      - pack_name: New hire essentials
      - pack_id: 501
  b:
    onboarding_packs:
      - pack_name: Welcome
      - pack_id: 999
      - pack_name: Safety
      - pack_id: 501
        pack_name: Onboarding
",
    );
    let a = &r.manifest.types[0];
    assert_eq!(a.packs[0].pack.id, Some(501));
    assert_eq!(a.packs[0].pack.name.as_deref(), Some("New hire essentials"));
    assert_eq!(a.packs[1].pack.name.as_deref(), Some("Safety"));
    assert_eq!(
        messages(&r.errors),
        [
            "m.yaml: line 12, column 9: no onboarding pack is named \"Welcome\" (`ct-onboard policies` lists them)",
            "m.yaml: line 13, column 9: onboarding pack 999 does not exist in this account (`ct-onboard policies` lists them)",
            "m.yaml: line 14, column 9: 2 onboarding packs are named \"Safety\" (502, 503): use pack_id",
            "m.yaml: line 15, column 9: onboarding pack 501 is named \"New hire essentials\", not \"Onboarding\"",
            "m.yaml: line 9, column 9: onboarding pack 501 (\"New hire essentials\") is listed twice for \"c\" (first line 8)",
        ]
    );
}

#[test]
fn two_policies_of_one_type_for_one_employee_type_is_an_error() {
    let r = resolve(
        "employee_types:\n  a:\n    time_off:\n      - policy_id: vac-ft\n      - policy_id: vac-pt\n  b:\n    time_off:\n      - policy_id: vac-pt\n",
    );
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(r.errors[0].to_string().starts_with(
        "m.yaml: line 5, column 9: \"a\" gets both \"Vacation - Full-time\" and \"Vacation - Part-time\", two policies of the time-off type \"Vacation\""
    ));
}

#[test]
fn a_unit_other_than_the_policys_is_a_warning() {
    let r = resolve(
        "employee_types:\n  a:\n    time_off:\n      - policy_id: vac-pt\n        balance: 5\n        unit: days\n",
    );
    assert!(r.errors.is_empty());
    assert_eq!(
        messages(&r.warnings),
        [
            "m.yaml: line 4, column 9: the balance is in days but \"Vacation - Part-time\" counts hours: check that 5 days is what you mean"
        ]
    );
}

fn user(id: u64, email: &str, archived: bool) -> User {
    User {
        user_id: id,
        first_name: "F".into(),
        last_name: "L".into(),
        email: Some(email.into()),
        phone_number: format!("+1202555{:04}", id % 10_000),
        user_type: "user".into(),
        is_archived: archived,
    }
}

#[test]
fn users_resolve_by_email_and_id_to_exactly_one_active_user() {
    let sheet = parse_delimited(
        "h.csv",
        "user_id,email,employee_type\n,one@x.io,a\n,none@x.io,a\n,gone@x.io,a\n,twins@x.io,a\n7,,a\n8,,a\n99,,a\n,seven@x.io,a\n",
    )
    .unwrap();
    let columns = Columns::find("h.csv", &sheet.headers, &ColumnMapping::default()).unwrap();
    let manifest = manifest_from_yaml(
        "m.yaml",
        "employee_types:\n  a:\n    time_off:\n      - policy_id: sick\n",
    )
    .unwrap();
    let options = PlanOptions {
        today: date(2026, 11, 23),
        allow_retroactive: false,
        date_format: None,
        default_country: None,
    };
    let planned = plan(&sheet, &columns, &manifest, &options);
    let mut users = UserDirectory::default();
    for u in [
        user(1, "One@X.io", false),
        user(2, "gone@x.io", true),
        user(3, "twins@x.io", false),
        user(4, "twins@x.io", false),
        user(5, "one@x.io", true),
        user(7, "seven@x.io", false),
        user(8, "eight@x.io", true),
    ] {
        users.add(u);
    }
    let plan = resolve_users(planned, &users, &columns, "h.csv", None);
    assert_eq!(
        plan.rows[0].user_id,
        Some(1),
        "one active match; an archived namesake does not count"
    );
    assert_eq!(plan.rows[4].user_id, Some(7));
    let problems: Vec<String> = plan
        .rows
        .iter()
        .flat_map(|r| &r.problems)
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "h.csv: row 3, column \"email\" (B): no Connecteam user has the email none@x.io (--create-missing creates people who are not in Connecteam yet)",
            "h.csv: row 4, column \"email\" (B): only archived users have the email gone@x.io (IDs 2): restore the user, or give an active user's user_id",
            "h.csv: row 5, column \"email\" (B): 2 active Connecteam users have the email twins@x.io (IDs 3, 4): put the right user_id in the sheet",
            "h.csv: row 7, column \"user_id\" (A): Connecteam user 8 is archived",
            "h.csv: row 8, column \"user_id\" (A): no Connecteam user has the ID 99",
            "h.csv: row 9, column \"email\" (B): this is Connecteam user 7, already on row 6: each user may appear once",
        ]
    );
}

#[test]
fn a_user_answered_twice_differently_is_not_believed() {
    let sheet = parse_delimited("h.csv", "user_id,employee_type\n7,a\n8,a\n").unwrap();
    let columns = Columns::find("h.csv", &sheet.headers, &ColumnMapping::default()).unwrap();
    let manifest = manifest_from_yaml(
        "m.yaml",
        "employee_types:\n  a:\n    time_off:\n      - policy_id: sick\n",
    )
    .unwrap();
    let options = PlanOptions {
        today: date(2026, 11, 23),
        allow_retroactive: false,
        date_format: None,
        default_country: None,
    };
    let planned = plan(&sheet, &columns, &manifest, &options);
    let mut users = UserDirectory::default();
    // 7 comes active then archived, 8 archived then active: row order must not decide.
    for u in [
        user(7, "s@x.io", false),
        user(7, "s@x.io", true),
        user(8, "e@x.io", true),
        user(8, "e@x.io", false),
    ] {
        users.add(u);
    }
    let plan = resolve_users(planned, &users, &columns, "h.csv", None);
    for row in &plan.rows {
        assert!(!row.is_valid());
        assert!(
            row.problems[0].message.contains("twice, differently"),
            "{:?}",
            row.problems
        );
    }
}
