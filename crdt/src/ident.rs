//! Validation and normalisation of Brazilian identifiers.
//!
//! Records arrive from many ERPs, spreadsheets and hand-typed forms, so the
//! same CPF shows up as `529.982.247-25`, `52998224725` or with a stray space.
//! Records are merged and looked up by these identifiers, so every value is
//! checked here once and stored in one canonical form (separators removed,
//! letters uppercased). A bad value is refused with an [`IdentError`] that
//! says why, instead of being stored and silently failing to match later.
//!
//! Each function accepts the usual punctuation for its identifier anywhere in
//! the input and ignores it; any other character is refused. The functions
//! never panic, whatever the input.

/// Why an identifier was refused.
///
/// The `Display` text is shown to users (in English) and is phrased so the
/// caller can prefix the field name, e.g. `"CPF: check digits do not match"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentError {
    /// Nothing but whitespace or punctuation was given.
    #[error("no value given")]
    Empty,
    /// The number of significant characters (punctuation not counted) is wrong.
    #[error("expected {expected}, found {found}")]
    WrongLength {
        /// What was expected, e.g. `"11 digits"`.
        expected: &'static str,
        /// How many significant characters the input had.
        found: usize,
    },
    /// A character that is neither allowed nor ignorable punctuation.
    #[error("unexpected character {ch:?} at position {position}")]
    BadCharacter {
        /// The offending character.
        ch: char,
        /// 1-based position in the input as given, counted in characters.
        position: usize,
    },
    /// The check digits do not match the rest of the identifier.
    #[error("check digits do not match")]
    CheckDigits,
    /// All digits are the same (e.g. `111.111.111-11`): such numbers pass the
    /// check-digit test but are placeholders, never real identifiers.
    #[error("all digits are the same")]
    AllSameDigits,
    /// Not one of the 27 federative units nor `EX`.
    #[error("unknown state (UF) {0:?}")]
    UnknownState(String),
    /// The value has the wrong shape; the text says what is wrong.
    #[error("{0}")]
    Malformed(&'static str),
}

/// A taxpayer number: CPF for people, CNPJ for companies. Both hold the
/// normalised form returned by [`cpf`] and [`cnpj`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaxId {
    /// 11 digits.
    Cpf(String),
    /// 14 characters, uppercase.
    Cnpj(String),
}

impl TaxId {
    /// The normalised number, whichever kind it is.
    pub fn as_str(&self) -> &str {
        match self {
            TaxId::Cpf(s) | TaxId::Cnpj(s) => s,
        }
    }
}

// ---------------------------------------------------------------------------
// Shared scanning
// ---------------------------------------------------------------------------

/// A significant character of the input: its ASCII byte and its 1-based
/// position, kept so later checks can point at the exact character.
type Sig = (u8, usize);

/// Drops ignorable punctuation and refuses anything not `allowed`.
///
/// Runs before the length check so that a stray letter is reported as such
/// rather than as a confusing "wrong length".
fn scan(
    input: &str,
    is_separator: fn(char) -> bool,
    allowed: fn(char) -> bool,
) -> Result<Vec<Sig>, IdentError> {
    let mut out = Vec::new();
    for (index, ch) in input.chars().enumerate() {
        let position = index + 1;
        if is_separator(ch) {
            continue;
        }
        // `try_from` also guards against an `allowed` that lets non-ASCII in.
        match u8::try_from(ch) {
            Ok(byte) if allowed(ch) => out.push((byte, position)),
            _ => return Err(IdentError::BadCharacter { ch, position }),
        }
    }
    Ok(out)
}

/// Turns the scanned characters into exactly `N` of them, or explains why not.
fn exact<const N: usize>(sig: Vec<Sig>, expected: &'static str) -> Result<[Sig; N], IdentError> {
    <[Sig; N]>::try_from(sig).map_err(|sig| {
        if sig.is_empty() {
            IdentError::Empty
        } else {
            IdentError::WrongLength {
                expected,
                found: sig.len(),
            }
        }
    })
}

/// Scans an all-digit identifier of exactly `N` digits; returns digit values 0..=9.
fn digits<const N: usize>(
    input: &str,
    is_separator: fn(char) -> bool,
    expected: &'static str,
) -> Result<[u8; N], IdentError> {
    let sig = exact::<N>(scan(input, is_separator, |c| c.is_ascii_digit())?, expected)?;
    Ok(sig.map(|(byte, _)| byte - b'0'))
}

