use jiff::civil::date;

use super::*;
use crate::input::{ColumnMapping, parse_delimited};
use crate::manifest::PolicyRef;
use crate::manifest::manifest_from_yaml;

const MANIFEST: &str = "employee_types:
  full-time:
    time_off:
      - policy_id: vac
        balance: 15
        unit: days
      - policy_name: Sick
    pay_rule:
      policy_id: 12346
      effective_date: start_date
  intern:
    pay_rule:
      policy_id: 12345
      effective_date: 2027-06-01
  contractor:
";

fn options() -> PlanOptions {
    PlanOptions {
        today: date(2026, 11, 23),
        allow_retroactive: false,
        date_format: None,
        default_country: None,
    }
}

fn plan_of(sheet_text: &str, manifest: &str, options: &PlanOptions) -> Plan {
    let sheet = parse_delimited("h.csv", sheet_text).unwrap();
    let columns = Columns::find("h.csv", &sheet.headers, &ColumnMapping::default()).unwrap();
    let manifest = manifest_from_yaml("m.yaml", manifest).unwrap();
    plan(&sheet, &columns, &manifest, options)
}

fn row_messages(plan: &Plan) -> Vec<String> {
    plan.rows
        .iter()
        .flat_map(|r| &r.problems)
        .map(ToString::to_string)
        .collect()
}

#[test]
fn each_row_gets_its_types_assignments_in_manifest_order() {
    let plan = plan_of(
        "user_id,email,employee_type,start_date\n11,,Full-Time,2027-01-04\n,b@x.io,intern,\n12,,contractor,\n",
        MANIFEST,
        &options(),
    );
    assert!(
        plan.problems.is_empty() && row_messages(&plan).is_empty(),
        "{:?}",
        row_messages(&plan)
    );
    let first = &plan.rows[0];
    assert_eq!(first.identity, Some(Identity::UserId(11)));
    assert_eq!(first.number, 2);
    let kinds: Vec<&str> = first
        .assignments
        .iter()
        .map(|a| a.kind().as_str())
        .collect();
    assert_eq!(kinds, ["time_off", "time_off", "pay_rule"]);
    assert_eq!(
        first.assignments[2],
        Assignment::PayRule {
            policy: PolicyRef {
                id: Some(12346),
                name: None
            },
            effective_date: date(2027, 1, 4)
        }
    );
    assert_eq!(
        plan.rows[1].identity,
        Some(Identity::Email("b@x.io".into()))
    );
    assert_eq!(
        plan.rows[1].assignments,
        [Assignment::PayRule {
            policy: PolicyRef {
                id: Some(12345),
                name: None
            },
            effective_date: date(2027, 6, 1)
        }]
    );
    assert!(
        plan.rows[2].assignments.is_empty(),
        "a type with nothing to assign plans nothing"
    );
    assert_eq!(plan.assignment_count(), 4);
}

#[test]
fn unknown_types_and_missing_identities_name_their_cells() {
    let plan = plan_of(
        "user_id,email,employee_type,start_date\n11,,seasonal,2027-01-04\n,,intern,\n13,,,\n",
        MANIFEST,
        &options(),
    );
    assert_eq!(
        row_messages(&plan),
        [
            "h.csv: row 2, column \"employee_type\" (C): unknown employee type \"seasonal\"; the manifest has: contractor, full-time, intern",
            "h.csv: row 3: no user_id, email or phone: the row does not say who to onboard",
            "h.csv: row 4, column \"employee_type\" (C): employee_type is empty",
        ]
    );
    assert_eq!(plan.rows[0].problems[0].sheet_row, Some(2));
}

#[test]
fn duplicate_users_point_at_the_first_row() {
    let plan = plan_of(
        "user_id,email,employee_type\n11,,intern\n11.0,,intern\n,A@x.io,intern\n,a@x.io ,intern\n",
        MANIFEST,
        &options(),
    );
    assert_eq!(
        row_messages(&plan),
        [
            "h.csv: row 3, column \"user_id\" (A): 11 is already on row 2: each user may appear once",
            "h.csv: row 5, column \"email\" (B): a@x.io is already on row 4: each user may appear once",
        ]
    );
}

