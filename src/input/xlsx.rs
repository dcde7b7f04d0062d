//! XLSX (and other Excel/ODS) workbooks through calamine.
//!
//! An `.xlsx` sheet is read as a stream of the cells it holds, so memory follows the
//! cells present, not the used range (one cell at `XFD1048576` once asked for 512 GB).
//! The unpacked size of its worksheets and shared strings is capped before reading; its
//! cell count and each cell's length while reading.

use std::path::Path;

use calamine::{Data, DataRef, Reader, Xlsx, open_workbook, open_workbook_auto};

use super::{Cell, MAX_SHEET_BYTES, RowBuilder, Sheet, SheetRow};
use crate::problem::{Place, Problem, Quoted, column_letter};

/// The most non-empty cells one sheet may hold.
pub const MAX_CELLS: u64 = 20_000_000;
/// The most characters Excel lets a cell hold; a longer one was not written by Excel.
pub const MAX_CELL_CHARS: usize = 32_767;

pub fn read_workbook(path: &Path, file: &str, sheet_name: Option<&str>) -> Result<Sheet, Problem> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if matches!(extension.as_deref(), Some("xlsx" | "xlsm")) {
        return read_xlsx(path, file, sheet_name);
    }
    read_range(path, file, sheet_name)
}

fn choose_sheet(names: &[String], wanted: Option<&str>, file: &str) -> Result<String, Problem> {
    match wanted {
        Some(wanted) => names
            .iter()
            .find(|n| n.as_str() == wanted)
            .cloned()
            .ok_or_else(|| {
                Problem::new(
                    file,
                    Place::File,
                    format!(
                        "no sheet named \"{wanted}\"; the workbook has: {}",
                        names.join(", ")
                    ),
                )
            }),
        None => names
            .first()
            .cloned()
            .ok_or_else(|| Problem::new(file, Place::File, "the workbook has no sheets")),
    }
}

/// Refuses a workbook whose worksheets and shared strings would unpack past `cap` (the
/// reader uses [`MAX_SHEET_BYTES`]), from the sizes its zip directory declares, before
/// anything is unpacked.
fn check_unpacked_size(path: &Path, file: &str, cap: u64) -> Result<(), Problem> {
    let opened = std::fs::File::open(path)
        .map_err(|e| Problem::new(file, Place::File, format!("cannot open the workbook: {e}")))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(opened))
        .map_err(|e| Problem::new(file, Place::File, format!("not an XLSX workbook: {e}")))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| Problem::new(file, Place::File, format!("a damaged workbook: {e}")))?;
        let is_sheet = entry.name().is_ok_and(|n| {
            (n.starts_with("xl/worksheets/") && n.ends_with(".xml")) || n == "xl/sharedStrings.xml"
        });
        if is_sheet {
            total = total.saturating_add(entry.size());
        }
    }
    if total > cap {
        return Err(Problem::new(
            file,
            Place::File,
            format!(
                "its worksheets unpack to {} MB, more than the {} MB ct-onboard reads: \
                 copy the new hires into a workbook of their own",
                total / 1_000_000,
                cap / 1_000_000
            ),
        ));
    }
    Ok(())
}

fn read_xlsx(path: &Path, file: &str, sheet_name: Option<&str>) -> Result<Sheet, Problem> {
    check_unpacked_size(path, file, MAX_SHEET_BYTES)?;
    let mut workbook: Xlsx<_> = open_workbook(path)
        .map_err(|e| Problem::new(file, Place::File, format!("cannot open the workbook: {e}")))?;
    let name = choose_sheet(&workbook.sheet_names(), sheet_name, file)?;
    let unreadable = |e: calamine::XlsxError| {
        Problem::new(
            file,
            Place::File,
            format!("cannot read sheet \"{name}\": {e}"),
        )
    };
    let mut reader = workbook.worksheet_cells_reader(&name).map_err(unreadable)?;
    // Cells arrive row by row: each row is built as its cells come, so only the cells
    // present are ever held, once.
    let mut rows = Rows::default();
    let mut count = 0u64;
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        let (row, column) = cell.get_position();
        let mut scratch = Data::Empty;
        let value = cell_of(cell.get_value(), &mut scratch);
        if value.is_blank() {
            continue;
        }
        count += 1;
        if count > MAX_CELLS {
            return Err(Problem::new(
                file,
                Place::File,
                format!(
                    "sheet \"{name}\" holds more than {MAX_CELLS} cells, more than ct-onboard reads: \
                     copy the new hires into a workbook of their own"
                ),
            ));
        }
        if let Cell::Text(text) = value
            && text.len() > MAX_CELL_CHARS
            && text.chars().count() > MAX_CELL_CHARS
        {
            return Err(Problem::new(
                file,
                Place::Cell {
                    row: u64::from(row) + 1,
                    column: column_letter(column as usize),
                },
                format!(
                    "{} is longer than the {MAX_CELL_CHARS} characters Excel allows in a cell",
                    Quoted(text)
                ),
            ));
        }
        rows.add(row, column, value);
    }
    sheet_of(file, &name, rows)
}

