//! The rules for reading one value out of a cell. Each returns a message fit for the
//! person fixing the sheet; the caller adds the file, row and column.

use jiff::civil::Date;

use crate::problem::Quoted;

use super::Cell;

/// Largest integer an f64 holds exactly: beyond it a "number" cell has lost digits.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// Formats a number cell for display: whole numbers without a decimal point.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < MAX_EXACT {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

/// A Connecteam user ID: a positive whole number. `9170357.0` (a spreadsheet float) is
/// accepted; `9.17E+06` is refused because its digits are gone.
pub fn user_id(cell: Cell<'_>) -> Result<Option<u64>, String> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Number(n) => {
            if n.fract() != 0.0 || !(1.0..=MAX_EXACT).contains(&n) {
                Err(format!(
                    "{} is not a Connecteam user ID (a positive whole number)",
                    format_number(n)
                ))
            } else {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "checked whole and in range"
                )]
                Ok(Some(n as u64))
            }
        }
        Cell::Text(raw) => {
            let s = raw.trim();
            if s.is_empty() {
                return Ok(None);
            }
            let digits = match s.split_once('.') {
                Some((whole, fraction))
                    if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') =>
                {
                    whole
                }
                _ => s,
            };
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                // The API's user IDs, and the journal's, are 64-bit signed integers.
                return match digits.parse::<u64>() {
                    Ok(0) => Err("0 is not a Connecteam user ID (a positive whole number)".into()),
                    Ok(id) if i64::try_from(id).is_ok() => Ok(Some(id)),
                    _ => Err(format!(
                        "{} is too large to be a Connecteam user ID (at most {})",
                        Quoted(s),
                        i64::MAX
                    )),
                };
            }
            if s.contains(['e', 'E']) && s.parse::<f64>().is_ok() {
                return Err(format!(
                    "{} is in scientific notation and its digits are lost; format the column as \
                     Number with no decimals (or as Text) in Excel and export again",
                    Quoted(s)
                ));
            }
            Err(format!(
                "{} is not a Connecteam user ID (a positive whole number)",
                Quoted(s)
            ))
        }
        other => Err(format!(
            "{} is not a Connecteam user ID (a positive whole number)",
            Quoted(&other.display())
        )),
    }
}

/// An email address, trimmed and lower-cased for matching.
pub fn email(cell: Cell<'_>) -> Result<Option<String>, String> {
    let Some(s) = text(cell) else { return Ok(None) };
    let lower = s.to_lowercase();
    let valid = match lower.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !lower.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if valid && lower.chars().any(crate::problem::is_invisible) {
        Err(format!(
            "{} holds an invisible character, so it is not the address it looks like",
            Quoted(&s)
        ))
    } else if valid {
        Ok(Some(lower))
    } else {
        Err(format!("{} is not an email address", Quoted(&s)))
    }
}

/// A phone number as E.164 (`+15551234567`), the form Connecteam keys users by. Text or
/// a number cell; one without a country code takes `country` (the `default_country`
/// setting). The number must be valid for its country by libphonenumber's rules (which
/// ranges are in use there), not merely of a possible length.
pub fn phone(
    cell: Cell<'_>,
    country: Option<phonenumber::country::Id>,
) -> Result<Option<String>, String> {
    let text = match cell {
        Cell::Empty => return Ok(None),
        Cell::Number(n) if n.fract() == 0.0 && (1.0..MAX_EXACT).contains(&n) => format_number(n),
        Cell::Text(t) => t.trim().to_owned(),
        other => {
            return Err(format!(
                "{} is not a phone number",
                Quoted(&other.display())
            ));
        }
    };
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().any(crate::problem::is_invisible) {
        return Err(format!(
            "{} holds an invisible character, so it is not the number it looks like",
            Quoted(&text)
        ));
    }
    let international = text.starts_with('+');
    if !international && country.is_none() {
        return Err(format!(
            "{} has no country code: write it as +<country code> <number>, or set default_country \
             (such as US) for numbers without one",
            Quoted(&text)
        ));
    }
    let number = phonenumber::parse(if international { None } else { country }, &text)
        .map_err(|e| format!("{} is not a phone number ({e})", Quoted(&text)))?;
    if !phonenumber::is_valid(&number) {
        let whose = match number.country().id() {
            Some(id) => format!("for {}", id.as_ref()),
            None => format!("for country code +{}", number.code().value()),
        };
        return Err(format!(
            "{} is not a valid phone number {whose} (no such number range is in use there)",
            Quoted(&text)
        ));
    }
    Ok(Some(
        number.format().mode(phonenumber::Mode::E164).to_string(),
    ))
}