#[test]
fn retroactive_dates_are_refused_unless_allowed() {
    let sheet =
        "user_id,employee_type,start_date\n11,full-time,2026-11-22\n12,full-time,2026-11-23\n";
    let plan = plan_of(sheet, MANIFEST, &options());
    let messages = row_messages(&plan);
    assert_eq!(
        messages.len(),
        1,
        "today itself is not retroactive: {messages:?}"
    );
    assert!(messages[0].starts_with("h.csv: row 2, column \"start_date\" (C): effective date 2026-11-22 is before today (2026-11-23)"));
    assert!(messages[0].contains("--allow-retroactive"));

    let allowed = PlanOptions {
        allow_retroactive: true,
        ..options()
    };
    assert!(row_messages(&plan_of(sheet, MANIFEST, &allowed)).is_empty());
}

#[test]
fn a_retroactive_fixed_date_is_one_manifest_problem() {
    let plan = plan_of(
        "user_id,employee_type,start_date\n11,intern,\n12,intern,\n",
        MANIFEST,
        &PlanOptions {
            today: date(2027, 7, 1),
            ..options()
        },
    );
    assert_eq!(plan.problems.len(), 1);
    assert!(
        plan.problems[0]
            .to_string()
            .starts_with("m.yaml: line 13, column 7: effective date 2027-06-01 is before today")
    );
    assert!(row_messages(&plan).is_empty());
}

#[test]
fn bad_empty_and_ambiguous_effective_dates() {
    let plan = plan_of(
        "user_id,employee_type,Start Date\n11,full-time,01/02/2027\n12,full-time,\n13,full-time,2027-02-30\n",
        MANIFEST,
        &options(),
    );
    let messages = row_messages(&plan);
    assert_eq!(messages.len(), 3);
    assert!(
        messages[0]
            .starts_with("h.csv: row 2, column \"Start Date\" (C): \"01/02/2027\" is ambiguous"),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with(
            "h.csv: row 3, column \"Start Date\" (C): empty, but the pay rule for \"full-time\""
        ),
        "{messages:?}"
    );
    assert!(messages[2].contains("not a real date"), "{messages:?}");
}

#[test]
fn configured_date_format_reads_day_first_dates() {
    let options = PlanOptions {
        date_format: Some("%d/%m/%Y".into()),
        ..options()
    };
    let plan = plan_of(
        "user_id,employee_type,start_date\n11,full-time,01/02/2027\n",
        MANIFEST,
        &options,
    );
    assert!(row_messages(&plan).is_empty());
    assert!(plan.rows[0].assignments.contains(&Assignment::PayRule {
        policy: PolicyRef {
            id: Some(12346),
            name: None
        },
        effective_date: date(2027, 2, 1)
    }));
}

#[test]
fn a_date_column_the_sheet_lacks_is_one_problem() {
    let plan = plan_of(
        "user_id,employee_type\n11,full-time\n12,full-time\n",
        MANIFEST,
        &options(),
    );
    assert_eq!(plan.problems.len(), 1);
    assert!(
        plan.problems[0]
            .message
            .contains("column \"start_date\", which h.csv does not have")
    );
}

#[test]
fn an_effective_date_past_what_can_be_read_back_is_refused() {
    let sheet =
        "user_id,employee_type,start_date\n11,full-time,9999-12-31\n12,full-time,2999-12-31\n";
    let messages = row_messages(&plan_of(sheet, MANIFEST, &options()));
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with(
            "h.csv: row 2, column \"start_date\" (C): effective date 9999-12-31 is after 2999-12-31"
        ),
        "{messages:?}"
    );
}

const PRORATED: &str = "employee_types:
  full-time:
    time_off:
      - policy_id: vac
        balance: 15
        unit: days
        prorate: start_date
  april:
    time_off:
      - policy_id: vac
        balance: 15
        unit: days
        prorate: start_date
        year_starts: \"04-01\"
  hourly:
    time_off:
      - policy_id: vac
        balance: {column: PTO Hours, default: 8}
        unit: hours
";