/// The sheet the streamed rows make, or the error of a sheet with none.
fn sheet_of(file: &str, name: &str, rows: Rows) -> Result<Sheet, Problem> {
    let Some((headers, rows)) = rows.finish() else {
        return Err(Problem::new(
            file,
            Place::File,
            format!("sheet \"{name}\" is empty"),
        ));
    };
    Ok(Sheet {
        file: file.to_owned(),
        headers,
        rows,
        problems: Vec::new(),
        sha256: None,
    })
}

/// Sheet rows built as cells stream in, in row order: the first row with a value is the
/// header, and fixes the width.
#[derive(Default)]
struct Rows {
    headers: Option<Vec<String>>,
    width: usize,
    /// The sheet row (0-based) being built, if any.
    current: Option<u32>,
    building: RowBuilder,
    done: Vec<SheetRow>,
}

impl Rows {
    fn add(&mut self, row: u32, column: u32, value: Cell<'_>) {
        if self.current.is_some_and(|r| r != row) {
            self.close();
        }
        self.current = Some(row);
        let column = column as usize;
        // Past the header's last column a cell belongs to no column.
        if self.headers.is_none() || column < self.width {
            self.building.set(column, value);
        }
    }

    fn close(&mut self) {
        let Some(row) = self.current.take() else {
            return;
        };
        if self.headers.is_none() {
            let header = self.building.finish_as_is(0);
            self.width = header.len();
            self.headers = Some(
                header
                    .cells()
                    .map(|c| c.display().trim().to_owned())
                    .collect(),
            );
            return;
        }
        if self.building.is_blank() {
            self.building.clear();
        } else {
            let row = self.building.finish(u64::from(row) + 1, self.width);
            self.done.push(row);
        }
    }

    fn finish(mut self) -> Option<(Vec<String>, Vec<SheetRow>)> {
        self.close();
        Some((self.headers?, self.done))
    }
}

/// For a workbook whose sheet lacks the columns ct-onboard needs: which sheet was read,
/// and the other sheets whose first row `fits` (has them), to name with `--sheet`.
pub fn header_hint(
    path: &Path,
    file: &str,
    read: Option<&str>,
    fits: impl Fn(&[String]) -> bool,
) -> Option<Problem> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    if !matches!(extension.as_str(), "xlsx" | "xlsm") {
        return None;
    }
    let mut workbook: Xlsx<_> = open_workbook(path).ok()?;
    let names = workbook.sheet_names();
    let name = choose_sheet(&names, read, file).ok()?;
    let others: Vec<String> = names
        .iter()
        .filter(|n| **n != name)
        .filter(|n| first_row(&mut workbook, n).is_some_and(|h| fits(&h)))
        .cloned()
        .collect();
    let which = if read.is_some() { "" } else { " (the first)" };
    let message = match others.as_slice() {
        [] => format!(
            "read sheet \"{name}\"{which}; the workbook's sheets are: {}",
            names.join(", ")
        ),
        _ => format!(
            "read sheet \"{name}\"{which}, but sheet {} has the columns: pass --sheet \"{}\"",
            others
                .iter()
                .map(|o| format!("\"{o}\""))
                .collect::<Vec<_>>()
                .join(", "),
            others[0]
        ),
    };
    Some(Problem::new(file, Place::File, message))
}

