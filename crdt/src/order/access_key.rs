//! The NF-e access key (chave de acesso): 44 characters that name one
//! invoice. The destination's ERP reports it when it invoices a linked
//! order; elo checks it against what the invoice says before anything is
//! stored, because a wrong key reaching the origin's marketplace is a
//! fiscal problem, not a typo.
//!
//! Layout: cUF (2) · AAMM (4) · emitter CNPJ (14) · model (2) · series (3) ·
//! number (9) · emission type (1) · random code (8) · check digit (1).

use std::fmt;

/// What the invoice says, to check the key against.
#[derive(Clone, Debug)]
pub struct InvoiceFacts<'a> {
    /// The emitter: the company that invoices (the order's destination).
    pub emitter_cnpj: &'a str,
    pub series: u32,
    pub number: u32,
    /// `YYYY-MM-DD`: the key carries the year and month of issue.
    pub issued_at: &'a str,
}

/// Why a key was refused; the text names the position and what was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessKeyError {
    #[error("an access key has 44 characters, this one has {0}")]
    Length(usize),
    #[error("character {position} ({ch:?}) must be a digit")]
    NotDigit { position: usize, ch: char },
    #[error("the check digit is {found}, the first 43 characters give {expected}")]
    CheckDigit { expected: u8, found: u8 },
    #[error("{0} is not the IBGE code of a UF")]
    State(String),
    #[error("the year and month are {found} (AAMM), the invoice was issued in {expected}")]
    Month { expected: String, found: String },
    #[error("the emitter's CNPJ in the key is {found}, the invoicing company is {expected}")]
    Emitter { expected: String, found: String },
    #[error("model {0} is not an NF-e (55) or an NFC-e (65)")]
    Model(String),
    #[error("the series in the key is {found}, the invoice says {expected}")]
    Series { expected: u32, found: u32 },
    #[error("the number in the key is {found}, the invoice says {expected}")]
    Number { expected: u32, found: u32 },
    #[error("issued_at must be a date YYYY-MM-DD, found {0:?}")]
    IssuedAt(String),
}

/// IBGE codes of the 27 federative units, as the key's first two digits.
const UF_CODES: [u8; 27] = [
    11, 12, 13, 14, 15, 16, 17, 21, 22, 23, 24, 25, 26, 27, 28, 29, 31, 32, 33, 35, 41, 42, 43, 50,
    51, 52, 53,
];

/// A checked access key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKey(String);

impl AccessKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The UF (IBGE code) the key was issued in.
    pub fn state_code(&self) -> &str {
        &self.0[0..2]
    }

    /// Checks `input` (spaces and dots allowed, as keys are printed in
    /// groups of four) against the invoice it is said to belong to.
    pub fn check(input: &str, facts: &InvoiceFacts<'_>) -> Result<AccessKey, AccessKeyError> {
        let key: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '.')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let chars: Vec<char> = key.chars().collect();
        if chars.len() != 44 {
            return Err(AccessKeyError::Length(chars.len()));
        }
        // The emitter's CNPJ (positions 7–20) may hold letters from July
        // 2026 in its first 12 places; everything else is digits.
        for (i, ch) in chars.iter().enumerate() {
            let position = i + 1;
            let letter_allowed = (7..=18).contains(&position);
            let ok = ch.is_ascii_digit() || (letter_allowed && ch.is_ascii_uppercase());
            if !ok {
                return Err(AccessKeyError::NotDigit { position, ch: *ch });
            }
        }
        let expected = check_digit(&chars[..43]);
        let found = chars[43] as u8 - b'0';
        if expected != found {
            return Err(AccessKeyError::CheckDigit { expected, found });
        }
        let part = |from: usize, to: usize| key[from - 1..to].to_string();
        let uf = part(1, 2);
        if !uf.parse::<u8>().is_ok_and(|c| UF_CODES.contains(&c)) {
            return Err(AccessKeyError::State(uf));
        }
        check_month(&part(3, 6), facts.issued_at)?;
        let emitter = part(7, 20);
        if emitter != facts.emitter_cnpj {
            return Err(AccessKeyError::Emitter {
                expected: facts.emitter_cnpj.to_string(),
                found: emitter,
            });
        }
        let model = part(21, 22);
        if model != "55" && model != "65" {
            return Err(AccessKeyError::Model(model));
        }
        let series = number_in(&part(23, 25));
        if series != facts.series {
            return Err(AccessKeyError::Series {
                expected: facts.series,
                found: series,
            });
        }
        let number = number_in(&part(26, 34));
        if number != facts.number {
            return Err(AccessKeyError::Number {
                expected: facts.number,
                found: number,
            });
        }
        Ok(AccessKey(key))
    }
}

impl fmt::Display for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Module 11 over the first 43 characters, weights 2 to 9 from the right;
/// a remainder of 0 or 1 gives 0. A letter counts as its ASCII code minus
/// 48, as in the alphanumeric CNPJ.
pub fn check_digit(first_43: &[char]) -> u8 {
    let sum: u32 = first_43
        .iter()
        .rev()
        .zip((2u32..=9).cycle())
        .map(|(c, w)| (u32::from(*c).saturating_sub(48)) * w)
        .sum();
    match sum % 11 {
        0 | 1 => 0,
        r => (11 - r) as u8,
    }
}

/// The parts of a key, as [`compose`] takes them.
#[derive(Clone, Copy, Debug)]
pub struct KeyParts<'a> {
    /// The IBGE code of the UF, two digits (`35` is SP).
    pub uf: &'a str,
    /// Year and month of issue, `AAMM`.
    pub aamm: &'a str,
    pub emitter_cnpj: &'a str,
    /// `55` (NF-e) or `65` (NFC-e).
    pub model: &'a str,
    pub series: u32,
    pub number: u32,
}

