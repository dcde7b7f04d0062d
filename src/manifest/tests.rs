use super::*;

fn yaml(text: &str) -> Result<Manifest, Vec<Problem>> {
    manifest_from_yaml("m.yaml", text)
}

fn csv(text: &str) -> Result<Manifest, Vec<Problem>> {
    build("m.csv", csv_entries("m.csv", text)?)
}

fn messages(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

type Rules = (
    String,
    Vec<(TimeOffPolicy, Option<Balance>)>,
    Option<(PayRulePolicy, EffectiveDate)>,
);

/// The same manifest in both forms, places aside.
fn without_places(m: &Manifest) -> Vec<Rules> {
    let mut types: Vec<_> = m
        .types
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.time_off
                    .iter()
                    .map(|r| (r.policy.clone(), r.balance))
                    .collect(),
                t.pay_rule
                    .as_ref()
                    .map(|r| (r.policy.clone(), r.effective_date.clone())),
            )
        })
        .collect();
    types.sort_by(|a, b| a.0.cmp(&b.0));
    types
}

#[test]
fn shipped_yaml_and_csv_manifests_describe_the_same_mapping() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let from_yaml = read_manifest(&root.join("config/manifest.yaml")).unwrap();
    let from_csv = read_manifest(&root.join("config/manifest.csv")).unwrap();
    assert_eq!(without_places(&from_yaml), without_places(&from_csv));
    let full_time = from_yaml.employee_type("Full-Time ").unwrap();
    assert_eq!(
        full_time.time_off[0].balance,
        Some(Balance {
            amount: Decimal::new(15, 0),
            unit: Unit::Days
        })
    );
    assert_eq!(full_time.time_off[1].balance, None);
    assert_eq!(
        full_time.pay_rule.as_ref().unwrap().effective_date,
        EffectiveDate::Column("start_date".into())
    );
    let intern = from_yaml.employee_type("intern").unwrap();
    assert_eq!(
        intern.pay_rule.as_ref().unwrap().effective_date,
        EffectiveDate::Fixed(jiff::civil::date(2029, 6, 1))
    );
}

#[test]
fn balances_keep_their_exact_decimal_value() {
    let m = yaml("employee_types:\n  a:\n    time_off:\n      - policy_id: p1\n        balance: 7.50\n        unit: Hours\n").unwrap();
    let b = m.types[0].time_off[0].balance.unwrap();
    assert_eq!(b.amount.to_string(), "7.50");
    assert_eq!(b.unit, Unit::Hours);
}

#[test]
fn numeric_looking_time_off_ids_stay_text() {
    let m = yaml("employee_types:\n  a:\n    time_off:\n      - policy_id: 00123\n").unwrap();
    assert_eq!(m.types[0].time_off[0].policy.id.as_deref(), Some("00123"));
}

#[test]
fn balance_without_unit_names_the_yaml_line_and_column() {
    let problems =
        yaml("employee_types:\n  a:\n    time_off:\n      - policy_id: p1\n        balance: 15\n")
            .unwrap_err();
    assert_eq!(
        messages(&problems),
        ["m.yaml: line 5, column 18: balance without unit: add unit: hours or unit: days"]
    );
}

#[test]
fn unit_without_balance_bad_unit_and_bad_balances_are_all_reported() {
    let text = "employee_types:
  a:
    time_off:
      - policy_id: p1
        unit: days
      - policy_id: p2
        balance: 3
        unit: weeks
      - policy_id: p3
        balance: -2
        unit: days
      - policy_id: p4
        balance: lots
        unit: days
";
    let problems = messages(&yaml(text).unwrap_err());
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0].starts_with("m.yaml: line 5, column 15: unit without balance"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("m.yaml: line 8, column 15: unit \"weeks\" is not one of"),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with("m.yaml: line 10, column 18: balance \"-2\" is negative"),
        "{problems:#?}"
    );
    assert!(
        problems[3].starts_with("m.yaml: line 13, column 18: balance \"lots\" is not a number"),
        "{problems:#?}"
    );
}

#[test]
fn unknown_keys_are_refused_with_their_place() {
    let problems =
        yaml("employee_types:\n  a:\n    time_off:\n      - policy_id: p1\n        balanse: 3\n")
            .unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(
        matches!(problems[0].place, Place::Text { line: 5, .. }),
        "{problems:?}"
    );
    assert!(problems[0].message.contains("balanse"), "{problems:?}");
}