/// Each row's time-off balance and how it was worked out.
fn balances(plan: &Plan) -> Vec<(String, String)> {
    plan.rows
        .iter()
        .map(|r| {
            let amount = match r.assignments.first() {
                Some(Assignment::TimeOff {
                    balance: Some(b), ..
                }) => b.amount.normalize().to_string(),
                _ => "-".into(),
            };
            let basis = r.bases.first().map(|(_, b)| b.clone()).unwrap_or_default();
            (amount, basis)
        })
        .collect()
}

#[test]
fn prorated_balances_match_the_figures_worked_by_hand() {
    // 2027: 365 days. 2028: a leap year, 366. An April year 2027-04-01..2028-03-31 holds
    // 29 February 2028: 366 days.
    let plan = plan_of(
        "user_id,employee_type,start_date,PTO Hours\n\
         1,full-time,2027-01-01,\n\
         2,full-time,2027-07-01,\n\
         3,full-time,2027-12-31,\n\
         4,full-time,2028-03-01,\n\
         5,april,2027-10-01,\n\
         6,april,2028-03-31,\n\
         7,april,2027-03-31,\n\
         8,full-time,2020-06-01,\n",
        PRORATED,
        &options(),
    );
    assert_eq!(row_messages(&plan), Vec::<String>::new());
    let worked = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        balances(&plan),
        [
            // The first day: all of it.
            worked("15", "15 days × 365/365 = 15"),
            // Mid-year: 184 days left (1 July to 31 December), 7.56 rounded down.
            worked("7.5", "15 days × 184/365 = 7.5"),
            // The last day: one day of 365 is 0.04, rounded down to 0.
            worked("0", "15 days × 1/365 = 0"),
            // A leap year: 306 of 366 days left from 1 March 2028: 12.54.
            worked("12.5", "15 days × 306/366 = 12.5"),
            // A year from April: 1 October 2027 leaves 183 of 366 days: 7.5 exactly.
            worked("7.5", "15 days × 183/366 = 7.5"),
            // Its last day.
            worked("0", "15 days × 1/366 = 0"),
            // The day before April: the last day of the year that began in April 2026.
            worked("0", "15 days × 1/365 = 0"),
            // Years back (2020, a leap year): prorated to that year, and said so.
            worked(
                "8.5",
                "15 days × 214/366 = 8.5 (the policy year of 2020-06-01, over before today)"
            ),
        ]
    );
}

#[test]
fn a_balance_from_a_column_takes_its_default_for_an_empty_cell_and_refuses_what_is_not_one() {
    let plan = plan_of(
        "user_id,employee_type,PTO Hours\n1,hourly,37.5\n2,hourly,\n3,hourly,-4\n4,hourly,lots\n5,hourly,1e2\n6,hourly,1_000\n7,hourly,.5\n",
        PRORATED,
        &options(),
    );
    let got = balances(&plan);
    assert_eq!(got[0], ("37.5".into(), "37.5 hours".into()));
    assert_eq!(got[1], ("8".into(), "8 hours".into()), "the default");
    assert_eq!(got.last().unwrap().0, "0.5", "\".5\" is half an hour");
    assert_eq!(
        row_messages(&plan),
        [
            "h.csv: row 4, column \"PTO Hours\" (C): \"-4\" is not a balance (a number of at least 0)",
            "h.csv: row 5, column \"PTO Hours\" (C): \"lots\" is not a balance (a number of at least 0)",
            "h.csv: row 6, column \"PTO Hours\" (C): \"1e2\" is not a balance (a number of at least 0)",
            "h.csv: row 7, column \"PTO Hours\" (C): \"1_000\" is not a balance (a number of at least 0)",
        ]
    );
    let no_default = PRORATED.replace("{column: PTO Hours, default: 8}", "{column: PTO Hours}");
    let plan = plan_of(
        "user_id,employee_type,PTO Hours\n2,hourly,\n",
        &no_default,
        &options(),
    );
    assert_eq!(
        row_messages(&plan),
        [
            "h.csv: row 2, column \"PTO Hours\" (C): the balance is empty and the manifest gives no default"
        ]
    );
    let plan = plan_of("user_id,employee_type\n2,hourly\n", PRORATED, &options());
    assert_eq!(
        plan.problems[0].to_string(),
        "m.yaml: line 17, column 9: the balance is taken from column \"PTO Hours\", which h.csv does not have"
    );
}
