//! Property tests: the sheet and manifest readers never panic, and every error they give
//! names a place, whatever the input.

use ct_onboard::input::{Cell, ColumnMapping, Columns, decode_text, parse_delimited, values};
use ct_onboard::manifest::{manifest_from_csv, manifest_from_yaml};
use ct_onboard::plan::{PlanOptions, plan};
use ct_onboard::problem::Place;
use proptest::prelude::*;

const MANIFEST: &str = "employee_types:
  full-time:
    time_off:
      - policy_id: vac
        balance: 15
        unit: days
    pay_rule:
      policy_id: 12346
      effective_date: start_date
  intern:
";

/// Text made of what breaks CSV readers: delimiters, quotes, line breaks, BOMs, digits,
/// letters, and a few multi-byte characters.
fn sheetish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just(","),
            Just(";"),
            Just("\t"),
            Just("\""),
            Just("\n"),
            Just("\r\n"),
            Just("\r"),
            Just("\u{feff}"),
            Just("user_id"),
            Just("email"),
            Just("employee_type"),
            Just("start_date"),
            Just("full-time"),
            Just("intern"),
            Just("9170357"),
            Just("9.17E+06"),
            Just("2027-01-04"),
            Just("01/02/2027"),
            Just("a@b.io"),
            Just("é"),
            Just(" "),
            Just("="),
            Just("-"),
            Just("0"),
            Just("x"),
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn any_bytes_decode_and_parse_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = decode_text(bytes);
        match parse_delimited("h.csv", &text) {
            Ok(sheet) => prop_assert!(sheet.rows.iter().all(|r| r.len() <= sheet.headers.len())),
            Err(problem) => prop_assert!(!problem.message.is_empty()),
        }
    }

    #[test]
    fn any_sheet_plans_without_panicking_and_every_problem_has_a_row(text in sheetish()) {
        let Ok(sheet) = parse_delimited("h.csv", &text) else { return Ok(()) };
        let Ok(columns) = Columns::find("h.csv", &sheet.headers, &ColumnMapping::default()) else { return Ok(()) };
        let manifest = manifest_from_yaml("m.yaml", MANIFEST).unwrap();
        let options = PlanOptions { today: jiff::civil::date(2026, 11, 23), allow_retroactive: false, date_format: None, default_country: None };
        let planned = plan(&sheet, &columns, &manifest, &options);
        prop_assert_eq!(planned.rows.len(), sheet.rows.len());
        for row in &planned.rows {
            for problem in &row.problems {
                prop_assert_eq!(problem.sheet_row, Some(row.number));
                prop_assert!(!problem.message.is_empty());
            }
        }
    }

    #[test]
    fn any_yaml_manifest_gives_a_manifest_or_placed_problems(text in "[ -~\n]{0,300}") {
        if let Err(problems) = manifest_from_yaml("m.yaml", &text) {
            prop_assert!(!problems.is_empty());
            prop_assert!(problems.iter().all(|p| !p.message.is_empty()));
        }
    }

    #[test]
    fn any_csv_manifest_gives_a_manifest_or_placed_problems(text in sheetish()) {
        let text = format!("employee_type,kind,policy_id,policy_name,balance,unit,effective_date\n{text}");
        if let Err(problems) = manifest_from_csv("m.csv", &text) {
            prop_assert!(!problems.is_empty());
            for p in &problems {
                prop_assert!(!matches!(p.place, Place::Setting(_)));
            }
        }
    }

    #[test]
    fn value_rules_never_panic_and_accept_only_what_they_should(s in "\\PC{0,40}") {
        let cell = Cell::Text(&s);
        if let Ok(Some(id)) = values::user_id(cell) {
            prop_assert!(id > 0);
            prop_assert!(!s.to_ascii_lowercase().contains('e'), "scientific notation is never accepted: {s}");
        }
        if let Ok(Some(email)) = values::email(cell) {
            prop_assert!(email.contains('@'));
        }
        if let Ok(Some(date)) = values::date(cell, None) {
            prop_assert_eq!(date.to_string(), s.trim());
        }
        let _ = values::date(cell, Some("%d/%m/%Y"));
    }

    #[test]
    fn whole_numbers_round_trip_through_spreadsheet_floats(id in 1u64..9_007_199_254_740_992) {
        prop_assert_eq!(values::user_id(Cell::Text(&format!("{id}.0"))), Ok(Some(id)));
        #[expect(clippy::cast_precision_loss, reason = "ids below 2^53 are exact")]
        let float = id as f64;
        prop_assert_eq!(values::user_id(Cell::Number(float)), Ok(Some(id)));
    }
}
