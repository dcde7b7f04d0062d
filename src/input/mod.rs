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

/// One cell as read. CSV gives only text; XLSX also gives numbers, dates and booleans.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
    Date(Date),
    Bool(bool),
    /// An Excel error value such as `#N/A`.
    Error(String),
}

impl Cell {
    /// The cell as text, the way it is carried through to the report.
    pub fn display(&self) -> Cow<'_, str> {
        match self {
            Cell::Empty => Cow::Borrowed(""),
            Cell::Text(s) | Cell::Error(s) => Cow::Borrowed(s),
            Cell::Number(n) => Cow::Owned(values::format_number(*n)),
            Cell::Date(d) => Cow::Owned(d.to_string()),
            Cell::Bool(b) => Cow::Borrowed(if *b { "TRUE" } else { "FALSE" }),
        }
    }

    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }
}

/// A data row with its spreadsheet row number (the header is row 1 in a plain sheet).
#[derive(Debug, Clone, PartialEq)]
pub struct SheetRow {
    pub number: u64,
    pub cells: Vec<Cell>,
}

impl SheetRow {
    pub fn cell(&self, index: usize) -> &Cell {
        self.cells.get(index).unwrap_or(&Cell::Empty)
    }
}

/// The new-hire sheet as read, before any value is interpreted.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// The file name used in messages.
    pub file: String,
    pub headers: Vec<String>,
    pub rows: Vec<SheetRow>,
    /// Row-level reading problems (ragged rows); the rows themselves are still kept.
    pub problems: Vec<Problem>,
}

/// Reads a `.csv` (or `.txt`/`.tsv`) or `.xlsx` sheet. `sheet_name` picks an XLSX sheet.
/// What `-` as the sheet's path means: standard input.
pub const STDIN: &str = "-";

pub fn read_sheet(path: &Path, sheet_name: Option<&str>) -> Result<Sheet, Problem> {
    if path.as_os_str() == STDIN {
        return read_stdin(sheet_name);
    }
    let file = path.display().to_string();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let sheet = match extension.as_str() {
        "xlsx" | "xlsm" | "xls" | "ods" => xlsx::read_workbook(path, &file, sheet_name)?,
        _ if sniff_zip(path) => {
            // An .xlsx under another name (or none): a workbook is a zip archive.
            let named = tempfile::Builder::new()
                .suffix(".xlsx")
                .tempfile()
                .map_err(|e| Problem::new(&file, Place::File, format!("cannot read: {e}")))?;
            std::fs::copy(path, named.path())
                .map_err(|e| Problem::new(&file, Place::File, format!("cannot read: {e}")))?;
            xlsx::read_workbook(named.path(), &file, sheet_name)?
        }
        _ => {
            if sheet_name.is_some() {
                return Err(Problem::new(
                    &file,
                    Place::File,
                    "--sheet applies to XLSX workbooks only; this file is read as CSV",
                ));
            }
            let bytes = std::fs::read(path).map_err(|e| {
                Problem::new(&file, Place::File, format!("cannot read the file: {e}"))
            })?;
            let text = decode_text(bytes);
            parse_delimited(&file, &text)?
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

/// Whether a file starts like a zip archive (an XLSX workbook).
fn sniff_zip(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == *b"PK\x03\x04")
}

/// The sheet from standard input: CSV in any encoding the files take, or an XLSX
/// workbook (recognised by its zip signature). Messages name "standard input".
fn read_stdin(sheet_name: Option<&str>) -> Result<Sheet, Problem> {
    use std::io::{Read, Write};
    let file = "standard input";
    let unreadable =
        |e: std::io::Error| Problem::new(file, Place::File, format!("cannot read: {e}"));
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
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
