//! XLSX (and other Excel/ODS) workbooks through calamine.
//!
//! An `.xlsx` sheet is read as a stream of the cells it holds, so memory follows the
//! cells present, not the used range (one cell at `XFD1048576` once asked for 512 GB).
//! Its worksheets' unpacked size and its cell count are capped before and while reading.

use std::path::Path;

use calamine::{Data, DataRef, Reader, Xlsx, open_workbook, open_workbook_auto};

use super::{Cell, Sheet, SheetRow};
use crate::problem::{Place, Problem};

/// The most the worksheets of an `.xlsx` may unpack to, together: far above any HR sheet
/// (100,000 rows are about 30 MB), far below what would exhaust a machine.
pub const MAX_WORKSHEET_BYTES: u64 = 512 * 1024 * 1024;
/// The most non-empty cells one sheet may hold.
pub const MAX_CELLS: u64 = 20_000_000;

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

/// Refuses a workbook whose worksheets would unpack past [`MAX_WORKSHEET_BYTES`], from
/// the sizes its zip directory declares, before anything is unpacked.
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
        let is_sheet = entry
            .name()
            .is_ok_and(|n| n.starts_with("xl/worksheets/") && n.ends_with(".xml"));
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
    check_unpacked_size(path, file, MAX_WORKSHEET_BYTES)?;
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
    // Cells arrive row by row: each row is placed in its columns as soon as it is whole,
    // so only the cells present are ever held, once.
    let mut rows = Rows::default();
    let mut count = 0u64;
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        let value = from_ref(cell.get_value());
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
        let (row, column) = cell.get_position();
        rows.add(row, column, value);
    }
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
    })
}

/// Sheet rows built as cells stream in, in row order: the first row with a value is the
/// header, and fixes the width.
#[derive(Default)]
struct Rows {
    headers: Option<Vec<String>>,
    width: usize,
    current: Option<(u32, Vec<(u32, Cell)>)>,
    done: Vec<SheetRow>,
}

impl Rows {
    fn add(&mut self, row: u32, column: u32, value: Cell) {
        if self.current.as_ref().is_some_and(|(r, _)| *r != row) {
            self.close();
        }
        self.current
            .get_or_insert_with(|| (row, Vec::new()))
            .1
            .push((column, value));
    }

    fn close(&mut self) {
        let Some((row, cells)) = self.current.take() else {
            return;
        };
        if self.headers.is_none() {
            self.width = cells
                .iter()
                .map(|(c, _)| *c as usize + 1)
                .max()
                .unwrap_or(0);
            let headers = place(cells, self.width)
                .iter()
                .map(|c| c.display().trim().to_owned())
                .collect();
            self.headers = Some(headers);
            return;
        }
        let cells = place(cells, self.width);
        if !cells.iter().all(Cell::is_blank) {
            self.done.push(SheetRow {
                number: u64::from(row) + 1,
                cells,
            });
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
        let value = from_ref(cell.get_value());
        if value.is_blank() {
            continue;
        }
        let (row, column) = cell.get_position();
        if rows.current.as_ref().is_some_and(|(r, _)| *r != row) {
            break;
        }
        rows.add(row, column, value);
    }
    rows.finish().map(|(headers, _)| headers)
}

/// A row's cells in their columns, up to `width` (cells past the header's last column
/// belong to no column and are dropped).
fn place(cells: Vec<(u32, Cell)>, width: usize) -> Vec<Cell> {
    let mut row = vec![Cell::Empty; width];
    for (column, value) in cells {
        if let Some(slot) = row.get_mut(column as usize) {
            *slot = value;
        }
    }
    row
}

fn from_ref(data: &DataRef<'_>) -> Cell {
    match data {
        DataRef::SharedString(s) => Cell::Text((*s).to_owned()),
        other => to_cell(&Data::from(other.clone())),
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
    let Some((first_row, _)) = range.start() else {
        return Err(Problem::new(
            file,
            Place::File,
            format!("sheet \"{name}\" is empty"),
        ));
    };
    // The range starts at the first non-empty cell; rows before it do not exist, but the
    // columns before it would shift every letter, so pad them back in.
    let first_col = range.start().map_or(0, |(_, c)| c as usize);
    let mut headers: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for (offset, row) in range.rows().enumerate() {
        let number = u64::from(first_row) + offset as u64 + 1;
        let mut cells: Vec<Cell> = std::iter::repeat_n(Cell::Empty, first_col).collect();
        cells.extend(row.iter().map(to_cell));
        if cells.iter().all(Cell::is_blank) {
            continue;
        }
        match &headers {
            None => {
                headers = Some(
                    cells
                        .iter()
                        .map(|c| c.display().trim().to_owned())
                        .collect(),
                )
            }
            Some(header) => {
                cells.truncate(header.len());
                rows.push(SheetRow { number, cells });
            }
        }
    }
    let Some(headers) = headers else {
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
    })
}

fn to_cell(data: &Data) -> Cell {
    match data {
        Data::Empty => Cell::Empty,
        Data::String(s) => Cell::Text(s.clone()),
        #[expect(
            clippy::cast_precision_loss,
            reason = "Excel stores every number as f64 anyway"
        )]
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            match jiff::civil::Date::new(y.cast_signed(), m.cast_signed(), d.cast_signed()) {
                Ok(date) => Cell::Date(date),
                Err(_) => Cell::Error(format!("invalid date serial {}", dt.as_f64())),
            }
        }
        Data::DateTime(dt) => Cell::Number(dt.as_f64()),
        Data::DateTimeIso(s) => s
            .get(..10)
            .and_then(|d| d.parse().ok())
            .map_or_else(|| Cell::Text(s.clone()), Cell::Date),
        Data::DurationIso(s) => Cell::Text(s.clone()),
        Data::Error(e) => Cell::Error(e.to_string()),
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
        assert!(check_unpacked_size(&fixture(), "h.xlsx", MAX_WORKSHEET_BYTES).is_ok());
        let refused = check_unpacked_size(&fixture(), "h.xlsx", 10).unwrap_err();
        assert!(refused.message.contains("unpack to"), "{refused}");
    }

    #[test]
    fn cells_land_in_their_own_columns_and_past_the_header_are_dropped() {
        let row = place(
            vec![(2, Cell::Text("c".into())), (9, Cell::Text("far".into()))],
            3,
        );
        assert_eq!(row, vec![Cell::Empty, Cell::Empty, Cell::Text("c".into())]);
    }
}