#[test]
fn pay_rule_checks() {
    let text = "employee_types:
  a:
    pay_rule:
      policy_id: abc
      effective_date: 01/02/2027
  b:
    pay_rule:
      policy_id: 7
      balance: 3
      unit: days
  c:
    pay_rule:
      policy_name: Standard
";
    let problems = messages(&yaml(text).unwrap_err());
    assert_eq!(problems.len(), 6, "{problems:#?}");
    assert_eq!(
        problems[0],
        "m.yaml: line 4, column 18: pay-rule policy_id \"abc\" is not a positive whole number"
    );
    assert!(
        problems[1].starts_with("m.yaml: line 5, column 23: \"01/02/2027\" is ambiguous"),
        "{problems:#?}"
    );
    assert_eq!(
        problems[2],
        "m.yaml: line 9, column 16: balance and unit apply to time_off only"
    );
    assert_eq!(
        problems[3],
        "m.yaml: line 10, column 13: balance and unit apply to time_off only"
    );
    assert!(
        problems[4].starts_with("m.yaml: line 8, column 7: a pay rule needs effective_date"),
        "{problems:#?}"
    );
    assert!(
        problems[5].starts_with("m.yaml: line 13, column 7: a pay rule needs effective_date"),
        "{problems:#?}"
    );
}

#[test]
fn a_policy_needs_an_id_or_a_name() {
    let problems = messages(
        &yaml("employee_types:\n  a:\n    time_off:\n      - balance: 1\n        unit: days\n")
            .unwrap_err(),
    );
    assert_eq!(
        problems,
        ["m.yaml: line 4, column 9: give a policy_id or a policy_name"]
    );
}

#[test]
fn csv_manifest_problems_name_row_and_column() {
    let text = "employee_type,kind,policy_id,policy_name,balance,unit,effective_date
a,time_off,p1,,,,
a,pay_rule,5,,,,start_date
a,pay_rule,6,,,,start_date
a,time_off,p7,,15,,
a,time_off,p1,,,,
a,vacation,p9,,,,
";
    let problems = messages(&csv(text).unwrap_err());
    assert_eq!(
        problems,
        [
            "m.csv: row 7, column \"kind\" (B): kind \"vacation\" is not time_off, pay_rule or onboarding_pack"
        ]
    );
    let text = text.replace("a,vacation,p9,,,,\n", "");
    let problems = messages(&csv(&text).unwrap_err());
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].starts_with("m.csv: row 4: \"a\" already has a pay-rule policy (row 3)"),
        "{problems:#?}"
    );
    assert_eq!(
        problems[1],
        "m.csv: row 5, column \"balance\" (E): balance without unit: add unit: hours or unit: days"
    );
    assert!(
        problems[2].starts_with(
            "m.csv: row 6: time-off policy p1 is listed twice for \"a\" (first row 2)"
        ),
        "{problems:#?}"
    );
}

#[test]
fn csv_manifest_gives_column_balances_proration_and_packs() {
    let text = "employee_type,kind,policy_id,policy_name,balance,unit,balance_column,balance_default,prorate,year_starts,round_down_to
a,time_off,p1,,,days,PTO Days,5,,,
a,time_off,p2,,12,days,,,start_date,04-01,1
a,onboarding_pack,501,,,,,,,,
a,onboarding_pack,,Warehouse safety,,,,,,,
a,onboarding_pack,501,,,,,,,,
";
    let problems = messages(&csv(text).unwrap_err());
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("m.csv: row 6: onboarding pack 501 is listed twice for \"a\""),
        "{problems:#?}"
    );
    // Without the repeated pack (the last row):
    let m = csv(text.rsplit_once("a,onboarding_pack,501").unwrap().0).unwrap();
    let a = m.employee_type("a").unwrap();
    let column = a.time_off[0].per_row.as_ref().unwrap();
    assert_eq!(column.column.as_deref(), Some("PTO Days"));
    assert_eq!(column.default, Some(Decimal::from(5)));
    assert!(column.prorate.is_none());
    let prorated = a.time_off[1]
        .per_row
        .as_ref()
        .unwrap()
        .prorate
        .as_ref()
        .unwrap();
    assert_eq!(
        (
            prorated.column.as_str(),
            prorated.year_starts,
            prorated.round_down_to
        ),
        ("start_date", (4, 1), Decimal::from(1))
    );
    assert_eq!(a.packs.len(), 2);
    assert_eq!(a.packs[0].pack.id, Some(501));
    assert_eq!(a.packs[1].pack.name.as_deref(), Some("Warehouse safety"));
}

#[test]
fn csv_manifest_with_unknown_columns_is_refused() {
    let problems =
        messages(&csv("employee_type,kind,policy,balance\na,time_off,p1,\n").unwrap_err());
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].contains("unknown column \"policy\" (C)"),
        "{problems:?}"
    );
}

