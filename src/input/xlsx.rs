//! XLSX (and other Excel/ODS) workbooks through calamine.

use std::path::Path;

use calamine::{Data, Reader, open_workbook_auto};

use super::{Cell, Sheet, SheetRow};
use crate::problem::{Place, Problem};

pub fn read_workbook(path: &Path, file: &str, sheet_name: Option<&str>) -> Result<Sheet, Problem> {
    let mut workbook = open_workbook_auto(path)
        .map_err(|e| Problem::new(file, Place::File, format!("cannot open the workbook: {e}")))?;
    let names = workbook.sheet_names();
    let name = match sheet_name {
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
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| Problem::new(file, Place::File, "the workbook has no sheets"))?,
    };
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
