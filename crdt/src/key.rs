//! Natural keys and document ids.
//!
//! A record's document id comes from its natural key (`customer/cpf:…`,
//! `product/sku:…`), never from a random id: two companies that create the
//! same customer offline edit the same document and converge instead of
//! producing a duplicate.

use std::fmt;

use crate::error::FieldError;
use crate::ident::{self, TaxId};
use crate::kind::{Category, Kind};

/// The longest natural key value accepted (SKUs and codes).
const MAX_CODE_LEN: usize = 60;

/// A record's document id, `KIND/FIELD:VALUE`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId(String);

impl DocId {
    /// Builds the id of a record of `kind` from a key typed by a user: a CPF
    /// or CNPJ with or without punctuation (optionally prefixed `cpf:` or
    /// `cnpj:`), a SKU or a code.
    pub fn from_key(kind: Kind, key: &str) -> Result<DocId, FieldError> {
        let key = key.trim();
        if kind.is_contact() {
            let (hint, value) = match key.split_once(':') {
                Some((h @ ("cpf" | "cnpj"), v)) => (Some(h), v),
                _ => (None, key),
            };
            let id = match hint {
                Some("cpf") => ident::cpf(value).map(TaxId::Cpf),
                Some(_) => ident::cnpj(value).map(TaxId::Cnpj),
                None => ident::cpf_or_cnpj(value),
            }
            .map_err(|e| FieldError::new("key", e.to_string()))?;
            return Ok(match id {
                TaxId::Cpf(d) => DocId(format!("{kind}/cpf:{d}")),
                TaxId::Cnpj(d) => DocId(format!("{kind}/cnpj:{d}")),
            });
        }
        if kind == Kind::Company {
            // A company's key is its CNPJ, typed as a CNPJ is anywhere else.
            let value = key.strip_prefix("cnpj:").unwrap_or(key);
            let cnpj = ident::cnpj(value).map_err(|e| FieldError::new("key", e.to_string()))?;
            return Ok(DocId(format!("{kind}/cnpj:{cnpj}")));
        }
        let field = key_field(kind);
        let value = key
            .strip_prefix(field)
            .and_then(|k| k.strip_prefix(':'))
            .unwrap_or(key);
        let value = normalise_code(kind, value).map_err(|reason| FieldError::new(field, reason))?;
        Ok(DocId(format!("{kind}/{field}:{value}")))
    }