#[test]
fn employee_types_differing_only_in_case_are_refused() {
    let text = "employee_type,kind,policy_id\nFull-time,time_off,p1\nfull-time,time_off,p2\n";
    let problems = messages(&csv(text).unwrap_err());
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("differs only in case"), "{problems:?}");
}

#[test]
fn a_type_with_nothing_to_assign_is_still_known() {
    let m = yaml("employee_types:\n  contractor:\n  a:\n    time_off:\n      - policy_id: p1\n")
        .unwrap();
    let contractor = m.employee_type("contractor").unwrap();
    assert!(contractor.time_off.is_empty() && contractor.pay_rule.is_none());
}

#[test]
fn empty_or_broken_manifests_are_errors() {
    assert!(
        yaml("employee_types: {}\n").unwrap_err()[0]
            .message
            .contains("no employee types")
    );
    let broken = yaml("employee_types:\n  a: [\n").unwrap_err();
    assert!(matches!(broken[0].place, Place::Text { .. }), "{broken:?}");
}

#[test]
fn user_fields_come_from_the_top_and_each_type_overrides_them_by_name() {
    let m = yaml(
        "user_fields:\n  Department: {column: Dept}\n  Employment: {value: Permanent}\n\
         employee_types:\n  intern:\n    time_off:\n      - policy_id: p\n\
         \x20   user_fields:\n      employment: {value: Intern}\n",
    )
    .unwrap();
    let ty = m.employee_type("intern").unwrap();
    let fields: Vec<(&str, &FieldSource)> = m
        .fields_for(ty)
        .into_iter()
        .map(|f| (f.name.as_str(), &f.source))
        .collect();
    assert_eq!(
        fields,
        [
            ("Department", &FieldSource::Column("Dept".into())),
            ("employment", &FieldSource::Value("Intern".into())),
        ]
    );
    let both = yaml(
        "user_fields:\n  Department: {column: Dept, value: X}\n\
         employee_types:\n  intern:\n    time_off:\n      - policy_id: p\n",
    )
    .unwrap_err();
    assert_eq!(
        both[0].to_string(),
        "m.yaml: line 2, column 15: user field \"Department\" needs exactly one of column: (a sheet column) or value: (a constant)"
    );
}

#[test]
fn a_balance_that_is_neither_a_number_nor_a_column_is_refused_where_it_is_written() {
    let problems = messages(
        &yaml("employee_types:\n  a:\n    time_off:\n      - policy_id: p\n        balance: {default: 2}\n        unit: days\n")
            .unwrap_err(),
    );
    assert_eq!(
        problems,
        [
            "m.yaml: line 5, column 18: a balance is a number, or {column: COLUMN} with an optional default: N"
        ]
    );
    // Written as a person writes days, not as a parser reads numbers.
    let problems = messages(
        &csv("employee_type,kind,policy_id,balance,unit\na,time_off,p,1e2,days\nb,time_off,p,1_000,days\n")
            .unwrap_err(),
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("balance \"1e2\" is not a number"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("balance \"1_000\" is not a number"),
        "{problems:?}"
    );
}

#[test]
fn row_balances_and_proration_are_checked_where_they_are_written() {
    let problems = yaml(
        "employee_types:\n  a:\n    time_off:\n      - policy_id: p\n        prorate: start_date\n\
         \x20     - policy_id: q\n        balance: 15\n        unit: days\n        prorate: start_date\n        year_starts: \"02-29\"\n\
         \x20     - policy_id: r\n        balance: {column: PTO, default: -1}\n        unit: hours\n        round_down_to: 0.5\n",
    )
    .unwrap_err();
    let messages: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
    assert!(
        messages.contains(&"prorate needs a balance to scale".to_owned()),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("year_starts \"02-29\" is not a month and day")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("the balance's default \"-1\" is not a number ≥ 0")),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"year_starts and round_down_to go with prorate".to_owned()),
        "{messages:?}"
    );
    let m = yaml(
        "employee_types:\n  a:\n    time_off:\n      - policy_id: p\n        balance: {column: PTO}\n        unit: hours\n        prorate: start_date\n",
    )
    .unwrap();
    let rule = &m.types[0].time_off[0];
    let per_row = rule.per_row.as_ref().unwrap();
    assert_eq!(per_row.column.as_deref(), Some("PTO"));
    let prorate = per_row.prorate.as_ref().unwrap();
    assert_eq!(prorate.year_starts, (1, 1));
    assert_eq!(prorate.round_down_to, Decimal::new(25, 2), "0.25 for hours");
}