/// A key made of its parts with its check digit, normal emission and a
/// fixed random code: what an ERP reports, for the demo and tests.
pub fn compose(p: KeyParts<'_>) -> String {
    let body = format!(
        "{}{}{}{}{:03}{:09}100000001",
        p.uf, p.aamm, p.emitter_cnpj, p.model, p.series, p.number
    );
    let chars: Vec<char> = body.chars().collect();
    format!("{body}{}", check_digit(&chars))
}

fn number_in(digits: &str) -> u32 {
    // Only called on positions already checked to be digits.
    digits.parse().unwrap_or(u32::MAX)
}

fn check_month(aamm: &str, issued_at: &str) -> Result<(), AccessKeyError> {
    let bad_date = || AccessKeyError::IssuedAt(issued_at.to_string());
    let (year, rest) = issued_at.split_once('-').ok_or_else(bad_date)?;
    let month = rest.get(..2).ok_or_else(bad_date)?;
    if year.len() != 4
        || !year
            .bytes()
            .chain(month.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(bad_date());
    }
    let expected = format!("{}{month}", &year[2..]);
    if aamm != expected {
        return Err(AccessKeyError::Month {
            expected: format!("{year}-{month}"),
            found: aamm.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RJ_2015: &str = "33150308370779000149550010001100931002410775";

    fn facts<'a>(cnpj: &'a str, series: u32, number: u32, at: &'a str) -> InvoiceFacts<'a> {
        InvoiceFacts {
            emitter_cnpj: cnpj,
            series,
            number,
            issued_at: at,
        }
    }

    #[test]
    fn a_published_key_is_accepted_in_groups_of_four() {
        let f = facts("08370779000149", 1, 110093, "2015-03-20");
        let grouped = "3315 0308 3707 7900 0149 5500 1000 1100 9310 0241 0775";
        let key = AccessKey::check(grouped, &f).expect("valid key");
        assert_eq!(key.as_str(), RJ_2015);
        assert_eq!(key.state_code(), "33");
    }

    #[test]
    fn remainder_zero_gives_check_digit_zero() {
        let digits: Vec<char> = "1318101792142700012565001000000030988725117"
            .chars()
            .collect();
        assert_eq!(check_digit(&digits), 0);
        let moc: Vec<char> = "520604330099110025065501200000078002673016"
            .chars()
            .collect();
        let mut moc43 = moc.clone();
        moc43.push('1');
        assert_eq!(check_digit(&moc43), 5);
    }

    #[test]
    fn each_wrong_part_is_named() {
        let f = facts("08370779000149", 1, 110093, "2015-03-20");
        let mut wrong_dv = RJ_2015.to_string();
        wrong_dv.replace_range(43..44, "4");
        assert_eq!(
            AccessKey::check(&wrong_dv, &f),
            Err(AccessKeyError::CheckDigit {
                expected: 5,
                found: 4
            })
        );
        assert_eq!(
            AccessKey::check(&RJ_2015[..43], &f),
            Err(AccessKeyError::Length(43))
        );
        let other = facts("11222333000181", 1, 110093, "2015-03-20");
        assert!(matches!(
            AccessKey::check(RJ_2015, &other),
            Err(AccessKeyError::Emitter { .. })
        ));
        let later = facts("08370779000149", 1, 110093, "2015-04-01");
        assert!(matches!(
            AccessKey::check(RJ_2015, &later),
            Err(AccessKeyError::Month { .. })
        ));
        let series = facts("08370779000149", 2, 110093, "2015-03-20");
        assert!(matches!(
            AccessKey::check(RJ_2015, &series),
            Err(AccessKeyError::Series { found: 1, .. })
        ));
        let number = facts("08370779000149", 1, 7, "2015-03-20");
        assert!(matches!(
            AccessKey::check(RJ_2015, &number),
            Err(AccessKeyError::Number { found: 110093, .. })
        ));
        assert!(matches!(
            AccessKey::check(&format!("x{}", &RJ_2015[1..]), &f),
            Err(AccessKeyError::NotDigit { position: 1, .. })
        ));
    }

    fn key_of(uf: &str, aamm: &str, cnpj: &str, model: &str) -> String {
        compose(KeyParts {
            uf,
            aamm,
            emitter_cnpj: cnpj,
            model,
            series: 1,
            number: 42,
        })
    }

    #[test]
    fn a_composed_key_is_the_published_one() {
        let key = compose(KeyParts {
            uf: "33",
            aamm: "1503",
            emitter_cnpj: "08370779000149",
            model: "55",
            series: 1,
            number: 110093,
        });
        // The published key differs only in its random code (cNF).
        assert_eq!(&key[..35], &RJ_2015[..35]);
        let f = facts("08370779000149", 1, 110093, "2015-03-20");
        assert!(AccessKey::check(&key, &f).is_ok(), "{key}");
    }

    #[test]
    fn state_and_model_are_checked_and_letters_count_in_the_cnpj() {
        let f = facts("12ABC34501DE35", 1, 42, "2026-09-01");
        let good = key_of("35", "2609", "12ABC34501DE35", "55");
        assert!(AccessKey::check(&good, &f).is_ok(), "{good}");
        let nfce = key_of("35", "2609", "12ABC34501DE35", "65");
        assert!(AccessKey::check(&nfce, &f).is_ok());
        assert_eq!(
            AccessKey::check(&key_of("34", "2609", "12ABC34501DE35", "55"), &f),
            Err(AccessKeyError::State("34".into()))
        );
        assert_eq!(
            AccessKey::check(&key_of("35", "2609", "12ABC34501DE35", "57"), &f),
            Err(AccessKeyError::Model("57".into()))
        );
    }
}