    /// Parses a stored document id, checking its shape: a record's main
    /// document `KIND/FIELD:VALUE`, or one of its parts
    /// `KIND/FIELD:VALUE/CATEGORY`.
    pub fn parse(id: &str) -> Option<DocId> {
        let (kind, rest) = id.split_once('/')?;
        let kind: Kind = kind.parse().ok()?;
        let (key, part) = match rest.split_once('/') {
            Some((key, part)) => (key, Some(part)),
            None => (rest, None),
        };
        let (_, value) = key.split_once(':')?;
        if value.is_empty() || kind.as_str() != id.split('/').next()? {
            return None;
        }
        if let Some(part) = part {
            let c = Category::parse(part).ok()?;
            if !c.is_field_level() || c.as_str() != part {
                return None;
            }
        }
        Some(DocId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part document of this record that holds one field-level
    /// category (`customer/cpf:…/credit_limit`). Codes cannot contain '/',
    /// so a part id never names another record.
    pub fn part(&self, category: Category) -> DocId {
        DocId(format!("{}/{}", self.record().0, category.as_str()))
    }

    /// The category of a part document; `None` for a record's main document.
    pub fn part_category(&self) -> Option<Category> {
        let (_, rest) = self.0.split_once('/')?;
        let (_, part) = rest.split_once('/')?;
        Category::parse(part).ok()
    }

    /// The record's main document id (itself for a main document).
    pub fn record(&self) -> DocId {
        match self.0.match_indices('/').nth(1) {
            Some((at, _)) => DocId(self.0[..at].to_string()),
            None => self.clone(),
        }
    }

    /// The sharing category of what this document holds.
    pub fn category(&self) -> Category {
        self.part_category()
            .unwrap_or_else(|| crate::schema::kind_category(self.kind()))
    }

    pub fn kind(&self) -> Kind {
        // The constructors only build ids whose prefix is a kind.
        self.0
            .split_once('/')
            .and_then(|(k, _)| k.parse().ok())
            .unwrap_or(Kind::Customer)
    }

    /// `cpf:52998224725`, `sku:ABC-1`.
    pub fn key(&self) -> &str {
        let rest = self.0.split_once('/').map_or("", |(_, k)| k);
        rest.split_once('/').map_or(rest, |(k, _)| k)
    }

    /// The key's field name (`cpf`, `cnpj`, `sku`, `code`).
    pub fn key_field(&self) -> &str {
        self.key().split_once(':').map_or("", |(f, _)| f)
    }

    /// The key's value, normalised (`52998224725`, `ABC-1`).
    pub fn key_value(&self) -> &str {
        self.key().split_once(':').map_or("", |(_, v)| v)
    }

    /// A placeholder id naming a kind only (results of writes that touch no
    /// record, such as checkpoints).
    pub fn kind_root(kind: Kind) -> DocId {
        DocId(format!("{kind}/"))
    }

    /// The first id of a kind in sort order: listing starts here.
    pub fn kind_prefix(kind: Kind) -> String {
        format!("{kind}/")
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The field that holds the natural key of a non-contact kind.
pub fn key_field(kind: Kind) -> &'static str {
    match kind {
        Kind::Product => "sku",
        Kind::Company => "cnpj",
        _ if kind.is_contact() => "cpf",
        _ => "code",
    }
}

/// SKUs and codes are kept as typed, trimmed; unit codes are upper-cased
/// because "un" and "UN" are the same unit in every ERP.
pub(crate) fn normalise_code(kind: Kind, value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err("must not be empty".into());
    }
    if v.chars().count() > MAX_CODE_LEN {
        return Err(format!("longer than {MAX_CODE_LEN} characters"));
    }
    if let Some(c) = v.chars().find(|c| c.is_control() || *c == '/') {
        return Err(format!("must not contain {c:?}"));
    }
    Ok(if kind == Kind::Unit {
        v.to_uppercase()
    } else {
        v.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_keys_accept_punctuation() {
        let a = DocId::from_key(Kind::Customer, "529.982.247-25").unwrap();
        let b = DocId::from_key(Kind::Customer, "52998224725").unwrap();
        let c = DocId::from_key(Kind::Customer, "cpf:52998224725").unwrap();
        assert_eq!(a.as_str(), "customer/cpf:52998224725");
        assert_eq!(a, b);
        assert_eq!(a, c);
        let s = DocId::from_key(Kind::Supplier, "11.222.333/0001-81").unwrap();
        assert_eq!(s.as_str(), "supplier/cnpj:11222333000181");
        assert_eq!(s.key_value(), "11222333000181");
        assert_eq!(s.kind(), Kind::Supplier);
        assert!(DocId::from_key(Kind::Customer, "529.982.247-26").is_err());
        let company = DocId::from_key(Kind::Company, "11.222.333/0001-81").unwrap();
        assert_eq!(company.as_str(), "company/cnpj:11222333000181");
        assert_eq!(
            DocId::from_key(Kind::Company, "cnpj:11222333000181").unwrap(),
            company
        );
        assert!(DocId::from_key(Kind::Company, "11.222.333/0001-82").is_err());
    }

    #[test]
    fn product_and_unit_keys() {
        let p = DocId::from_key(Kind::Product, " ABC-1 ").unwrap();
        assert_eq!(p.as_str(), "product/sku:ABC-1");
        assert_eq!(DocId::from_key(Kind::Product, "sku:ABC-1").unwrap(), p);
        assert_eq!(
            DocId::from_key(Kind::Unit, "un").unwrap().as_str(),
            "unit/code:UN"
        );
        assert!(DocId::from_key(Kind::Product, "a/b").is_err());
        assert!(DocId::from_key(Kind::Product, "").is_err());
        assert_eq!(DocId::parse("product/sku:ABC-1"), Some(p));
        assert_eq!(DocId::parse("nothing/sku:x"), None);
    }

    #[test]
    fn part_documents() {
        let p = DocId::from_key(Kind::Product, "ABC-1").unwrap();
        let price = p.part(Category::SalePrice);
        assert_eq!(price.as_str(), "product/sku:ABC-1/sale_price");
        assert_eq!(DocId::parse(price.as_str()), Some(price.clone()));
        assert_eq!(price.record(), p);
        assert_eq!(price.key_value(), "ABC-1");
        assert_eq!(price.part_category(), Some(Category::SalePrice));
        assert_eq!(price.category(), Category::SalePrice);
        assert_eq!(p.category(), Category::Products);
        assert_eq!(p.part_category(), None);
        assert_eq!(DocId::parse("product/sku:ABC-1/products"), None);
        assert_eq!(DocId::parse("product/sku:ABC-1/nothing"), None);
    }
}