fn digits_to_string(digits: &[u8]) -> String {
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

fn all_same<T: PartialEq>(items: &[T]) -> bool {
    items.iter().all(|x| Some(x) == items.first())
}

fn dot_or_space(c: char) -> bool {
    c == '.' || c.is_whitespace()
}

// ---------------------------------------------------------------------------
// CPF and CNPJ
// ---------------------------------------------------------------------------

/// The Receita Federal's modulo-11 check digit, shared by CPF and CNPJ:
/// weighted sum, then 0 if the remainder is below 2, else 11 - remainder.
fn mod11_digit(values: &[u32], weights: &[u32]) -> u32 {
    let sum: u32 = values.iter().zip(weights).map(|(v, w)| v * w).sum();
    let remainder = sum % 11;
    if remainder < 2 { 0 } else { 11 - remainder }
}

/// The two CPF check digits for the first nine digits.
fn cpf_check_digits(base: &[u8; 9]) -> [u8; 2] {
    const W1: [u32; 9] = [10, 9, 8, 7, 6, 5, 4, 3, 2];
    const W2: [u32; 10] = [11, 10, 9, 8, 7, 6, 5, 4, 3, 2];
    let mut values: Vec<u32> = base.iter().map(|&d| u32::from(d)).collect();
    let first = mod11_digit(&values, &W1);
    values.push(first);
    let second = mod11_digit(&values, &W2);
    // Both digits are below 10, so the narrowing cannot fail.
    [first, second].map(|d| u8::try_from(d).unwrap_or(u8::MAX))
}

/// The two CNPJ check digits for the first twelve (uppercase) characters.
///
/// Each character counts as its ASCII code minus 48, which keeps digits at
/// 0..=9 and gives letters 17 ('A') to 42 ('Z'): the rule the Receita
/// Federal published for the alphanumeric CNPJ, and identical to the old
/// rule for all-digit CNPJs.
fn cnpj_check_digits(base: &[u8; 12]) -> [u8; 2] {
    const W1: [u32; 12] = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    const W2: [u32; 13] = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    let mut values: Vec<u32> = base
        .iter()
        .map(|&b| u32::from(b).saturating_sub(48))
        .collect();
    let first = mod11_digit(&values, &W1);
    values.push(first);
    let second = mod11_digit(&values, &W2);
    [first, second].map(|d| u8::try_from(d).unwrap_or(u8::MAX))
}

fn is_cpf_separator(c: char) -> bool {
    c == '.' || c == '-' || c.is_whitespace()
}

fn is_cnpj_separator(c: char) -> bool {
    c == '.' || c == '/' || c == '-' || c.is_whitespace()
}

/// Validates a CPF (individual taxpayer number).
///
/// Accepts `529.982.247-25` or `52998224725`; returns the 11 digits.
pub fn cpf(input: &str) -> Result<String, IdentError> {
    let d = digits::<11>(input, is_cpf_separator, "11 digits")?;
    if all_same(&d) {
        return Err(IdentError::AllSameDigits);
    }
    let [base @ .., c1, c2] = d;
    if cpf_check_digits(&base) != [c1, c2] {
        return Err(IdentError::CheckDigits);
    }
    Ok(digits_to_string(&d))
}

/// Validates a CNPJ (company taxpayer number), numeric or alphanumeric.
///
/// From July 2026 the first 12 positions may hold letters A-Z as well as
/// digits; the last two are always numeric check digits. Lowercase letters
/// are accepted and uppercased. Returns the 14 characters.
pub fn cnpj(input: &str) -> Result<String, IdentError> {
    let sig = scan(input, is_cnpj_separator, |c| c.is_ascii_alphanumeric())?;
    let chars = exact::<14>(sig, "14 characters")?;
    let [base @ .., c1, c2] = chars.map(|(b, pos)| (b.to_ascii_uppercase(), pos));

    // Letters are only allowed in the base; point at a letter in the check digits.
    let mut check = [0u8; 2];
    for (slot, (byte, position)) in check.iter_mut().zip([c1, c2]) {
        if !byte.is_ascii_digit() {
            return Err(IdentError::BadCharacter {
                ch: char::from(byte),
                position,
            });
        }
        *slot = byte - b'0';
    }

    let base = base.map(|(b, _)| b);
    let mut all = base.to_vec();
    all.extend(check.iter().map(|d| b'0' + d));
    if all_same(&all) {
        return Err(IdentError::AllSameDigits);
    }
    if cnpj_check_digits(&base) != check {
        return Err(IdentError::CheckDigits);
    }
    Ok(all.iter().map(|&b| char::from(b)).collect())
}

/// Validates a CPF or a CNPJ, deciding by the number of significant
/// characters: 11 is a CPF, 14 a CNPJ.
pub fn cpf_or_cnpj(input: &str) -> Result<TaxId, IdentError> {
    // Scan with the wider CNPJ rules just to count; the chosen validator
    // then applies its own rules.
    let sig = scan(input, is_cnpj_separator, |c| c.is_ascii_alphanumeric())?;
    match sig.len() {
        0 => Err(IdentError::Empty),
        11 => cpf(input).map(TaxId::Cpf),
        14 => cnpj(input).map(TaxId::Cnpj),
        found => Err(IdentError::WrongLength {
            expected: "11 characters (CPF) or 14 (CNPJ)",
            found,
        }),
    }
}

// ---------------------------------------------------------------------------
// Product and fiscal codes
// ---------------------------------------------------------------------------

/// GS1 modulo-10 check digit: weights 3, 1, 3, ... from the right of the body.
fn gs1_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .zip([3u32, 1].iter().cycle())
        .map(|(&d, w)| u32::from(d) * w)
        .sum();
    let digit = (10 - sum % 10) % 10;
    u8::try_from(digit).unwrap_or(u8::MAX)
}

