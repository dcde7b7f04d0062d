//! Reading the new-hire sheet: CSV in the encodings Excel and HR systems write, or XLSX.
//!
//! Both readers produce the same [`Sheet`]: a header row and data rows of typed [`Cell`]s,
//! each row numbered as a spreadsheet would show it, so every later message can say
//! "row 7, column "User ID" (B)".

mod columns;
mod decode;
mod delimited;
pub mod values;
mod xlsx;

use std::borrow::Cow;
use std::path::Path;

use jiff::civil::Date;

pub use columns::{ColumnMapping, Columns, Field, normalize_header};
pub use decode::decode_text;
pub use delimited::{parse_delimited, sniff_delimiter};
pub use xlsx::header_hint;

use crate::problem::{Place, Problem};

/// One cell as read, borrowed from its row. CSV gives only text; XLSX also gives
/// numbers, dates and booleans.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Empty,
    Text(&'a str),
    Number(f64),
    Date(Date),
    Bool(bool),
    /// An Excel error value such as `#N/A`.
    Error(&'a str),
}

impl<'a> Cell<'a> {
    /// The cell as text, the way it is carried through to the report.
    pub fn display(self) -> Cow<'a, str> {
        match self {
            Cell::Empty => Cow::Borrowed(""),
            Cell::Text(s) | Cell::Error(s) => Cow::Borrowed(s),
            Cell::Number(n) => Cow::Owned(values::format_number(n)),
            Cell::Date(d) => Cow::Owned(d.to_string()),
            Cell::Bool(b) => Cow::Borrowed(if b { "TRUE" } else { "FALSE" }),
        }
    }

    pub fn is_blank(self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }
}

/// A data row with its spreadsheet row number (the header is row 1 in a plain sheet).
///
/// A sheet of 100,000 rows holds 800,000 cells, so a row is stored compactly: the text
/// of all its cells in one allocation, and per cell a 16-byte slot that points into it.
/// A row is built with a [`RowBuilder`] and read back through [`SheetRow::cell`].
#[derive(Debug, Clone, PartialEq)]
pub struct SheetRow {
    pub number: u64,
    text: Box<str>,
    slots: Box<[Slot]>,
}

/// Where a cell's value is: inline, or a span of its row's text. Offsets fit in `u32`
/// because no sheet past [`MAX_SHEET_BYTES`] is read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Empty,
    Text { start: u32, len: u32 },
    Number(f64),
    Date(Date),
    Bool(bool),
    Error { start: u32, len: u32 },
}

impl SheetRow {
    /// The cell in column `index` (0-based); past the row's end, empty.
    pub fn cell(&self, index: usize) -> Cell<'_> {
        self.slots
            .get(index)
            .map_or(Cell::Empty, |slot| self.view(*slot))
    }

    /// The row's cells, left to right: as many as the sheet's header has columns, or
    /// fewer when a CSV row is short.
    pub fn cells(&self) -> impl ExactSizeIterator<Item = Cell<'_>> + '_ {
        self.slots.iter().map(|slot| self.view(*slot))
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn view(&self, slot: Slot) -> Cell<'_> {
        let span = |start: u32, len: u32| {
            let start = start as usize;
            &self.text[start..start + len as usize]
        };
        match slot {
            Slot::Empty => Cell::Empty,
            Slot::Text { start, len } => Cell::Text(span(start, len)),
            Slot::Number(n) => Cell::Number(n),
            Slot::Date(d) => Cell::Date(d),
            Slot::Bool(b) => Cell::Bool(b),
            Slot::Error { start, len } => Cell::Error(span(start, len)),
        }
    }
}

/// Builds [`SheetRow`]s one at a time, reusing its buffers from row to row.
#[derive(Debug, Default)]
pub struct RowBuilder {
    text: String,
    slots: Vec<Slot>,
}

impl RowBuilder {
    /// Sets column `index` (0-based), widening the row with empty cells as needed. A
    /// column set twice keeps its last value.
    pub fn set(&mut self, index: usize, cell: Cell<'_>) {
        if self.slots.len() <= index {
            self.slots.resize(index + 1, Slot::Empty);
        }
        self.slots[index] = self.slot(cell);
    }

    /// Appends the next cell.
    pub fn push(&mut self, cell: Cell<'_>) {
        let slot = self.slot(cell);
        self.slots.push(slot);
    }

    /// Whether every cell so far is blank.
    pub fn is_blank(&self) -> bool {
        self.slots.iter().all(|slot| match *slot {
            Slot::Empty => true,
            Slot::Text { start, len } => {
                let start = start as usize;
                self.text[start..start + len as usize].trim().is_empty()
            }
            _ => false,
        })
    }