/// Trimmed text, `None` when blank.
pub fn text(cell: Cell<'_>) -> Option<String> {
    let shown = cell.display();
    let trimmed = shown.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// A calendar date: a real date cell, ISO `YYYY-MM-DD` text, or text in the configured
/// `date_format` (strftime, such as `%d/%m/%Y`). Never a guess between day and month.
pub fn date(cell: Cell<'_>, format: Option<&str>) -> Result<Option<Date>, String> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Date(d) => Ok(Some(d)),
        Cell::Number(n) => Err(format!(
            "{} is a number, not a date; format the cell as a date in Excel",
            format_number(n)
        )),
        Cell::Text(raw) => {
            let s = raw.trim();
            if s.is_empty() {
                return Ok(None);
            }
            if let Some(fmt) = format {
                return Date::strptime(fmt, s).map(Some).map_err(|_| {
                    format!(
                        "{} does not match the configured date_format \"{fmt}\"",
                        Quoted(s)
                    )
                });
            }
            parse_iso_date(s).map(Some)
        }
        other => Err(format!("{} is not a date", Quoted(&other.display()))),
    }
}

/// Strict `YYYY-MM-DD`, with a precise message for the forms people actually write.
pub fn parse_iso_date(s: &str) -> Result<Date, String> {
    let b = s.as_bytes();
    let iso_shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if iso_shaped {
        return s
            .parse::<Date>()
            .map_err(|_| format!("{} is not a real date", Quoted(s)));
    }
    let parts: Vec<&str> = s.split(['/', '.', '-']).collect();
    if let [a, b, _year] = parts.as_slice()
        && let (Ok(a), Ok(b)) = (a.parse::<u8>(), b.parse::<u8>())
        && (1..=12).contains(&a)
        && (1..=12).contains(&b)
        && a != b
    {
        return Err(format!(
            "{} is ambiguous (day/month or month/day?); write it as YYYY-MM-DD, \
             or set date_format in the settings file",
            Quoted(s)
        ));
    }
    Err(format!(
        "{} is not a YYYY-MM-DD date; write it as YYYY-MM-DD, or set date_format in the settings file",
        Quoted(s)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Cell<'_> {
        Cell::Text(s)
    }

    #[test]
    fn user_ids_past_a_64_bit_signed_integer_are_refused() {
        assert_eq!(
            user_id(Cell::Text("9223372036854775807")),
            Ok(Some(i64::MAX as u64))
        );
        let err = user_id(Cell::Text("9223372036854775808")).unwrap_err();
        assert!(
            err.contains("too large") && err.contains("9223372036854775807"),
            "{err}"
        );
        assert!(user_id(Cell::Text("18446744073709551616")).is_err());
    }

    #[test]
    fn user_ids_accept_spreadsheet_floats_and_refuse_lost_digits() {
        assert_eq!(user_id(t(" 9170357 ")), Ok(Some(9_170_357)));
        assert_eq!(user_id(t("9170357.0")), Ok(Some(9_170_357)));
        assert_eq!(user_id(t("9170357.000")), Ok(Some(9_170_357)));
        assert_eq!(user_id(Cell::Number(9_170_357.0)), Ok(Some(9_170_357)));
        assert_eq!(user_id(Cell::Empty), Ok(None));
        assert!(
            user_id(t("9.17E+06"))
                .unwrap_err()
                .contains("scientific notation")
        );
        assert!(user_id(t("9170357.5")).is_err());
        assert!(user_id(t("0")).is_err());
        assert!(user_id(t("-4")).is_err());
        assert!(user_id(t("abc")).is_err());
        assert!(
            user_id(t("99999999999999999999999"))
                .unwrap_err()
                .contains("too large")
        );
        assert!(user_id(Cell::Number(1.5)).is_err());
    }

    #[test]
    fn phones_are_e164_valid_for_their_country_and_named_when_not() {
        use phonenumber::country::Id;
        let us = Some(Id::US);
        assert_eq!(
            phone(t("(201) 555-0123"), us),
            Ok(Some("+12015550123".into()))
        );
        assert_eq!(
            phone(t("+44 20 7946 0958"), us),
            Ok(Some("+442079460958".into())),
            "a code given wins over the default"
        );
        assert_eq!(
            phone(t("020 7946 0958"), Some(Id::GB)),
            Ok(Some("+442079460958".into()))
        );
        assert_eq!(
            phone(Cell::Number(12015550123.0), None),
            Err(r#""12015550123" has no country code: write it as +<country code> <number>, or set default_country (such as US) for numbers without one"#.into()),
        );
        assert_eq!(
            phone(Cell::Number(2015550123.0), us),
            Ok(Some("+12015550123".into()))
        );
        assert_eq!(phone(t("  "), us), Ok(None));
        let unused = phone(t("+1 555 000 0000"), None).unwrap_err();
        assert!(unused.contains("not a valid phone number"), "{unused}");
        assert!(phone(t("12"), us).unwrap_err().contains("not a"));
        assert!(phone(t("call me"), us).is_err());
        assert!(
            phone(t("+1 201\u{200b}555 0123"), us)
                .unwrap_err()
                .contains(r"\u{200b}")
        );
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            email(t(" Ana.Lopez@Example.COM ")),
            Ok(Some("ana.lopez@example.com".into()))
        );
        assert!(email(t("ana.lopez")).is_err());
        assert!(email(t("ana@localhost")).is_err());
        assert!(email(t("a b@x.com")).is_err());
        let hidden = email(t("ana\u{200b}@example.com")).unwrap_err();
        assert_eq!(
            hidden,
            r#""ana\u{200b}@example.com" holds an invisible character, so it is not the address it looks like"#
        );
        assert_eq!(email(t("  ")), Ok(None));
    }

    #[test]
    fn dates_are_iso_unless_configured_and_never_guessed() {
        let jan5 = jiff::civil::date(2027, 1, 5);
        assert_eq!(date(t("2027-01-05"), None), Ok(Some(jan5)));
        assert_eq!(date(Cell::Date(jan5), None), Ok(Some(jan5)));
        assert_eq!(date(t("05/01/2027"), Some("%d/%m/%Y")), Ok(Some(jan5)));
        assert!(
            date(t("01/02/2027"), None)
                .unwrap_err()
                .contains("ambiguous")
        );
        assert!(
            date(t("13/02/2027"), None)
                .unwrap_err()
                .contains("YYYY-MM-DD")
        );
        assert!(
            date(t("2027-02-30"), None)
                .unwrap_err()
                .contains("not a real date")
        );
        assert!(date(t("2027-1-5"), None).is_err());
        assert!(
            date(Cell::Number(46_388.0), None)
                .unwrap_err()
                .contains("number, not a date")
        );
        assert!(date(t("31/12/2027"), Some("%m/%d/%Y")).is_err());
    }

    #[test]
    fn numbers_display_without_spurious_decimals() {
        assert_eq!(format_number(9_170_357.0), "9170357");
        assert_eq!(format_number(7.5), "7.5");
    }
}