/// Validates a GTIN (EAN/UPC barcode number): GTIN-8, 12, 13 or 14.
///
/// Spaces are removed; the length is kept as given (no zero padding).
/// NF-e's `SEM GTIN` placeholder is not a GTIN and is refused; callers that
/// read NF-e should check for it first.
pub fn gtin(input: &str) -> Result<String, IdentError> {
    let sig = scan(input, char::is_whitespace, |c| c.is_ascii_digit())?;
    let d: Vec<u8> = sig.iter().map(|&(b, _)| b - b'0').collect();
    match d.len() {
        0 => return Err(IdentError::Empty),
        8 | 12 | 13 | 14 => {}
        found => {
            return Err(IdentError::WrongLength {
                expected: "8, 12, 13 or 14 digits",
                found,
            });
        }
    }
    // All zeros passes the check digit but is never issued; any other
    // repeated digit fails the check digit anyway.
    if d.iter().all(|&x| x == 0) {
        return Err(IdentError::AllSameDigits);
    }
    match d.split_last() {
        Some((&check, body)) if gs1_check_digit(body) == check => Ok(digits_to_string(&d)),
        _ => Err(IdentError::CheckDigits),
    }
}

/// Validates an NCM (Mercosur product classification): 8 digits, dots
/// accepted (`8471.30.12`).
pub fn ncm(input: &str) -> Result<String, IdentError> {
    digits::<8>(input, dot_or_space, "8 digits").map(|d| digits_to_string(&d))
}

/// Validates a CEST (tax substitution code): 7 digits, dots accepted
/// (`01.001.00`).
pub fn cest(input: &str) -> Result<String, IdentError> {
    digits::<7>(input, dot_or_space, "7 digits").map(|d| digits_to_string(&d))
}

/// Validates a CEP (postal code): 8 digits, `01310-100` and the older
/// `01.310-100` accepted.
pub fn cep(input: &str) -> Result<String, IdentError> {
    let d = digits::<8>(input, is_cpf_separator, "8 digits")?;
    // 00000-000 is a common "unknown" filler, never a real address.
    if d.iter().all(|&x| x == 0) {
        return Err(IdentError::AllSameDigits);
    }
    Ok(digits_to_string(&d))
}

/// The 26 states and the Federal District, plus `EX` (exterior), which NF-e
/// uses for foreign addresses.
const UFS: [&str; 28] = [
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA", "PB", "PR",
    "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO", "EX",
];