    /// The row built so far, `width` cells wide (padded with empty cells, or cut: cells
    /// past the header's last column belong to no column). The builder is left empty.
    pub fn finish(&mut self, number: u64, width: usize) -> SheetRow {
        self.slots.resize(width, Slot::Empty);
        let row = SheetRow {
            number,
            text: self.text.as_str().into(),
            slots: self.slots.as_slice().into(),
        };
        self.clear();
        row
    }

    /// Like [`RowBuilder::finish`], keeping the cells as they are (a short CSV row
    /// stays short).
    pub fn finish_as_is(&mut self, number: u64) -> SheetRow {
        let width = self.slots.len();
        self.finish(number, width)
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.slots.clear();
    }

    fn slot(&mut self, cell: Cell<'_>) -> Slot {
        let mut span = |s: &str| {
            let start = self.text.len();
            self.text.push_str(s);
            (offset(start), offset(s.len()))
        };
        match cell {
            Cell::Empty => Slot::Empty,
            Cell::Text(s) => {
                let (start, len) = span(s);
                Slot::Text { start, len }
            }
            Cell::Number(n) => Slot::Number(n),
            Cell::Date(d) => Slot::Date(d),
            Cell::Bool(b) => Slot::Bool(b),
            Cell::Error(s) => {
                let (start, len) = span(s);
                Slot::Error { start, len }
            }
        }
    }
}

/// A row's text offset. Sheets are capped at [`MAX_SHEET_BYTES`], so a row's text is.
fn offset(n: usize) -> u32 {
    u32::try_from(n).expect("sheets are capped at MAX_SHEET_BYTES, far below 4 GiB")
}

/// The most a sheet may be: a CSV file's size, or an XLSX workbook's worksheets
/// unpacked. Far above any HR sheet (100,000 rows are about 9 MB of CSV and 30 MB of
/// worksheet XML), far below what would exhaust a machine.
pub const MAX_SHEET_BYTES: u64 = 500_000_000;

/// The new-hire sheet as read, before any value is interpreted.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// The file name used in messages.
    pub file: String,
    pub headers: Vec<String>,
    pub rows: Vec<SheetRow>,
    /// Row-level reading problems (ragged rows); the rows themselves are still kept.
    pub problems: Vec<Problem>,
    /// The SHA-256 of the bytes read, for the report and saved plans; `None` for a sheet
    /// parsed from text already in memory.
    pub sha256: Option<String>,
}

/// What `-` as the sheet's path means: standard input.
pub const STDIN: &str = "-";

/// Reads a `.csv` (or `.txt`/`.tsv`) or `.xlsx` sheet, or standard input for [`STDIN`].
/// `sheet_name` picks an XLSX sheet.
pub fn read_sheet(path: &Path, sheet_name: Option<&str>) -> Result<Sheet, Problem> {
    if path.as_os_str() == STDIN {
        return read_stream(std::io::stdin().lock(), "standard input", sheet_name);
    }
    let file = path.display().to_string();
    // A pipe (`/dev/stdin`, `<(…)`) can be read once only: spooled whole first.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        let opened = std::fs::File::open(path)
            .map_err(|e| Problem::new(&file, Place::File, format!("cannot read: {e}")))?;
        return read_stream(opened, &file, sheet_name);
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let unreadable =
        |e: std::io::Error| Problem::new(&file, Place::File, format!("cannot read: {e}"));
    // A workbook is hashed as soon as calamine, which opens the file itself, has read it.
    let workbook = |path: &Path| -> Result<Sheet, Problem> {
        let sheet = xlsx::read_workbook(path, &file, sheet_name)?;
        let sha256 = crate::digest::file_sha256(path).map_err(unreadable)?;
        Ok(Sheet {
            sha256: Some(sha256),
            ..sheet
        })
    };
    let sheet = match extension.as_str() {
        "xlsx" | "xlsm" | "xls" | "ods" => workbook(path)?,
        _ if sniff_zip(path) => {
            // An .xlsx under another name (or none): a workbook is a zip archive.
            let named = tempfile::Builder::new()
                .suffix(".xlsx")
                .tempfile()
                .map_err(unreadable)?;
            std::fs::copy(path, named.path()).map_err(unreadable)?;
            workbook(named.path())?
        }
        _ => {
            if sheet_name.is_some() {
                return Err(Problem::new(
                    &file,
                    Place::File,
                    "--sheet applies to XLSX workbooks only; this file is read as CSV",
                ));
            }
            let opened = std::fs::File::open(path);
            // A plain file too large is refused by its size, before a byte is read.
            if let Ok(opened) = &opened
                && opened
                    .metadata()
                    .is_ok_and(|m| m.is_file() && m.len() > MAX_SHEET_BYTES)
            {
                return Err(too_large(&file, MAX_SHEET_BYTES));
            }
            let bytes = read_capped(opened, &file, MAX_SHEET_BYTES)?;
            let sha256 = crate::digest::sha256_hex(&bytes);
            let text = decode_text(bytes);
            Sheet {
                sha256: Some(sha256),
                ..parse_delimited(&file, &text)?
            }
        }
    };
    if sheet.rows.is_empty() {
        return Err(Problem::new(
            &file,
            Place::File,
            "the sheet has a header row but no data rows: there is nobody to onboard",
        ));
    }
    Ok(sheet)
}

