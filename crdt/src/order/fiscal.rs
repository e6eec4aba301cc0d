//! Transfer or sale: which kind of operation an invoice for a linked order
//! is, and the CFOP elo suggests for it. Suggests only: a CFOP the ERP set
//! is never changed.

use serde::Serialize;

/// What the goods are to the emitter, which picks the CFOP family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GoodsOrigin {
    /// Bought for resale (mercadoria adquirida de terceiros).
    #[default]
    Resale,
    /// Made by the emitter (produção do estabelecimento).
    OwnProduction,
    /// Under tax substitution (ICMS-ST), already withheld.
    SubstitutionTax,
}

/// The operation an invoice makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Between establishments of one company (same CNPJ root).
    Transfer,
    Sale,
}

/// The classification and suggested CFOP, as the order shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FiscalSuggestion {
    pub operation: Operation,
    /// `5.152`: dotted as ERPs print it.
    pub cfop: String,
    /// Why, in words an accountant checks.
    pub reason: String,
}

/// The CNPJ root: the first 8 characters, which name the company; the
/// rest names the establishment.
pub fn cnpj_root(cnpj: &str) -> &str {
    cnpj.get(..8).unwrap_or(cnpj)
}

/// Classifies an invoice from `emitter` (CNPJ, UF) to `recipient` (CPF or
/// CNPJ, delivery UF). Same root is a transfer; anything else (a CPF
/// included) is a sale. 5 when both are in one UF, 6 otherwise.
pub fn suggest(
    emitter_cnpj: &str,
    emitter_uf: &str,
    recipient: &str,
    recipient_uf: &str,
    goods: GoodsOrigin,
) -> FiscalSuggestion {
    let same_company = recipient.len() == 14 && cnpj_root(recipient) == cnpj_root(emitter_cnpj);
    let within_state = emitter_uf.eq_ignore_ascii_case(recipient_uf);
    let first = if within_state { '5' } else { '6' };
    let operation = if same_company {
        Operation::Transfer
    } else {
        Operation::Sale
    };
    // The tail of the code: transfers 152/151/409; sales 102/101/405
    // within the state and 102/101/404 to another (ST's interstate sale is
    // 6.404, not 6.405).
    let tail = match (operation, goods, within_state) {
        (Operation::Transfer, GoodsOrigin::Resale, _) => "152",
        (Operation::Transfer, GoodsOrigin::OwnProduction, _) => "151",
        (Operation::Transfer, GoodsOrigin::SubstitutionTax, _) => "409",
        (Operation::Sale, GoodsOrigin::Resale, _) => "102",
        (Operation::Sale, GoodsOrigin::OwnProduction, _) => "101",
        (Operation::Sale, GoodsOrigin::SubstitutionTax, true) => "405",
        (Operation::Sale, GoodsOrigin::SubstitutionTax, false) => "404",
    };
    let cfop = format!("{first}.{tail}");
    let who = match operation {
        Operation::Transfer => "same CNPJ root: a transfer between establishments",
        Operation::Sale => "another company or a person: a sale",
    };
    let where_ = if within_state {
        "within one UF"
    } else {
        "to another UF"
    };
    FiscalSuggestion {
        operation,
        cfop,
        reason: format!("{who}, {where_} ({emitter_uf} to {recipient_uf})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATRIZ: &str = "11222333000181";
    const FILIAL: &str = "11222333000262";
    const OTHER: &str = "45723174000110";

    #[test]
    fn same_root_is_a_transfer_and_the_ufs_pick_5_or_6() {
        let s = suggest(MATRIZ, "SP", FILIAL, "SP", GoodsOrigin::Resale);
        assert_eq!(
            (s.operation, s.cfop.as_str()),
            (Operation::Transfer, "5.152")
        );
        let s = suggest(MATRIZ, "SP", FILIAL, "RJ", GoodsOrigin::OwnProduction);
        assert_eq!(s.cfop, "6.151");
        let s = suggest(MATRIZ, "SP", FILIAL, "SP", GoodsOrigin::SubstitutionTax);
        assert_eq!(s.cfop, "5.409");
    }

    #[test]
    fn another_root_or_a_person_is_a_sale() {
        let s = suggest(MATRIZ, "SP", OTHER, "SP", GoodsOrigin::Resale);
        assert_eq!((s.operation, s.cfop.as_str()), (Operation::Sale, "5.102"));
        assert_eq!(
            suggest(MATRIZ, "SP", OTHER, "MG", GoodsOrigin::OwnProduction).cfop,
            "6.101"
        );
        assert_eq!(
            suggest(MATRIZ, "SP", OTHER, "SP", GoodsOrigin::SubstitutionTax).cfop,
            "5.405"
        );
        assert_eq!(
            suggest(MATRIZ, "SP", OTHER, "BA", GoodsOrigin::SubstitutionTax).cfop,
            "6.404"
        );
        // A CPF never shares a root with a CNPJ, even if its digits do.
        let s = suggest(MATRIZ, "SP", "11222333096", "SP", GoodsOrigin::Resale);
        assert_eq!(s.operation, Operation::Sale);
    }
}
