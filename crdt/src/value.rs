//! A field's value: checked against its type on the way in, stored as an
//! automerge scalar, rendered back to JSON on the way out.
//!
//! Decimals (money, rates, quantities) never pass through a float: they are
//! parsed from their text into a scaled integer and rendered as a string.

use automerge::ScalarValue;
use serde_json::Value as Json;

use crate::ident;
use crate::schema::FieldType;

/// A checked value, as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FieldValue {
    Text(String),
    /// A decimal scaled by 10^places, or a count.
    Int(i64),
    Bool(bool),
}

impl FieldValue {
    pub(crate) fn to_scalar(&self) -> ScalarValue {
        match self {
            FieldValue::Text(s) => ScalarValue::Str(s.as_str().into()),
            FieldValue::Int(i) => ScalarValue::Int(*i),
            FieldValue::Bool(b) => ScalarValue::Boolean(*b),
        }
    }

    pub(crate) fn from_scalar(s: &ScalarValue) -> Option<FieldValue> {
        match s {
            ScalarValue::Str(s) => Some(FieldValue::Text(s.to_string())),
            ScalarValue::Int(i) => Some(FieldValue::Int(*i)),
            ScalarValue::Uint(u) => i64::try_from(*u).ok().map(FieldValue::Int),
            ScalarValue::Boolean(b) => Some(FieldValue::Bool(*b)),
            _ => None,
        }
    }

    /// Renders the value as the API and exports show it.
    pub fn to_json(&self, ty: FieldType) -> Json {
        match (self, ty) {
            (FieldValue::Int(i), FieldType::Decimal(places)) => {
                Json::String(format_decimal(*i, places))
            }
            (FieldValue::Int(i), _) => Json::from(*i),
            (FieldValue::Text(s), _) => Json::String(s.clone()),
            (FieldValue::Bool(b), _) => Json::Bool(*b),
        }
    }
}

/// Checks a JSON value against a field type and normalises it (punctuation
/// stripped from identifiers, decimals scaled). The error is the reason shown
/// to the user, next to the field name.
pub fn parse_value(ty: FieldType, value: &Json) -> Result<FieldValue, String> {
    match ty {
        FieldType::Decimal(places) => decimal_of_json(value, places).map(FieldValue::Int),
        FieldType::Count => {
            let text = scalar_text(value)?;
            let n: i64 = text
                .trim()
                .parse()
                .map_err(|_| format!("expected a whole number, found {text:?}"))?;
            if n < 0 {
                return Err("must not be negative".into());
            }
            Ok(FieldValue::Int(n))
        }
        FieldType::Bool => match value {
            Json::Bool(b) => Ok(FieldValue::Bool(*b)),
            Json::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "sim" | "s" => Ok(FieldValue::Bool(true)),
                "false" | "0" | "no" | "nao" | "não" | "n" => Ok(FieldValue::Bool(false)),
                _ => Err(format!("expected true or false, found {s:?}")),
            },
            Json::Number(n) if n.as_u64() == Some(1) => Ok(FieldValue::Bool(true)),
            Json::Number(n) if n.as_u64() == Some(0) => Ok(FieldValue::Bool(false)),
            other => Err(format!("expected true or false, found {other}")),
        },
        _ => {
            let text = match value {
                Json::String(s) => s.clone(),
                // A code typed as a number in a spreadsheet ("ncm": 84713012) is still a code.
                Json::Number(n) if n.is_u64() => n.to_string(),
                other => return Err(format!("expected text, found {}", json_type(other))),
            };
            parse_text(ty, &text).map(FieldValue::Text)
        }
    }
}