/// All of a sheet's bytes, refused past [`MAX_SHEET_BYTES`] without reading further
/// (a sheet on a pipe, or `/dev/zero`, has no size to check first).
fn read_capped(
    opened: std::io::Result<impl std::io::Read>,
    file: &str,
    cap: u64,
) -> Result<Vec<u8>, Problem> {
    use std::io::Read;
    let unreadable =
        |e: std::io::Error| Problem::new(file, Place::File, format!("cannot read the file: {e}"));
    let mut bytes = Vec::new();
    opened
        .and_then(|r| r.take(cap + 1).read_to_end(&mut bytes))
        .map_err(unreadable)?;
    if bytes.len() as u64 > cap {
        return Err(too_large(file, cap));
    }
    Ok(bytes)
}

fn too_large(file: &str, cap: u64) -> Problem {
    Problem::new(
        file,
        Place::File,
        format!(
            "it is larger than the {} MB ct-onboard reads: \
             copy the new hires into a sheet of their own",
            cap / 1_000_000
        ),
    )
}

/// Whether a file starts like a zip archive (an XLSX workbook).
fn sniff_zip(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == *b"PK\x03\x04")
}

/// The sheet from a stream read once (standard input, a pipe): CSV in any encoding the
/// files take, or an XLSX workbook (recognised by its zip signature). Messages name `file`.
fn read_stream(
    stream: impl std::io::Read,
    file: &str,
    sheet_name: Option<&str>,
) -> Result<Sheet, Problem> {
    use std::io::Write;
    let unreadable =
        |e: std::io::Error| Problem::new(file, Place::File, format!("cannot read: {e}"));
    let bytes = read_capped(Ok(stream), file, MAX_SHEET_BYTES)?;
    let workbook = bytes.starts_with(b"PK\x03\x04");
    let mut spooled = tempfile::Builder::new()
        .suffix(if workbook { ".xlsx" } else { ".csv" })
        .tempfile()
        .map_err(unreadable)?;
    spooled.write_all(&bytes).map_err(unreadable)?;
    let renamed = |p: Problem| Problem {
        file: file.to_owned(),
        ..p
    };
    let sheet = read_sheet(spooled.path(), sheet_name).map_err(renamed)?;
    Ok(Sheet {
        file: file.to_owned(),
        problems: sheet.problems.into_iter().map(renamed).collect(),
        ..sheet
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_holds_its_cells_text_in_one_place() {
        let mut building = RowBuilder::default();
        building.push(Cell::Text("Ada"));
        building.push(Cell::Empty);
        building.push(Cell::Number(7.0));
        building.push(Cell::Error("#N/A"));
        building.set(5, Cell::Text("Z"));
        building.set(0, Cell::Text("Grace"));
        let row = building.finish(4, 7);
        assert_eq!(row.number, 4);
        assert_eq!(row.len(), 7);
        let cells: Vec<Cell<'_>> = row.cells().collect();
        assert_eq!(
            cells,
            [
                Cell::Text("Grace"),
                Cell::Empty,
                Cell::Number(7.0),
                Cell::Error("#N/A"),
                Cell::Empty,
                Cell::Text("Z"),
                Cell::Empty,
            ]
        );
        assert_eq!(row.cell(99), Cell::Empty);
        assert!(building.is_blank(), "the builder starts over");
        building.push(Cell::Text(" b "));
        let row = building.finish(5, 0);
        assert!(row.is_empty(), "cut to the header's width");
    }

    #[test]
    fn blank_means_empty_or_whitespace_text() {
        let mut building = RowBuilder::default();
        building.push(Cell::Text("  "));
        building.push(Cell::Empty);
        assert!(building.is_blank());
        building.push(Cell::Bool(false));
        assert!(!building.is_blank());
    }

    #[test]
    fn a_sheet_past_the_cap_is_refused_without_reading_it_all() {
        let endless = std::io::repeat(b'x');
        let refused = read_capped(Ok(endless), "zero", 1_000_000).unwrap_err();
        assert!(
            refused.message.contains("larger than the 1 MB"),
            "{refused}"
        );
        let small = read_capped(Ok(&b"a,b\n"[..]), "ok.csv", 1_000_000).unwrap();
        assert_eq!(small, b"a,b\n");
    }
}
