//! A problem found in the user's input, with the place it was found.
//!
//! Every validation step returns these instead of stopping at the first one, so that
//! the user can fix a whole sheet in one pass.

use std::fmt;

/// Where in a file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The file as a whole (missing, empty, unreadable).
    File,
    /// A whole row of a sheet or CSV manifest (row numbers as a spreadsheet shows them).
    Row(u64),
    /// One cell: row number and the column's header as written, with its letter.
    Cell { row: u64, column: String },
    /// A line and column of a text file such as the YAML manifest.
    Text { line: u64, column: u64 },
    /// A setting of the settings file or a flag.
    Setting(String),
}

/// One thing wrong with the input, phrased for the person who has to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub place: Place,
    pub message: String,
    /// The sheet row this problem makes invalid, if it concerns one row only.
    /// `--skip-invalid` leaves such rows out; any other problem stops the run.
    pub sheet_row: Option<u64>,
}

impl Problem {
    pub fn new(file: impl Into<String>, place: Place, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            place,
            message: message.into(),
            sheet_row: None,
        }
    }

    /// A problem with one row of the new-hire sheet.
    pub fn in_row(
        file: &str,
        row: u64,
        column: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        let place = match column {
            Some(column) => Place::Cell { row, column },
            None => Place::Row(row),
        };
        Self {
            sheet_row: Some(row),
            ..Self::new(file, place, message)
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        match &self.place {
            Place::File => {}
            Place::Row(row) => write!(f, ": row {row}")?,
            Place::Cell { row, column } => write!(f, ": row {row}, column {column}")?,
            Place::Text { line, column } => write!(f, ": line {line}, column {column}")?,
            Place::Setting(name) => write!(f, ": setting `{name}`")?,
        }
        write!(f, ": {}", self.message)
    }
}

/// A value from the user's files, quoted for a message: at most [`Quoted::MAX`]
/// characters of it, with its length when it is longer, so that one hostile cell cannot
/// make a message of megabytes.
#[derive(Debug, Clone, Copy)]
pub struct Quoted<'a>(pub &'a str);

impl Quoted<'_> {
    pub const MAX: usize = 80;
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(Self::MAX) {
            None => write!(f, "\"{}\"", visible(self.0)),
            Some((cut, _)) => write!(
                f,
                "\"{}…\" ({} characters)",
                visible(&self.0[..cut]),
                self.0.chars().count()
            ),
        }
    }
}

/// Whether a character is invisible or reorders text around it: controls, zero-width
/// characters, the soft hyphen, and the bidirectional marks, embeddings and overrides.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// The text with each invisible character written out (`\u{200b}`), so that a message
/// quoting `ana\u{200b}@x.io` does not show a correct-looking `ana@x.io`, and a
/// right-to-left override cannot turn the words after it around.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_invisible) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_invisible(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Spreadsheet column letter for a zero-based index: 0 → A, 25 → Z, 26 → AA.
pub fn column_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(b'A' + u8::try_from(rem).expect("remainder below 26"));
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

/// How a column is named in messages: its header and its letter, `"User ID" (B)`.
pub fn column_label(header: &str, index: usize) -> String {
    format!("\"{}\" ({})", visible(header), column_letter(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_are_written_out_in_quotes() {
        assert_eq!(
            Quoted("ana\u{200b}@x.io").to_string(),
            "\"ana\\u{200b}@x.io\""
        );
        assert_eq!(Quoted("\u{202e}LIAF").to_string(), "\"\\u{202e}LIAF\"");
        assert_eq!(Quoted("a\tb").to_string(), "\"a\\u{9}b\"");
        assert_eq!(Quoted("Zoë 李").to_string(), "\"Zoë 李\"");
        assert_eq!(column_label("User\u{feff}ID", 1), "\"User\\u{feff}ID\" (B)");
    }

    #[test]
    fn long_values_are_quoted_in_part_with_their_length() {
        assert_eq!(Quoted("abc").to_string(), "\"abc\"");
        let long = "x".repeat(50_000);
        let shown = Quoted(&long).to_string();
        assert!(shown.len() < 120, "{shown}");
        assert!(shown.ends_with("…\" (50000 characters)"), "{shown}");
        let accents = "é".repeat(81);
        assert!(Quoted(&accents).to_string().contains("(81 characters)"));
    }

    #[test]
    fn column_letters_follow_spreadsheet_order() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(701), "ZZ");
        assert_eq!(column_letter(702), "AAA");
    }

    #[test]
    fn display_names_file_row_and_column() {
        let p = Problem::in_row("hires.csv", 7, Some(column_label("User ID", 1)), "bad");
        assert_eq!(
            p.to_string(),
            "hires.csv: row 7, column \"User ID\" (B): bad"
        );
        assert_eq!(p.sheet_row, Some(7));
    }
}