/// A sheet's header row: its first row with a value.
fn first_row<RS: std::io::Read + std::io::Seek>(
    workbook: &mut Xlsx<RS>,
    name: &str,
) -> Option<Vec<String>> {
    let mut reader = workbook.worksheet_cells_reader(name).ok()?;
    let mut rows = Rows::default();
    while let Ok(Some(cell)) = reader.next_cell() {
        let (row, column) = cell.get_position();
        let mut scratch = Data::Empty;
        let value = cell_of(cell.get_value(), &mut scratch);
        if value.is_blank() {
            continue;
        }
        if rows.current.is_some_and(|r| r != row) {
            break;
        }
        rows.add(row, column, value);
    }
    rows.finish().map(|(headers, _)| headers)
}

/// A streamed cell as a [`Cell`]: shared strings are borrowed where they are; the rare
/// other kinds go through `scratch` as calamine's owned [`Data`].
fn cell_of<'a>(data: &'a DataRef<'_>, scratch: &'a mut Data) -> Cell<'a> {
    match data {
        DataRef::SharedString(s) => Cell::Text(s),
        DataRef::String(s) => Cell::Text(s),
        other => {
            *scratch = Data::from(other.clone());
            to_cell(scratch)
        }
    }
}

/// Other workbook formats (`.xls`, `.ods`) through calamine's whole-range reader.
fn read_range(path: &Path, file: &str, sheet_name: Option<&str>) -> Result<Sheet, Problem> {
    let mut workbook = open_workbook_auto(path)
        .map_err(|e| Problem::new(file, Place::File, format!("cannot open the workbook: {e}")))?;
    let names = workbook.sheet_names();
    let name = choose_sheet(&names, sheet_name, file)?;
    let range = workbook.worksheet_range(&name).map_err(|e| {
        Problem::new(
            file,
            Place::File,
            format!("cannot read sheet \"{name}\": {e}"),
        )
    })?;
    // The range starts at its first non-empty cell: its cells are placed where the sheet
    // has them, as the XLSX stream's are, so rows and column letters match the sheet's.
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let mut rows = Rows::default();
    for (row, column, data) in range.used_cells() {
        let value = to_cell(data);
        if value.is_blank() {
            continue;
        }
        let at = |start: u32, offset: usize| {
            start.saturating_add(u32::try_from(offset).unwrap_or(u32::MAX))
        };
        rows.add(at(first_row, row), at(first_col, column), value);
    }
    sheet_of(file, &name, rows)
}

fn to_cell(data: &Data) -> Cell<'_> {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) | Data::DurationIso(s) => Cell::Text(s),
        #[expect(
            clippy::cast_precision_loss,
            reason = "Excel stores every number as f64 anyway"
        )]
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            // A serial past the calendar is left a number, which is then "not a date".
            jiff::civil::Date::new(y.cast_signed(), m.cast_signed(), d.cast_signed())
                .map_or(Cell::Number(dt.as_f64()), Cell::Date)
        }
        Data::DateTime(dt) => Cell::Number(dt.as_f64()),
        Data::DateTimeIso(s) => s
            .get(..10)
            .and_then(|d| d.parse().ok())
            .map_or(Cell::Text(s), Cell::Date),
        Data::Error(e) => Cell::Error(error_text(e)),
    }
}

