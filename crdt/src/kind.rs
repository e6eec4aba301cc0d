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

impl Kind {
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
}