/// Validates a UF (federative unit) abbreviation, case-insensitive;
/// returns it uppercase.
pub fn uf(input: &str) -> Result<String, IdentError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(IdentError::Empty);
    }
    let upper = trimmed.to_ascii_uppercase();
    if UFS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(IdentError::UnknownState(trimmed.to_owned()))
    }
}

/// Validates a CFOP (fiscal operation code): 4 digits, `5.102` accepted.
///
/// The first digit says where the operation happens: 1, 2, 3 for entries
/// (same state, other state, abroad) and 5, 6, 7 for exits.
pub fn cfop(input: &str) -> Result<String, IdentError> {
    let d = digits::<4>(input, dot_or_space, "4 digits")?;
    if !matches!(d, [1 | 2 | 3 | 5 | 6 | 7, ..]) {
        return Err(IdentError::Malformed(
            "CFOP must start with 1, 2, 3, 5, 6 or 7",
        ));
    }
    Ok(digits_to_string(&d))
}

// ---------------------------------------------------------------------------
// E-mail
// ---------------------------------------------------------------------------

/// Longest address SMTP can carry (RFC 5321 path limit minus the brackets).
const EMAIL_MAX: usize = 254;

/// Checks the shape of an e-mail address; it cannot tell whether the mailbox
/// exists. Trims surrounding whitespace and lowercases the domain only (the
/// local part may be case-sensitive on some servers).
pub fn email(input: &str) -> Result<String, IdentError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(IdentError::Empty);
    }
    let found = s.chars().count();
    if found > EMAIL_MAX {
        return Err(IdentError::WrongLength {
            expected: "at most 254 characters",
            found,
        });
    }
    // Positions refer to the input as given, so count what `trim` removed.
    let leading = input.chars().take_while(|c| c.is_whitespace()).count();
    if let Some((index, ch)) = s
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        return Err(IdentError::BadCharacter {
            ch,
            position: leading + index + 1,
        });
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Err(IdentError::Malformed("missing '@'"));
    };
    if domain.contains('@') {
        return Err(IdentError::Malformed("more than one '@'"));
    }
    if local.is_empty() {
        return Err(IdentError::Malformed("nothing before '@'"));
    }
    if domain.is_empty() {
        return Err(IdentError::Malformed("nothing after '@'"));
    }
    if !domain.contains('.') {
        return Err(IdentError::Malformed("domain has no dot"));
    }
    if domain.split('.').any(str::is_empty) {
        return Err(IdentError::Malformed("domain has an empty part"));
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // ----- CPF -------------------------------------------------------------

    #[test]
    fn cpf_accepts_real_numbers_in_any_punctuation() {
        assert_eq!(cpf("529.982.247-25").as_deref(), Ok("52998224725"));
        assert_eq!(cpf("52998224725").as_deref(), Ok("52998224725"));
        assert_eq!(cpf(" 111.444.777-35 ").as_deref(), Ok("11144477735"));
        assert_eq!(cpf("111 444 777 35").as_deref(), Ok("11144477735"));
    }

    #[test]
    fn cpf_rejects_wrong_check_digits() {
        assert_eq!(cpf("529.982.247-24"), Err(IdentError::CheckDigits));
        assert_eq!(cpf("529.982.247-15"), Err(IdentError::CheckDigits));
        assert_eq!(cpf("111.444.777-53"), Err(IdentError::CheckDigits));
    }

    #[test]
    fn cpf_rejects_repeated_digits_even_though_they_check() {
        for d in 0..=9u8 {
            let s: String = std::iter::repeat_n(char::from(b'0' + d), 11).collect();
            assert_eq!(cpf(&s), Err(IdentError::AllSameDigits), "{s}");
        }
        assert_eq!(cpf("111.111.111-11"), Err(IdentError::AllSameDigits));
    }

    #[test]
    fn cpf_rejects_wrong_length_and_letters() {
        assert_eq!(
            cpf("529.982.247-2"),
            Err(IdentError::WrongLength {
                expected: "11 digits",
                found: 10
            })
        );
        assert_eq!(
            cpf("529.982.247-255"),
            Err(IdentError::WrongLength {
                expected: "11 digits",
                found: 12
            })
        );
        assert_eq!(
            cpf("529.982.24A-25"),
            Err(IdentError::BadCharacter {
                ch: 'A',
                position: 11
            })
        );
        assert_eq!(
            cpf("529/982/247-25"),
            Err(IdentError::BadCharacter {
                ch: '/',
                position: 4
            })
        );
        assert_eq!(cpf(""), Err(IdentError::Empty));
        assert_eq!(cpf(" .-. "), Err(IdentError::Empty));
    }

    #[test]
    fn full_width_digits_are_refused_not_panicked_on() {
        assert_eq!(
            cpf("５２９.９８２.２４７-２５"),
            Err(IdentError::BadCharacter {
                ch: '５',
                position: 1
            })
        );
        assert!(matches!(
            cnpj("１１.２２２.３３３/０００１-８１"),
            Err(IdentError::BadCharacter { ch: '１', .. })
        ));
        assert!(matches!(
            cep("０１３１０-１００"),
            Err(IdentError::BadCharacter { .. })
        ));
    }

    // ----- CNPJ ------------------------------------------------------------

    #[test]
    fn cnpj_accepts_real_numeric_numbers() {
        assert_eq!(cnpj("11.222.333/0001-81").as_deref(), Ok("11222333000181"));
        assert_eq!(cnpj("11222333000181").as_deref(), Ok("11222333000181"));
        // Banco do Brasil: leading zeros must survive normalisation.
        assert_eq!(cnpj("00.000.000/0001-91").as_deref(), Ok("00000000000191"));
        // Petrobras.
        assert_eq!(cnpj("33.000.167/0001-01").as_deref(), Ok("33000167000101"));
    }

    /// The Receita Federal's published alphanumeric example, 12.ABC.345/01DE-35.
    ///
    /// Hand computation (value = ASCII code - 48, so A=17, B=18, C=19, D=20, E=21):
    ///
    /// ```text
    /// chars    1  2  A  B  C  3  4  5  0  1  D  E
    /// values   1  2 17 18 19  3  4  5  0  1 20 21
    /// weights  5  4  3  2  9  8  7  6  5  4  3  2
    /// products 5  8 51 36 171 24 28 30 0  4 60 42   sum 459
    /// 459 = 11*41 + 8 -> remainder 8 -> first digit 11-8 = 3
    ///
    /// values   1  2 17 18 19  3  4  5  0  1 20 21  3
    /// weights  6  5  4  3  2  9  8  7  6  5  4  3  2
    /// products 6 10 68 54 38 27 32 35  0  5 80 63  6   sum 424
    /// 424 = 11*38 + 6 -> remainder 6 -> second digit 11-6 = 5
    /// ```
    #[test]
    fn cnpj_accepts_the_receita_alphanumeric_example() {
        assert_eq!(cnpj_check_digits(b"12ABC34501DE"), [3, 5]);
        assert_eq!(cnpj("12.ABC.345/01DE-35").as_deref(), Ok("12ABC34501DE35"));
        assert_eq!(cnpj("12abc34501de35").as_deref(), Ok("12ABC34501DE35"));
        assert_eq!(
            cnpj(" 12.aBc.345/01dE-35\t").as_deref(),
            Ok("12ABC34501DE35")
        );
    }

    #[test]
    fn cnpj_rejects_wrong_check_digits() {
        assert_eq!(cnpj("11.222.333/0001-82"), Err(IdentError::CheckDigits));
        assert_eq!(cnpj("11.222.333/0001-18"), Err(IdentError::CheckDigits));
        assert_eq!(cnpj("12.ABC.345/01DE-36"), Err(IdentError::CheckDigits));
        assert_eq!(cnpj("12.ABC.345/01DF-35"), Err(IdentError::CheckDigits));
    }

    #[test]
    fn cnpj_rejects_letters_in_check_digit_positions() {
        assert_eq!(
            cnpj("12.ABC.345/01DE-3A"),
            Err(IdentError::BadCharacter {
                ch: 'A',
                position: 18
            })
        );
        assert_eq!(
            cnpj("12ABC34501DEx5"),
            Err(IdentError::BadCharacter {
                ch: 'X',
                position: 13
            })
        );
    }

    #[test]
    fn cnpj_rejects_wrong_length_same_digits_and_symbols() {
        assert_eq!(
            cnpj("11.222.333/0001-8"),
            Err(IdentError::WrongLength {
                expected: "14 characters",
                found: 13
            })
        );
        assert_eq!(cnpj("00.000.000/0000-00"), Err(IdentError::AllSameDigits));
        assert_eq!(cnpj("99999999999999"), Err(IdentError::AllSameDigits));
        assert_eq!(
            cnpj("11.222.333_0001-81"),
            Err(IdentError::BadCharacter {
                ch: '_',
                position: 11
            })
        );
        assert_eq!(cnpj(""), Err(IdentError::Empty));
    }

    #[test]
    fn cpf_or_cnpj_decides_by_length() {
        assert_eq!(
            cpf_or_cnpj("529.982.247-25"),
            Ok(TaxId::Cpf("52998224725".into()))
        );
        assert_eq!(
            cpf_or_cnpj("11.222.333/0001-81"),
            Ok(TaxId::Cnpj("11222333000181".into()))
        );
        assert_eq!(
            cpf_or_cnpj("12.abc.345/01de-35").map(|t| t.as_str().to_owned()),
            Ok("12ABC34501DE35".to_owned())
        );
        assert_eq!(cpf_or_cnpj("529.982.247-24"), Err(IdentError::CheckDigits));
        assert!(matches!(
            cpf_or_cnpj("1234567890123"),
            Err(IdentError::WrongLength { found: 13, .. })
        ));
        assert!(matches!(
            cpf_or_cnpj("529.982.247#25"),
            Err(IdentError::BadCharacter { ch: '#', .. })
        ));
        // 11 characters with a letter: CPFs have no letters.
        assert!(matches!(
            cpf_or_cnpj("5299822472A"),
            Err(IdentError::BadCharacter { ch: 'A', .. })
        ));
        assert_eq!(cpf_or_cnpj("  "), Err(IdentError::Empty));
    }

    // ----- GTIN ------------------------------------------------------------

    #[test]
    fn gtin_accepts_every_length() {
        assert_eq!(gtin("7891000315507").as_deref(), Ok("7891000315507")); // EAN-13
        assert_eq!(gtin("96385074").as_deref(), Ok("96385074")); // GTIN-8
        assert_eq!(gtin("036000291452").as_deref(), Ok("036000291452")); // UPC-A
        // GTIN-14 by hand: body 1789100031550, weights 3,1,... from the right:
        // 0*3+5+5*3+1+3*3+0+0*3+0+1*3+9+8*3+7+1*3 = 76 -> (10 - 6) % 10 = 4.
        assert_eq!(gtin("17891000315504").as_deref(), Ok("17891000315504"));
        assert_eq!(gtin(" 789 1000 315507 ").as_deref(), Ok("7891000315507"));
    }

    #[test]
    fn gtin_rejects_bad_values() {
        assert_eq!(gtin("7891000315508"), Err(IdentError::CheckDigits));
        assert_eq!(gtin("96385075"), Err(IdentError::CheckDigits));
        assert_eq!(gtin("036000291453"), Err(IdentError::CheckDigits));
        assert_eq!(gtin("17891000315505"), Err(IdentError::CheckDigits));
        assert_eq!(gtin("00000000000000"), Err(IdentError::AllSameDigits));
        assert!(matches!(
            gtin("7891000"),
            Err(IdentError::WrongLength { found: 7, .. })
        ));
        assert!(matches!(
            gtin("78910003155070"),
            Err(IdentError::CheckDigits)
        ));
        assert!(matches!(gtin("789100031550"), Err(IdentError::CheckDigits)));
        assert!(matches!(
            gtin("SEM GTIN"),
            Err(IdentError::BadCharacter { ch: 'S', .. })
        ));
        assert!(matches!(
            gtin("789-1000315507"),
            Err(IdentError::BadCharacter { ch: '-', .. })
        ));
        assert_eq!(gtin(""), Err(IdentError::Empty));
    }

    // ----- NCM, CEST, CEP --------------------------------------------------

    #[test]
    fn ncm_cases() {
        assert_eq!(ncm("8471.30.12").as_deref(), Ok("84713012"));
        assert_eq!(ncm("84713012").as_deref(), Ok("84713012"));
        assert_eq!(ncm("0901.21.00").as_deref(), Ok("09012100"));
        assert!(matches!(
            ncm("8471.30.1"),
            Err(IdentError::WrongLength { found: 7, .. })
        ));
        assert!(matches!(
            ncm("8471.30.123"),
            Err(IdentError::WrongLength { found: 9, .. })
        ));
        assert!(matches!(
            ncm("8471-30-12"),
            Err(IdentError::BadCharacter { ch: '-', .. })
        ));
        assert!(matches!(
            ncm("8471.30.1A"),
            Err(IdentError::BadCharacter { ch: 'A', .. })
        ));
    }

    #[test]
    fn cest_cases() {
        assert_eq!(cest("01.001.00").as_deref(), Ok("0100100"));
        assert_eq!(cest("2803800").as_deref(), Ok("2803800"));
        assert!(matches!(
            cest("01.001.0"),
            Err(IdentError::WrongLength { found: 6, .. })
        ));
        assert!(matches!(
            cest("01.001.000"),
            Err(IdentError::WrongLength { found: 8, .. })
        ));
        assert!(matches!(
            cest("01-001-00"),
            Err(IdentError::BadCharacter { ch: '-', .. })
        ));
    }

    #[test]
    fn cep_cases() {
        assert_eq!(cep("01310-100").as_deref(), Ok("01310100"));
        assert_eq!(cep("01310100").as_deref(), Ok("01310100"));
        assert_eq!(cep("01.310-100").as_deref(), Ok("01310100"));
        assert_eq!(cep("70040-010").as_deref(), Ok("70040010"));
        assert!(matches!(
            cep("1310-100"),
            Err(IdentError::WrongLength { found: 7, .. })
        ));
        assert!(matches!(
            cep("01310-10a"),
            Err(IdentError::BadCharacter {
                ch: 'a',
                position: 9
            })
        ));
        assert_eq!(cep("00000-000"), Err(IdentError::AllSameDigits));
    }

    // ----- UF, CFOP --------------------------------------------------------

    #[test]
    fn uf_cases() {
        assert_eq!(uf("SP").as_deref(), Ok("SP"));
        assert_eq!(uf("sp").as_deref(), Ok("SP"));
        assert_eq!(uf(" Rj ").as_deref(), Ok("RJ"));
        assert_eq!(uf("df").as_deref(), Ok("DF"));
        assert_eq!(uf("ex").as_deref(), Ok("EX"));
        for u in UFS {
            assert_eq!(uf(u).as_deref(), Ok(u));
        }
        assert_eq!(uf("XX"), Err(IdentError::UnknownState("XX".into())));
        assert_eq!(uf(" spa "), Err(IdentError::UnknownState("spa".into())));
        assert_eq!(uf("S"), Err(IdentError::UnknownState("S".into())));
        assert_eq!(uf("S P"), Err(IdentError::UnknownState("S P".into())));
        assert_eq!(uf("ÇP"), Err(IdentError::UnknownState("ÇP".into())));
        assert_eq!(uf(""), Err(IdentError::Empty));
    }

    #[test]
    fn cfop_cases() {
        for ok in ["1102", "2102", "3102", "5102", "6108", "7101"] {
            assert_eq!(cfop(ok).as_deref(), Ok(ok));
        }
        assert_eq!(cfop("5.102").as_deref(), Ok("5102"));
        for bad_start in ["0102", "4102", "8102", "9102"] {
            assert!(
                matches!(cfop(bad_start), Err(IdentError::Malformed(_))),
                "{bad_start}"
            );
        }
        assert!(matches!(
            cfop("510"),
            Err(IdentError::WrongLength { found: 3, .. })
        ));
        assert!(matches!(
            cfop("5.1020"),
            Err(IdentError::WrongLength { found: 5, .. })
        ));
        assert!(matches!(
            cfop("5-102"),
            Err(IdentError::BadCharacter { ch: '-', .. })
        ));
    }

    // ----- E-mail ----------------------------------------------------------

    #[test]
    fn email_accepts_and_normalises_domain_only() {
        assert_eq!(
            email("Fulano.Tal@Empresa.COM.BR").as_deref(),
            Ok("Fulano.Tal@empresa.com.br")
        );
        assert_eq!(email("  nfe@b.co \n").as_deref(), Ok("nfe@b.co"));
        assert_eq!(
            email("financeiro+nf@grupo-elo.com.br").as_deref(),
            Ok("financeiro+nf@grupo-elo.com.br")
        );
    }

    #[test]
    fn email_rejects_bad_shapes() {
        for bad in [
            "fulano",
            "fulano@empresa",
            "a@@b.com",
            "a@b@c.com",
            "@b.com",
            "a@",
            "a@.com",
            "a@com.",
            "a@b..com",
        ] {
            assert!(matches!(email(bad), Err(IdentError::Malformed(_))), "{bad}");
        }
        assert_eq!(
            email(" a b@c.com"),
            Err(IdentError::BadCharacter {
                ch: ' ',
                position: 3
            })
        );
        assert!(matches!(
            email("a@c.com\u{0}x"),
            Err(IdentError::BadCharacter { ch: '\u{0}', .. })
        ));
        assert_eq!(email("   "), Err(IdentError::Empty));

        let local = "a".repeat(64);
        let long = format!("{local}@{}.com", "b".repeat(186)); // 255 chars
        assert!(matches!(
            email(&long),
            Err(IdentError::WrongLength { found: 255, .. })
        ));
        let fits = format!("{local}@{}.com", "b".repeat(185)); // 254 chars
        assert_eq!(email(&fits).as_deref(), Ok(fits.as_str()));
    }

    #[test]
    fn messages_read_well() {
        assert_eq!(
            IdentError::CheckDigits.to_string(),
            "check digits do not match"
        );
        assert_eq!(
            IdentError::WrongLength {
                expected: "11 digits",
                found: 10
            }
            .to_string(),
            "expected 11 digits, found 10"
        );
        assert_eq!(
            cpf("5２9").map_err(|e| e.to_string()),
            Err("unexpected character '２' at position 2".to_owned())
        );
        // Invisible characters are shown escaped so the user can see them.
        assert_eq!(
            cpf("529\u{200b}98224725").map_err(|e| e.to_string()),
            Err("unexpected character '\\u{200b}' at position 4".to_owned())
        );
    }

    // ----- Properties ------------------------------------------------------

    fn run_all(s: &str) {
        let _ = cpf(s);
        let _ = cnpj(s);
        let _ = cpf_or_cnpj(s);
        let _ = gtin(s);
        let _ = ncm(s);
        let _ = cest(s);
        let _ = cep(s);
        let _ = uf(s);
        let _ = cfop(s);
        let _ = email(s);
    }

    proptest! {
        #[test]
        fn nothing_panics_on_arbitrary_unicode(s in any::<String>()) {
            run_all(&s);
        }

        #[test]
        fn nothing_panics_on_near_miss_input(s in "[0-9a-zA-Z./@ \\-５]{0,20}") {
            run_all(&s);
        }

        #[test]
        fn cpf_accepts_computed_check_digits_and_rejects_a_changed_one(
            base in proptest::array::uniform9(0u8..10),
            bump in 1u8..10,
        ) {
            let [c1, c2] = cpf_check_digits(&base);
            let mut d = base.to_vec();
            d.extend([c1, c2]);
            prop_assume!(!all_same(&d));
            let plain = digits_to_string(&d);

            prop_assert_eq!(cpf(&plain), Ok(plain.clone()));
            let formatted = format!(
                "{}.{}.{}-{}",
                &plain[0..3], &plain[3..6], &plain[6..9], &plain[9..11]
            );
            prop_assert_eq!(cpf(&formatted), Ok(plain.clone()));

            let mut wrong = d.clone();
            if let Some(last) = wrong.last_mut() {
                *last = (*last + bump) % 10;
            }
            prop_assert_eq!(cpf(&digits_to_string(&wrong)), Err(IdentError::CheckDigits));
        }

        #[test]
        fn cnpj_accepts_computed_check_digits_and_rejects_a_changed_one(
            base in "[0-9A-Z]{12}",
            bump in 1u8..10,
            lower in any::<bool>(),
        ) {
            let bytes: [u8; 12] = base.as_bytes().try_into().unwrap_or([b'0'; 12]);
            let [c1, c2] = cnpj_check_digits(&bytes);
            let full = format!("{base}{c1}{c2}");
            prop_assume!(!all_same(full.as_bytes()));

            let input = if lower { full.to_lowercase() } else { full.clone() };
            prop_assert_eq!(cnpj(&input), Ok(full.clone()));

            let wrong = format!("{base}{c1}{}", (c2 + bump) % 10);
            prop_assert_eq!(cnpj(&wrong), Err(IdentError::CheckDigits));
        }
    }
}
