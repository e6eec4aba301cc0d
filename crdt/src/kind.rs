//! The kinds of record a group shares, and the sharing categories the seeds'
//! check boxes name. A kind decides a record's natural key and its fields.

use std::fmt;
use std::str::FromStr;

use crate::error::UnknownKind;

/// What a record is in the business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Cliente.
    Customer,
    /// Fornecedor.
    Supplier,
    /// Transportadora.
    Carrier,
    /// Cadastro de estoque (product).
    Product,
    /// Unidade de medida.
    Unit,
    /// Grupo de produtos.
    ProductGroup,
    /// A member company of the group (empresa): the roster is the set of
    /// these records, replicated like any other.
    Company,
}

/// Every table of numeric group codes ([`Kind::code_table`] names one of these).
pub const CODE_TABLES: [&str; 4] = ["customer", "supplier", "carrier", "product"];

impl Kind {
    /// The table of group codes a kind's records are numbered from, if its
    /// records carry one (`code`, the ERP's "Código"). Units and product
    /// groups are keyed by their code, which the ERP always sends.
    pub fn code_table(self) -> Option<&'static str> {
        matches!(
            self,
            Kind::Customer | Kind::Supplier | Kind::Carrier | Kind::Product
        )
        .then(|| self.as_str())
    }

    /// Every kind, in the order commands list them.
    pub const ALL: [Kind; 7] = [
        Kind::Customer,
        Kind::Supplier,
        Kind::Carrier,
        Kind::Product,
        Kind::Unit,
        Kind::ProductGroup,
        Kind::Company,
    ];

    /// The name used in document ids, URLs and the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Customer => "customer",
            Kind::Supplier => "supplier",
            Kind::Carrier => "carrier",
            Kind::Product => "product",
            Kind::Unit => "unit",
            Kind::ProductGroup => "product_group",
            Kind::Company => "company",
        }
    }

    /// The Portuguese name users of the seeds' ERPs know it by.
    pub fn label_pt(self) -> &'static str {
        match self {
            Kind::Customer => "Cliente",
            Kind::Supplier => "Fornecedor",
            Kind::Carrier => "Transportadora",
            Kind::Product => "Cadastro de estoque",
            Kind::Unit => "Unidade de medida",
            Kind::ProductGroup => "Grupo de produtos",
            Kind::Company => "Empresa do grupo",
        }
    }

    /// Contacts (customers, suppliers, carriers) are keyed by CPF or CNPJ.
    pub fn is_contact(self) -> bool {
        matches!(self, Kind::Customer | Kind::Supplier | Kind::Carrier)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        // Accept the plural too: `elo list customers` reads naturally.
        let singular = wanted.strip_suffix('s').unwrap_or(&wanted);
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == wanted || k.as_str() == singular)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// The sharing categories of the seeds (Clipp's "Dados para Compartilhamento").
/// Every field belongs to one; a company chooses which it sends and receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Customers,
    Suppliers,
    Products,
    CreditLimit,
    ProductParameters,
    SalePrice,
    AdditionalFields,
    TaxRates,
    Units,
    /// The group itself: its member companies. Always shared.
    Group,
}

/// Every category a company can send or receive, in the seed's order.
/// (The group's roster is not among them: it always travels.)
pub const SHARED_CATEGORIES: [Category; 9] = [
    Category::Customers,
    Category::Suppliers,
    Category::Products,
    Category::CreditLimit,
    Category::ProductParameters,
    Category::SalePrice,
    Category::AdditionalFields,
    Category::TaxRates,
    Category::Units,
];

/// A set of sharing categories, written `all`, `none` or
/// `customers,products,credit_limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sharing(Vec<Category>);

impl Sharing {
    pub fn all() -> Sharing {
        Sharing(SHARED_CATEGORIES.to_vec())
    }

    pub fn none() -> Sharing {
        Sharing(Vec::new())
    }

    /// Parses a list; an empty text means all (the default).
    pub fn parse(text: &str) -> Result<Sharing, String> {
        let t = text.trim().to_ascii_lowercase();
        match t.as_str() {
            "" | "all" => return Ok(Sharing::all()),
            "none" => return Ok(Sharing::none()),
            _ => {}
        }
        let mut out = Vec::new();
        for word in t.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let c = Category::parse(word)?;
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out.sort();
        Ok(Sharing(out))
    }

    /// Whether this category is in the set. The group's own records (its
    /// roster) always are.
    pub fn covers_category(&self, c: Category) -> bool {
        c == Category::Group || self.0.contains(&c)
    }

    /// Whether records of this kind (their main document) are in the set.
    pub fn covers(&self, kind: Kind) -> bool {
        self.covers_category(crate::schema::kind_category(kind))
    }

    /// Whether the document is in the set: a record's main document by its
    /// kind, a part document by the part's category.
    pub fn covers_doc(&self, id: &crate::DocId) -> bool {
        self.covers_category(id.category())
    }

    /// The categories in both sets.
    pub fn intersect(&self, other: &Sharing) -> Sharing {
        Sharing(
            self.0
                .iter()
                .copied()
                .filter(|c| other.0.contains(c))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_all(&self) -> bool {
        self.0.len() == SHARED_CATEGORIES.len()
    }

    pub fn categories(&self) -> &[Category] {
        &self.0
    }
}

impl fmt::Display for Sharing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.0.iter().map(|c| c.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Customers => "customers",
            Category::Suppliers => "suppliers",
            Category::Products => "products",
            Category::CreditLimit => "credit_limit",
            Category::ProductParameters => "product_parameters",
            Category::SalePrice => "sale_price",
            Category::AdditionalFields => "additional_fields",
            Category::TaxRates => "tax_rates",
            Category::Units => "units",
            Category::Group => "group",
        }
    }

    /// Reads a category name as `elo share` and the API take it.
    pub fn parse(word: &str) -> Result<Category, String> {
        let w = word.trim().to_ascii_lowercase().replace('-', "_");
        SHARED_CATEGORIES
            .into_iter()
            .find(|c| c.as_str() == w)
            .ok_or_else(|| {
                let names: Vec<&str> = SHARED_CATEGORIES.iter().map(|c| c.as_str()).collect();
                format!(
                    "unknown category {word:?}: expected all, none or some of {}",
                    names.join(", ")
                )
            })
    }

    /// Categories made of some fields of a record rather than whole
    /// records: their values live in a part document of the record, so that
    /// a company that does not receive them is never sent them.
    pub fn is_field_level(self) -> bool {
        matches!(
            self,
            Category::CreditLimit
                | Category::ProductParameters
                | Category::SalePrice
                | Category::AdditionalFields
                | Category::TaxRates
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_lists() {
        assert_eq!(Sharing::parse("").unwrap(), Sharing::all());
        assert_eq!(Sharing::parse("ALL").unwrap().to_string(), "all");
        let s = Sharing::parse("products, units").unwrap();
        assert!(
            s.covers(Kind::Product) && s.covers(Kind::ProductGroup) && !s.covers(Kind::Customer)
        );
        assert!(s.covers(Kind::Company), "the roster always travels");
        assert_eq!(s.to_string(), "products,units");
        assert!(!Sharing::parse("none").unwrap().covers(Kind::Carrier));
        assert!(
            Sharing::parse("customers,prices")
                .unwrap_err()
                .contains("prices")
        );
        let fields = Sharing::parse("products,sale_price").unwrap();
        assert!(fields.covers_category(Category::SalePrice));
        assert!(!fields.covers_category(Category::CreditLimit));
        assert_eq!(fields.to_string(), "products,sale_price");
        assert_eq!(Sharing::all().intersect(&fields), fields);
    }
}
