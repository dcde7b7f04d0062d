//! CSV, semicolon- and tab-separated sheets.

use super::{Cell, RowBuilder, Sheet};
use crate::problem::{Place, Problem};

/// Picks `,`, `;` or tab: whichever occurs most often outside quotes in the header line.
/// Excel in much of Europe writes `;`, and some HR exports are tab-separated.
pub fn sniff_delimiter(text: &str) -> u8 {
    let header = text
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for ch in header.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => counts[0] += 1,
            ';' if !quoted => counts[1] += 1,
            '\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b';', b'\t'];
    let best = (0..3)
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        candidates[best]
    }
}

/// Parses decoded CSV text into a [`Sheet`]. Blank lines and rows of empty fields are
/// skipped; row numbers are the file's line numbers, as Excel shows them.
/// A cell as written, less Excel's text marker: the `'` that keeps `+1 512…` or `=x` from
/// being read as a formula (ct-onboard's own reports add it) is not part of the value.
pub fn without_text_marker(field: &str) -> &str {
    match field.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => field,
    }
}

pub fn parse_delimited(file: &str, text: &str) -> Result<Sheet, Problem> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sniff_delimiter(text))
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut headers: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut building = RowBuilder::default();
    let mut lines = LineCounter::new(text);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let row = e.position().map_or(0, |p| lines.line_at(p.byte()));
                return Err(Problem::new(
                    file,
                    Place::Row(row),
                    format!("the CSV cannot be read here: {e}"),
                ));
            }
        }
        // Every record is a row, blank ones too: count it before skipping it.
        let number = record.position().map_or(0, |p| lines.line_at(p.byte()));
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        let Some(header) = &headers else {
            headers = Some(record.iter().map(|h| h.trim().to_owned()).collect());
            continue;
        };
        if record.len() > header.len()
            && record
                .iter()
                .skip(header.len())
                .any(|f| !f.trim().is_empty())
        {
            problems.push(Problem::in_row(
                file,
                number,
                None,
                format!(
                    "this row has {} fields but the header has {}: a delimiter inside an unquoted value?",
                    record.len(),
                    header.len()
                ),
            ));
        }
        for field in record.iter().take(header.len()) {
            building.push(if field.is_empty() {
                Cell::Empty
            } else {
                Cell::Text(without_text_marker(field))
            });
        }
        rows.push(building.finish_as_is(number));
    }
    let Some(headers) = headers else {
        return Err(Problem::new(
            file,
            Place::File,
            "the file is empty: no header row and no data",
        ));
    };
    Ok(Sheet {
        file: file.to_owned(),
        headers,
        rows,
        problems,
        sha256: None,
    })
}

/// Spreadsheet row numbers of CSV records, as a spreadsheet shows them: each record is
/// one row however many line breaks its quoted cells hold, and each empty line between
/// records is a row too. A line break is LF, CRLF or a bare CR (a "CSV (Macintosh)" file).
struct LineCounter<'a> {
    text: &'a [u8],
    /// The row of the last record asked about (0: none yet).
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text: text.as_bytes(),
            line: 0,
        }
    }

    /// The row of the record starting at `byte` (skipping line breaks it starts on).
    /// Records must be asked about in order.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while start < self.text.len() && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        // Only the run of breaks just before the record counts: breaks inside the
        // previous record's quoted cells are not rows.
        let run_start = self.text[..start]
            .iter()
            .rposition(|b| !matches!(b, b'\r' | b'\n'))
            .map_or(0, |i| i + 1);
        let breaks = line_breaks(&self.text[run_start..start]);
        self.line = if self.line == 0 {
            1 + breaks
        } else {
            self.line + breaks.max(1)
        };
        self.line
    }
}

/// Line breaks in a run of CR and LF bytes: CRLF is one, a lone CR or LF is one.
fn line_breaks(run: &[u8]) -> u64 {
    let mut breaks = 0;
    let mut i = 0;
    while i < run.len() {
        breaks += 1;
        i += if run[i] == b'\r' && run.get(i + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
    }
    breaks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_delimiter() {
        assert_eq!(sniff_delimiter("a,b,c\n"), b',');
        assert_eq!(sniff_delimiter("a;b;c\n1,5;2;3"), b';');
        assert_eq!(sniff_delimiter("a\tb\tc\n"), b'\t');
        assert_eq!(sniff_delimiter("\"x;y\",b,c\n"), b',');
        assert_eq!(sniff_delimiter("single\n"), b',');
    }

    #[test]
    fn numbers_rows_by_line_and_skips_blank_lines() {
        for text in [
            "id,type\r\n\r\n1,a\r\n,\r\n2,b\r\n",
            "id,type\n\n1,a\n,\n2,b",
            "\nid,type\n\n1,a\n,\n2,b\n",
        ] {
            let sheet = parse_delimited("h.csv", text).unwrap();
            assert_eq!(sheet.headers, ["id", "type"]);
            let numbers: Vec<u64> = sheet.rows.iter().map(|r| r.number).collect();
            let shift = u64::from(text.starts_with('\n'));
            assert_eq!(numbers, [3 + shift, 5 + shift], "{text:?}");
        }
    }

    #[test]
    fn quoted_fields_keep_delimiters_and_newlines() {
        let sheet = parse_delimited("h.csv", "id,note\n1,\"a, b\nc\"\n2,x\n").unwrap();
        assert_eq!(sheet.rows[0].cell(1), Cell::Text("a, b\nc"));
        assert_eq!(
            sheet.rows[1].number, 3,
            "a line break inside a cell is not a row"
        );
    }

    #[test]
    fn bare_cr_and_crlf_files_number_rows_as_a_spreadsheet_does() {
        for text in ["id,type\r1,a\r\r2,b\r", "id,type\r\n1,a\r\n\r\n2,b\r\n"] {
            let sheet = parse_delimited("h.csv", text).unwrap();
            let numbers: Vec<u64> = sheet.rows.iter().map(|r| r.number).collect();
            assert_eq!(numbers, [2, 4], "{text:?}");
        }
    }

    #[test]
    fn excels_text_marker_is_not_part_of_the_value() {
        assert_eq!(without_text_marker("'+1 512 555 0101"), "+1 512 555 0101");
        assert_eq!(without_text_marker("'=SUM(A1)"), "=SUM(A1)");
        assert_eq!(without_text_marker("O'Neill"), "O'Neill");
        assert_eq!(without_text_marker("'quoted'"), "'quoted'");
    }

    #[test]
    fn extra_fields_are_a_row_problem_but_trailing_empties_are_not() {
        let sheet = parse_delimited("h.csv", "a,b\n1,2,,\n1,2,3\n").unwrap();
        assert_eq!(sheet.problems.len(), 1);
        assert_eq!(sheet.problems[0].sheet_row, Some(3));
    }

    #[test]
    fn empty_input_is_an_error() {
        let err = parse_delimited("h.csv", "\n\n").unwrap_err();
        assert!(err.message.contains("empty"), "{err}");
    }
}
