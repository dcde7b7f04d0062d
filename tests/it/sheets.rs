//! Every encoding, delimiter and the XLSX path, on fixture files.

use ct_onboard::input::{Cell, Sheet, read_sheet};
use jiff::civil::date;

use crate::util::{assert_exit, fixture, root};

fn shown(sheet: &Sheet) -> Vec<Vec<String>> {
    sheet
        .rows
        .iter()
        .map(|r| r.cells().map(|c| c.display().into_owned()).collect())
        .collect()
}

#[test]
fn every_csv_encoding_and_delimiter_reads_the_same() {
    let expected = read_sheet(&fixture("hires-utf8.csv"), None).unwrap();
    assert_eq!(
        expected.headers,
        [
            "User ID",
            "Email",
            "Employee Type",
            "Start Date",
            "Name",
            "Note"
        ]
    );
    assert_eq!(expected.rows[0].cell(4), Cell::Text("José Núñez"));
    assert_eq!(expected.rows[0].cell(5), Cell::Text("café €5"));
    for name in [
        "hires-utf8-bom.csv",
        "hires-utf16le-tab.txt",
        "hires-utf16be.csv",
        "hires-windows1252.csv",
        "hires-semicolon-blank-lines.csv",
    ] {
        let sheet = read_sheet(&fixture(name), None).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(sheet.headers, expected.headers, "{name}");
        assert_eq!(shown(&sheet), shown(&expected), "{name}");
        assert!(sheet.problems.is_empty(), "{name}: {:?}", sheet.problems);
    }
    let blank_lines = read_sheet(&fixture("hires-semicolon-blank-lines.csv"), None).unwrap();
    let numbers: Vec<u64> = blank_lines.rows.iter().map(|r| r.number).collect();
    assert_eq!(numbers, [2, 4, 5], "row numbers count the blank line");
}

#[test]
fn xlsx_keeps_real_dates_and_exact_numeric_ids() {
    let sheet = read_sheet(&fixture("hires.xlsx"), None).unwrap();
    assert_eq!(
        sheet.headers,
        [
            "User ID",
            "Email",
            "Employee Type",
            "Start Date",
            "Name",
            "Note"
        ]
    );
    assert_eq!(sheet.rows[0].cell(0), Cell::Number(9_170_357.0));
    assert_eq!(sheet.rows[0].cell(3), Cell::Date(date(2027, 1, 4)));
    assert_eq!(sheet.rows[0].number, 2);
    assert_eq!(
        shown(&sheet)[0][..4],
        ["9170357", "", "full-time", "2027-01-04"]
    );
    // A second sheet, chosen by name; its table starts at C3, so letters and rows shift.
    let other = read_sheet(&fixture("hires.xlsx"), Some("Late starters")).unwrap();
    assert_eq!(other.rows[0].number, 4);
    assert_eq!(other.rows[0].cell(2), Cell::Number(9_170_400.0));
    let missing = read_sheet(&fixture("hires.xlsx"), Some("Nope")).unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("no sheet named \"Nope\"; the workbook has: New hires, Late starters"),
        "{missing}"
    );
}

#[test]
fn sample_xlsx_holds_the_same_hires_as_sample_csv() {
    let csv = read_sheet(&root().join("samples/new-hires.csv"), None).unwrap();
    let xlsx = read_sheet(&root().join("samples/new-hires.xlsx"), None).unwrap();
    assert_eq!(xlsx.headers, csv.headers);
    assert_eq!(shown(&xlsx), shown(&csv));
    assert!(csv.rows.len() >= 25);
}

/// Writes the XLSX fixtures: `cargo test --test it -- --ignored regenerate_xlsx`.
/// Kept so the binary files in the repository can be rebuilt and reviewed as code.
#[test]
#[ignore = "writes files into the repository"]
fn regenerate_xlsx_files() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let date_format = Format::new().set_num_format("yyyy-mm-dd");

    let mut book = Workbook::new();
    let sheet = book.add_worksheet().set_name("New hires").unwrap();
    for (c, h) in [
        "User ID",
        "Email",
        "Employee Type",
        "Start Date",
        "Name",
        "Note",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    sheet.write_number(1, 0, 9_170_357.0).unwrap();
    sheet.write_string(1, 2, "full-time").unwrap();
    sheet
        .write_date_with_format(
            1,
            3,
            ExcelDateTime::from_ymd(2027, 1, 4).unwrap(),
            &date_format,
        )
        .unwrap();
    sheet.write_string(1, 4, "José Núñez").unwrap();
    sheet
        .write_string(2, 1, "grace.oneill@example.com")
        .unwrap();
    sheet.write_string(2, 2, "part-time").unwrap();
    sheet
        .write_date_with_format(
            2,
            3,
            ExcelDateTime::from_ymd(2027, 1, 11).unwrap(),
            &date_format,
        )
        .unwrap();
    sheet.write_string(2, 5, "=1+1").unwrap();
    let late = book.add_worksheet().set_name("Late starters").unwrap();
    late.write_string(2, 2, "User ID").unwrap();
    late.write_string(2, 3, "Employee Type").unwrap();
    late.write_number(3, 2, 9_170_400.0).unwrap();
    late.write_string(3, 3, "intern").unwrap();
    book.save(fixture("hires.xlsx")).unwrap();

    let csv = read_sheet(&root().join("samples/new-hires.csv"), None).unwrap();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet().set_name("New hires").unwrap();
    for (c, h) in csv.headers.iter().enumerate() {
        sheet.write_string(0, c as u16, h).unwrap();
    }
    for (r, row) in csv.rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.cells().enumerate() {
            let c = c as u16;
            let text = cell.display();
            if text.is_empty() {
                continue;
            }
            if let Ok(d) = text.parse::<jiff::civil::Date>() {
                let when = ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8)
                    .unwrap();
                sheet
                    .write_date_with_format(r, c, &when, &date_format)
                    .unwrap();
            } else if let Ok(n) = text.parse::<f64>() {
                sheet.write_number(r, c, n).unwrap();
            } else {
                sheet.write_string(r, c, text.as_ref()).unwrap();
            }
        }
    }
    book.save(root().join("samples/new-hires.xlsx")).unwrap();
}

#[test]
fn a_workbook_whose_first_sheet_is_notes_names_it_and_the_sheet_to_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hires.xlsx");
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let notes = workbook.add_worksheet().set_name("Notes").unwrap();
    notes
        .write_string(0, 0, "Exported from HRIS on Monday")
        .unwrap();
    let hires = workbook.add_worksheet().set_name("Hires").unwrap();
    hires.write_string(0, 0, "user_id").unwrap();
    hires.write_string(0, 1, "employee_type").unwrap();
    hires.write_number(1, 0, 9_170_357).unwrap();
    hires.write_string(1, 1, "intern").unwrap();
    hires.write_string(0, 2, "start_date").unwrap();
    hires.write_string(1, 2, "2029-06-04").unwrap();
    workbook.save(&path).unwrap();
    let out = crate::util::ct().arg("check").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("read sheet \"Notes\" (the first), but sheet \"Hires\" has the columns: pass --sheet \"Hires\""),
        "{stderr}"
    );
    let out = crate::util::ct()
        .arg("check")
        .arg(&path)
        .args(["--sheet", "Hires"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
}