fn parse_text(ty: FieldType, text: &str) -> Result<String, String> {
    let err = |e: ident::IdentError| e.to_string();
    match ty {
        FieldType::Text(max) => {
            let t = text.trim();
            if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err("contains control characters".into());
            }
            let n = t.chars().count();
            if n > max {
                return Err(format!("longer than {max} characters ({n})"));
            }
            Ok(t.to_string())
        }
        FieldType::Cpf => ident::cpf(text).map_err(err),
        FieldType::Cnpj => ident::cnpj(text).map_err(err),
        FieldType::Email => ident::email(text).map_err(err),
        FieldType::ZipCode => ident::cep(text).map_err(err),
        FieldType::State => ident::uf(text).map_err(err),
        FieldType::Gtin => ident::gtin(text).map_err(err),
        FieldType::Ncm => ident::ncm(text).map_err(err),
        FieldType::Cest => ident::cest(text).map_err(err),
        FieldType::Cfop => ident::cfop(text).map_err(err),
        FieldType::Phone => {
            let t = text.trim();
            if let Some(c) = t
                .chars()
                .find(|c| !(c.is_ascii_digit() || " +-().".contains(*c)))
            {
                return Err(format!("unexpected character {c:?} in a phone number"));
            }
            let digits = t.chars().filter(char::is_ascii_digit).count();
            if !(8..=15).contains(&digits) {
                return Err(format!("a phone number has 8 to 15 digits, found {digits}"));
            }
            Ok(t.to_string())
        }
        FieldType::Date => parse_date(text.trim()).map(|()| text.trim().to_string()),
        FieldType::Choice(options) => {
            let t = text.trim().to_ascii_lowercase();
            if options.contains(&t.as_str()) {
                Ok(t)
            } else {
                Err(format!("must be one of {}", options.join(", ")))
            }
        }
        FieldType::Decimal(_) | FieldType::Count | FieldType::Bool => {
            Err("internal: not a text type".into())
        }
    }
}

fn scalar_text(value: &Json) -> Result<String, String> {
    match value {
        Json::String(s) => Ok(s.clone()),
        // serde_json keeps the shortest text that round-trips, so a number
        // written as 12.34 comes back as "12.34" and is parsed exactly.
        Json::Number(n) => Ok(n.to_string()),
        other => Err(format!("expected a number, found {}", json_type(other))),
    }
}

fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "text",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// The ways a decimal may be written, as error messages show them.
pub const DECIMAL_FORMS: &str =
    "a JSON number, 1500 or 1500.50 or 1500,50, or grouped as 1.500,50 (pt-BR) or 1,500.50";

/// A decimal from JSON: a number is read plainly (JSON numbers are never
/// grouped); text as [`parse_decimal`] reads it.
pub fn decimal_of_json(value: &Json, places: u8) -> Result<i64, String> {
    match value {
        // serde_json keeps the shortest text that round-trips, so a number
        // written as 12.34 comes back as "12.34" and is read exactly.
        Json::Number(n) => {
            let text = n.to_string();
            let t = text.strip_prefix('-').map_or(text.as_str(), |_| "");
            if t.is_empty() {
                return Err("must not be negative".into());
            }
            if t.contains(['e', 'E']) {
                return Err(format!(
                    "write the number plainly, not in exponent form ({text:?})"
                ));
            }
            let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
            scaled(whole, frac, places, &text)
        }
        other => parse_decimal(&scalar_text(other)?, places),
    }
}

/// Parses a decimal written as text into an integer scaled by 10^places:
/// `1500`, `1500.50`, `1500,50`, `1.500,50`, `1,500.50`, `1.500.000`. With
/// both separators the last is the decimal one and the other groups
/// thousands; a separator used more than once groups thousands. One that
/// could be either, a single `.` or `,` followed by exactly three digits
/// (`1.500`: one thousand five hundred in pt-BR, one and a half elsewhere),
/// is refused, never read the small way; except that in a field of three
/// places or more a dot and three digits is read as elo writes quantities
/// (`7.000` is seven), so what elo exports imports again. More decimal places than the field
/// keeps is an error, not a rounding: money is exact.
pub fn parse_decimal(text: &str, places: u8) -> Result<i64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("expected a number, found nothing".into());
    }
    if t.starts_with('-') {
        return Err("must not be negative".into());
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.contains(['e', 'E']) {
        return Err(format!(
            "write the number plainly, not in exponent form ({text:?})"
        ));
    }
    let (whole, frac) = separate(t, text, places)?;
    scaled(&whole, &frac, places, text)
}