/// An error value as Excel shows it.
fn error_text(error: &calamine::CellErrorType) -> &'static str {
    use calamine::CellErrorType as E;
    match error {
        E::Div0 => "#DIV/0!",
        E::NA => "#N/A",
        E::Name => "#NAME?",
        E::Null => "#NULL!",
        E::Num => "#NUM!",
        E::Ref => "#REF!",
        E::Value => "#VALUE!",
        E::GettingData => "#DATA!",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hires.xlsx")
    }

    #[test]
    fn worksheets_that_unpack_past_the_cap_are_refused_before_reading() {
        assert!(check_unpacked_size(&fixture(), "h.xlsx", MAX_SHEET_BYTES).is_ok());
        let refused = check_unpacked_size(&fixture(), "h.xlsx", 10).unwrap_err();
        assert!(refused.message.contains("unpack to"), "{refused}");
    }

    /// A workbook of one sheet, written by hand: what Excel would never write.
    fn handmade_xlsx(sheet_xml: &str) -> tempfile::NamedTempFile {
        use std::io::Write;
        let file = tempfile::Builder::new().suffix(".xlsx").tempfile().unwrap();
        let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let parts = [
            (
                "[Content_Types].xml",
                r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
            ),
            (
                "_rels/.rels",
                r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
            ),
            (
                "xl/workbook.xml",
                r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Hires" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
            ),
            (
                "xl/_rels/workbook.xml.rels",
                r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
            ),
            ("xl/worksheets/sheet1.xml", sheet_xml),
        ];
        for (name, text) in parts {
            zip.start_file(name, stored).unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        file
    }

    fn sheet_xml(rows: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>"#
        )
    }

    #[test]
    fn a_handmade_workbook_reads_like_one_from_excel() {
        let book = handmade_xlsx(&sheet_xml(
            r#"<row r="1"><c r="A1" t="inlineStr"><is><t>user_id</t></is></c><c r="B1" t="inlineStr"><is><t>employee_type</t></is></c></row><row r="3"><c r="A3"><v>9170357</v></c><c r="B3" t="inlineStr"><is><t>intern</t></is></c><c r="C3" t="e"><v>#N/A</v></c></row>"#,
        ));
        let sheet = read_xlsx(book.path(), "h.xlsx", None).unwrap();
        assert_eq!(sheet.headers, ["user_id", "employee_type"]);
        assert_eq!(sheet.rows.len(), 1);
        assert_eq!(sheet.rows[0].number, 3);
        let cells: Vec<Cell<'_>> = sheet.rows[0].cells().collect();
        assert_eq!(cells, [Cell::Number(9_170_357.0), Cell::Text("intern")]);
    }

    #[test]
    fn an_ods_sheet_keeps_its_rows_and_column_letters() {
        use std::io::Write;
        let file = tempfile::Builder::new().suffix(".ods").tempfile().unwrap();
        let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let text = |s: &str| {
            format!(
                r#"<table:table-cell office:value-type="string"><text:p>{s}</text:p></table:table-cell>"#
            )
        };
        let empty = "<table:table-cell/>";
        let content = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Hires"><table:table-row>{empty}</table:table-row><table:table-row>{empty}{}{}</table:table-row><table:table-row>{empty}<table:table-cell office:value-type="float" office:value="9170357"><text:p>9170357</text:p></table:table-cell>{}</table:table-row><table:table-row>{empty}{}{}</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#,
            text("user_id"),
            text("employee_type"),
            text("intern"),
            text("  "),
            empty
        );
        for (name, body) in [
            ("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
            ("content.xml", content.as_str()),
            (
                "META-INF/manifest.xml",
                r#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#,
            ),
        ] {
            zip.start_file(name, stored).unwrap();
            zip.write_all(body.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        let sheet = read_range(file.path(), "h.ods", None).unwrap();
        assert_eq!(sheet.headers, ["", "user_id", "employee_type"]);
        assert_eq!(sheet.rows.len(), 1, "a row of blanks is no row");
        assert_eq!(sheet.rows[0].number, 3);
        assert_eq!(sheet.rows[0].cell(1), Cell::Number(9_170_357.0));
        assert_eq!(sheet.rows[0].cell(2), Cell::Text("intern"));
    }

    #[test]
    fn a_cell_longer_than_excel_allows_is_refused_by_its_place() {
        let long = "x".repeat(MAX_CELL_CHARS + 1);
        let book = handmade_xlsx(&sheet_xml(&format!(
            r#"<row r="1"><c r="A1" t="inlineStr"><is><t>user_id</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>{long}</t></is></c></row>"#
        )));
        let refused = read_xlsx(book.path(), "h.xlsx", None).unwrap_err();
        assert_eq!(
            refused.place,
            Place::Cell {
                row: 2,
                column: "A".into()
            }
        );
        assert!(refused.message.contains("32767 characters"), "{refused}");
        assert!(refused.to_string().len() < 200, "{refused}");
    }

    #[test]
    fn cells_land_in_their_own_columns_and_past_the_header_are_dropped() {
        let mut rows = Rows::default();
        rows.add(0, 0, Cell::Text("a"));
        rows.add(0, 2, Cell::Text("c"));
        rows.add(1, 2, Cell::Text("z"));
        rows.add(1, 9, Cell::Text("far"));
        rows.add(1, 0, Cell::Number(7.0));
        let (headers, done) = rows.finish().unwrap();
        assert_eq!(headers, ["a", "", "c"]);
        let cells: Vec<Cell<'_>> = done[0].cells().collect();
        assert_eq!(cells, [Cell::Number(7.0), Cell::Empty, Cell::Text("z")]);
        assert_eq!(done[0].number, 2);
    }
}