/// The whole and fractional digits of a decimal's text, by the rules of
/// [`parse_decimal`].
fn separate(t: &str, text: &str, places: u8) -> Result<(String, String), String> {
    let dots = t.matches('.').count();
    let commas = t.matches(',').count();
    let at = |sep: char| t.rfind(sep).unwrap_or(t.len());
    match (dots, commas) {
        (0, 0) => Ok((t.to_owned(), String::new())),
        (d, c) if d > 0 && c > 0 => {
            let (decimal, group) = if at('.') > at(',') {
                ('.', ',')
            } else {
                (',', '.')
            };
            let (whole, frac) = t.rsplit_once(decimal).unwrap_or((t, ""));
            if whole.contains(decimal) {
                return Err(format!(
                    "two decimal separators in {text:?}; write {DECIMAL_FORMS}"
                ));
            }
            Ok((ungroup(whole, group, text)?, frac.to_owned()))
        }
        (d, c) if d > 1 || c > 1 => {
            let group = if d > 1 { '.' } else { ',' };
            Ok((ungroup(t, group, text)?, String::new()))
        }
        _ => {
            let sep = if dots == 1 { '.' } else { ',' };
            let (whole, frac) = t.split_once(sep).unwrap_or((t, ""));
            // In a field of three places or more, `7.000` is how elo itself
            // writes seven: read it so, or an export would not import.
            let own_form = sep == '.' && places >= 3;
            let digits3 = frac.len() == 3 && frac.chars().all(|c| c.is_ascii_digit());
            if digits3 && is_group_head(whole) && !own_form {
                let small = frac.trim_end_matches('0');
                let small = if small.is_empty() { "0" } else { small };
                let grouped = if sep == '.' { "1.500,00" } else { "1,500.00" };
                return Err(format!(
                    "{text:?} can be read two ways, {whole}{frac} or {whole}.{small}: write \
                     {whole}{frac} (or grouped with decimals, as {grouped}) or {whole}.{small}; \
                     accepted: {DECIMAL_FORMS}"
                ));
            }
            Ok((whole.to_owned(), frac.to_owned()))
        }
    }
}

/// Whether digits could open a grouped number: one to three, not led by 0.
fn is_group_head(s: &str) -> bool {
    (1..=3).contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit()) && !s.starts_with('0')
}

/// The digits of a number grouped by `sep` in threes (`1.500.000`).
fn ungroup(s: &str, sep: char, text: &str) -> Result<String, String> {
    let mut groups = s.split(sep);
    let head = groups.next().unwrap_or_default();
    let rest: Vec<&str> = groups.collect();
    let well_grouped = is_group_head(head)
        && rest
            .iter()
            .all(|g| g.len() == 3 && g.chars().all(|c| c.is_ascii_digit()));
    if !well_grouped {
        return Err(format!(
            "{text:?} is not grouped in thousands (1.500.000,00 or 1,500,000.00); write {DECIMAL_FORMS}"
        ));
    }
    Ok(std::iter::once(head).chain(rest).collect())
}

/// `whole.frac` as an integer scaled by 10^places.
fn scaled(whole: &str, frac: &str, places: u8, text: &str) -> Result<i64, String> {
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !all_digits(whole) || !all_digits(frac) {
        return Err(format!(
            "expected a number, found {text:?}; write {DECIMAL_FORMS}"
        ));
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > usize::from(places) {
        return Err(format!("more than {places} decimal places ({text:?})"));
    }
    let overflow = || format!("too large ({text:?})");
    let mut value: i64 = 0;
    for c in whole.chars().chain(frac.chars()) {
        let d = i64::from(c as u8 - b'0');
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(d))
            .ok_or_else(overflow)?;
    }
    for _ in frac.len()..usize::from(places) {
        value = value.checked_mul(10).ok_or_else(overflow)?;
    }
    Ok(value)
}

/// Renders a scaled integer with exactly `places` decimals.
pub fn format_decimal(value: i64, places: u8) -> String {
    if places == 0 {
        return value.to_string();
    }
    let scale = 10i64.pow(u32::from(places));
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    let scale = scale.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = usize::from(places)
    )
}

fn parse_date(text: &str) -> Result<(), String> {
    let bad = || format!("expected a date as YYYY-MM-DD, found {text:?}");
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (y, m, d): (u32, u32, u32) = match (y.parse(), m.parse(), d.parse()) {
        (Ok(y), Ok(m), Ok(d)) => (y, m, d),
        _ => return Err(bad()),
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(format!("no month {m} in {text:?}")),
    };
    if d == 0 || d > days || y < 1800 {
        return Err(format!("no such day: {text:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("12.34", 2), Ok(1234));
        assert_eq!(parse_decimal("1.234,50", 2), Ok(123450));
        assert_eq!(parse_decimal("0,1", 2), Ok(10));
        assert_eq!(parse_decimal("7", 3), Ok(7000));
        assert_eq!(parse_decimal("12.3400", 2), Ok(1234));
        assert!(
            parse_decimal("12.3456", 2)
                .unwrap_err()
                .contains("decimal places")
        );
        assert!(parse_decimal("-1", 2).unwrap_err().contains("negative"));
        assert!(parse_decimal("1e3", 2).is_err());
        assert!(parse_decimal("abc", 2).is_err());
        assert!(parse_decimal(".", 2).is_err());
        assert!(
            parse_decimal("99999999999999999999", 2)
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(format_decimal(1234, 2), "12.34");
        assert_eq!(format_decimal(5, 2), "0.05");
        assert_eq!(format_decimal(150000, 2), "1500.00");
    }

    #[test]
    fn json_numbers_parse_without_float_error() {
        let v: Json = serde_json::from_str("0.1").unwrap();
        assert_eq!(
            parse_value(FieldType::Decimal(2), &v),
            Ok(FieldValue::Int(10))
        );
        let v: Json = serde_json::from_str("1999.99").unwrap();
        assert_eq!(
            parse_value(FieldType::Decimal(2), &v),
            Ok(FieldValue::Int(199999))
        );
    }

    /// Every grouping form, read the one way it can be read, or refused
    /// when it can be read two ways.
    #[test]
    fn grouped_decimals_are_read_one_way_or_refused() {
        let ok = |t: &str, places: u8, want: i64| {
            assert_eq!(parse_decimal(t, places), Ok(want), "{t:?}");
        };
        // pt-BR: dots group, a comma is the decimal separator.
        ok("1.500,50", 2, 150_050);
        ok("1.500,5", 2, 150_050);
        ok("1.500.000,00", 2, 150_000_000);
        ok("1.500.000", 2, 150_000_000);
        ok("12.500.000,7", 3, 12_500_000_700);
        ok("1500,50", 2, 150_050);
        ok("0,500", 3, 500);
        // The other way round: commas group, a dot is the decimal one.
        ok("1,500.50", 2, 150_050);
        ok("1,500,000.00", 2, 150_000_000);
        ok("1,500,000", 2, 150_000_000);
        // Plain.
        ok("1500", 2, 150_000);
        ok("1500.5", 2, 150_050);
        ok("1.5", 2, 150);
        ok("1.50", 2, 150);
        ok("0.500", 3, 500);
        ok("1234.500", 3, 1_234_500);
        // Quantities as elo writes them.
        ok("7.000", 3, 7_000);
        ok("22.500", 3, 22_500);
        ok("18.000", 4, 180_000);
        assert!(parse_decimal("1,500", 3).unwrap_err().contains("two ways"));
        ok("+7", 0, 7);
        // Two readings: refused, with both shown.
        for t in ["1.500", "1,500", "12.345", "999,000", "1.000"] {
            let e = parse_decimal(t, 2).unwrap_err();
            assert!(
                e.contains("two ways") && e.contains("1500,50"),
                "{t:?}: {e}"
            );
        }
        let e = parse_decimal("1.500", 2).unwrap_err();
        assert!(e.contains("1500 ") && e.contains("1.5;"), "{e}");
        // Badly grouped or mixed up.
        for t in [
            "1.50.000",
            "15.00,00",
            "1,5.00",
            "1.500,000.5",
            ",5,",
            "1..5",
            "0.500.000",
        ] {
            assert!(parse_decimal(t, 2).is_err(), "{t:?}");
        }
        // JSON numbers are never grouped: 1.5 is one and a half.
        let n = |t: &str| serde_json::from_str::<Json>(t).expect("number");
        assert_eq!(decimal_of_json(&n("1.500"), 3), Ok(1_500));
        assert_eq!(decimal_of_json(&n("1500"), 2), Ok(150_000));
        assert!(decimal_of_json(&n("-1.5"), 2).is_err());
        assert!(decimal_of_json(&n("1e-7"), 2).is_err());
        assert_eq!(
            decimal_of_json(&Json::String("1.500,50".into()), 2),
            Ok(150_050)
        );
    }

    #[test]
    fn dates() {
        assert!(parse_date("2024-02-29").is_ok());
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2023-13-01").is_err());
        assert!(parse_date("01/02/2023").is_err());
    }
}
