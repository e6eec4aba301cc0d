//! The fields each kind of record carries, with their Portuguese labels (as
//! the seeds' ERPs name them), their types and their sharing category.
//!
//! These names are a contract: ERPs and scripts rely on them, so a field is
//! never renamed, only added. The README's field table is printed from here
//! (`elo fields`), so the two cannot drift.

use crate::kind::{Category, Kind};

/// How a field's value is checked, stored and rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// Free text up to this many characters.
    Text(usize),
    Cpf,
    Cnpj,
    Email,
    /// CEP, 8 digits.
    ZipCode,
    /// UF, one of the 27 federative units (or EX).
    State,
    /// Digits with the usual punctuation, 8 to 15 digits once stripped.
    Phone,
    Gtin,
    Ncm,
    Cest,
    Cfop,
    /// Exact decimal with this many places, never negative. Stored as a
    /// scaled integer, rendered as a string ("1500.00") so no float touches it.
    Decimal(u8),
    /// `YYYY-MM-DD`.
    Date,
    Bool,
    /// Whole number, never negative.
    Count,
    /// One of a fixed list of words.
    Choice(&'static [&'static str]),
}

/// One field of a kind.
#[derive(Clone, Copy, Debug)]
pub struct FieldSpec {
    pub name: &'static str,
    pub label_pt: &'static str,
    pub ty: FieldType,
    pub category: Category,
}

const MONEY: FieldType = FieldType::Decimal(2);
const RATE: FieldType = FieldType::Decimal(4);
const QUANTITY: FieldType = FieldType::Decimal(3);
const SHORT: FieldType = FieldType::Text(60);
const LONG: FieldType = FieldType::Text(2000);

const fn f(
    name: &'static str,
    label_pt: &'static str,
    ty: FieldType,
    category: Category,
) -> FieldSpec {
    FieldSpec {
        name,
        label_pt,
        ty,
        category,
    }
}

use Category::{
    CreditLimit as CREDIT, Customers as CUST, ProductParameters as PARAM, Products as PROD,
    SalePrice as PRICE, Suppliers as SUPP, TaxRates as TAX, Units as UNITS,
};

const CUSTOMER: &[FieldSpec] = &[
    f("code", "Código", FieldType::Count, CUST),
    f("cpf", "CPF", FieldType::Cpf, CUST),
    f("cnpj", "CNPJ", FieldType::Cnpj, CUST),
    f("rg", "RG", FieldType::Text(20), CUST),
    f("name", "Nome", FieldType::Text(120), CUST),
    f("contact", "Contato", SHORT, CUST),
    f("zip_code", "CEP", FieldType::ZipCode, CUST),
    f(
        "street_type",
        "Tipo (logradouro)",
        FieldType::Text(20),
        CUST,
    ),
    f("street", "Logradouro", FieldType::Text(120), CUST),
    f("number", "Número", FieldType::Text(20), CUST),
    f("complement", "Complemento", SHORT, CUST),
    f("district", "Bairro", SHORT, CUST),
    f("state", "UF", FieldType::State, CUST),
    f("city", "Município", SHORT, CUST),
    f("country", "País", SHORT, CUST),
    f("email", "Email 1", FieldType::Email, CUST),
    f("email_2", "Email 2", FieldType::Email, CUST),
    f("nfe_email", "Email NF-e", FieldType::Email, CUST),
    f("alert", "Alerta", FieldType::Text(500), CUST),
    f("home_phone", "Fone residencial", FieldType::Phone, CUST),
    f("business_phone", "Fone comercial", FieldType::Phone, CUST),
    f("mobile_phone", "Celular/0800", FieldType::Phone, CUST),
    f("fax", "Fax", FieldType::Phone, CUST),
    f("notes", "Observações", LONG, CUST),
    f("active", "Status (ativo)", FieldType::Bool, CUST),
    f("credit_limit", "Limite de crédito", MONEY, CREDIT),
    f("agreement", "Convênio", SHORT, CUST),
    f("business_line", "Ramo de atividade", SHORT, CUST),
    f(
        "customer_type",
        "Tipo (atacado ou varejo)",
        FieldType::Choice(&["wholesale", "retail"]),
        CUST,
    ),
    f("birth_date", "Nascimento", FieldType::Date, CUST),
    f("birthplace", "Naturalidade", SHORT, CUST),
    f("father_name", "Pai", FieldType::Text(120), CUST),
    f("mother_name", "Mãe", FieldType::Text(120), CUST),
    f("profession", "Profissão", SHORT, CUST),
    f("workplace", "Local de trabalho", SHORT, CUST),
    f("income", "Renda", MONEY, CUST),
    f("admission_date", "Data de admissão", FieldType::Date, CUST),
    f("spouse_name", "Cônjuge", FieldType::Text(120), CUST),
    f("spouse_cpf", "CPF do cônjuge", FieldType::Cpf, CUST),
    f(
        "spouse_birth_date",
        "Nascimento do cônjuge",
        FieldType::Date,
        CUST,
    ),
    f("dependents", "Dependentes", FieldType::Count, CUST),
    f(
        "housing",
        "Casa própria / financiada",
        FieldType::Choice(&["own", "financed", "rented", "other"]),
        CUST,
    ),
    f("salesperson", "Vendedor", SHORT, CUST),
];

/// Suppliers and carriers share one field list, as in the seed.
const SUPPLIER: &[FieldSpec] = &[
    f("code", "Código", FieldType::Count, SUPP),
    f("cnpj", "CNPJ", FieldType::Cnpj, SUPP),
    f("cpf", "CPF", FieldType::Cpf, SUPP),
    f("name", "Razão social", FieldType::Text(120), SUPP),
    f("trade_name", "Nome fantasia", FieldType::Text(120), SUPP),
    f("zip_code", "CEP", FieldType::ZipCode, SUPP),
    f(
        "street_type",
        "Tipo (logradouro)",
        FieldType::Text(20),
        SUPP,
    ),
    f("street", "Logradouro", FieldType::Text(120), SUPP),
    f("number", "Número", FieldType::Text(20), SUPP),
    f("complement", "Complemento", SHORT, SUPP),
    f("district", "Bairro", SHORT, SUPP),
    f("state", "UF", FieldType::State, SUPP),
    f("city", "Município", SHORT, SUPP),
    f("country", "País", SHORT, SUPP),
    f(
        "state_registration",
        "Inscrição estadual",
        FieldType::Text(20),
        SUPP,
    ),
    f(
        "municipal_registration",
        "Inscrição municipal",
        FieldType::Text(20),
        SUPP,
    ),
    f("business_phone", "Fone comercial", FieldType::Phone, SUPP),
    f("fax", "Fax", FieldType::Phone, SUPP),
    f("mobile_phone", "Celular", FieldType::Phone, SUPP),
    f("toll_free_phone", "0800", FieldType::Phone, SUPP),
    f("business_line", "Ramo de atividade", SHORT, SUPP),
    f("email", "E-mail", FieldType::Email, SUPP),
    f("website", "Site", FieldType::Text(200), SUPP),
    f("notes", "Observações", LONG, SUPP),
    f("active", "Status (ativo)", FieldType::Bool, SUPP),
    f("credit_limit", "Limite de crédito", MONEY, CREDIT),
];

const PRODUCT: &[FieldSpec] = &[
    f("code", "Código", FieldType::Count, PROD),
    f(
        "structure",
        "Estrutura",
        FieldType::Choice(&["simple", "kit", "variations"]),
        PROD,
    ),
    f(
        "parent_sku",
        "Produto pai (variação)",
        FieldType::Text(60),
        PROD,
    ),
    f("sku", "Código (SKU)", FieldType::Text(60), PROD),
    f("description", "Descrição", FieldType::Text(120), PROD),
    f(
        "complementary_description",
        "Descrição complementar",
        FieldType::Text(500),
        PROD,
    ),
    f("reference", "Referência", SHORT, PROD),
    f("gtin", "Código de barras (GTIN)", FieldType::Gtin, PROD),
    f("unit", "Unidade de medida", FieldType::Text(10), PROD),
    f("group", "Grupo", FieldType::Text(30), PROD),
    f("active", "Status (ativo)", FieldType::Bool, PROD),
    f("weight", "Peso (kg)", QUANTITY, PROD),
    f(
        "min_quantity",
        "Quantidade mínima (estoque mínimo)",
        QUANTITY,
        PROD,
    ),
    f("max_quantity", "Estoque máximo", QUANTITY, PROD),
    f("location", "Localização", SHORT, PROD),
    f("supplier", "Fornecedor", SHORT, PROD),
    f("sale_price", "Preço", MONEY, PRICE),
    f("promotional_price", "Preço promocional", MONEY, PRICE),
    f("wholesale_price", "Preço atacado", MONEY, PRICE),
    f("cost_price", "Preço de custo", MONEY, PRICE),
    f("average_cost", "Custo médio", MONEY, PRICE),
    f("gross_margin", "Lucro bruto (%)", RATE, PARAM),
    f("commission", "Comissão (%)", RATE, PARAM),
    f("ncm", "NCM", FieldType::Ncm, PARAM),
    f("cest", "CEST", FieldType::Cest, PARAM),
    f("cst_nfe", "CST NF-e", FieldType::Text(4), PARAM),
    f("cst_cf", "CST CF", FieldType::Text(4), PARAM),
    f("cf_tax_rate", "Taxa CF", FieldType::Text(10), TAX),
    f("icms_rate", "Taxa ICMS/ISS", RATE, TAX),
    f("effective_icms_rate", "% ICMS efetivo", RATE, TAX),
    f("ipi_rate", "IPI (%)", RATE, PARAM),
    f("cst_ipi", "CST IPI", FieldType::Text(4), PARAM),
    f(
        "ipi_framing_code",
        "CENQ (enquadramento IPI)",
        FieldType::Text(5),
        PARAM,
    ),
    f(
        "tax_exception",
        "Exceção fiscal (EX TIPI)",
        FieldType::Text(5),
        PARAM,
    ),
    f("pis_rate", "% PIS", RATE, PARAM),
    f("cofins_rate", "% Cofins", RATE, PARAM),
    f("cst_pis", "CST PIS", FieldType::Text(4), PARAM),
    f("cst_cofins", "CST COFINS", FieldType::Text(4), PARAM),
    f(
        "revenue_nature",
        "Natureza da receita",
        FieldType::Text(5),
        PARAM,
    ),
    f("mva", "MVA (%)", RATE, PARAM),
    f("cfop_ecf", "CFOP ECF", FieldType::Cfop, PARAM),
    f("cfop_nf", "CFOP NF", FieldType::Cfop, PARAM),
    f("icms_sharing", "Partilha (DIFAL)", FieldType::Bool, PARAM),
    f("fcp_rate", "FCP (%)", RATE, PARAM),
    f("anp_code", "Código ANP", FieldType::Text(9), PARAM),
    f(
        "scale_indicator",
        "Indicador de escala",
        FieldType::Choice(&["relevant", "not_relevant"]),
        PARAM,
    ),
    f(
        "manufacturer_cnpj",
        "CNPJ do fabricante",
        FieldType::Cnpj,
        PARAM,
    ),
    f(
        "tax_benefit_code",
        "Código benefício NF-e",
        FieldType::Text(10),
        PARAM,
    ),
    f("notes", "Observações", LONG, PROD),
];

const UNIT: &[FieldSpec] = &[
    f("code", "Sigla", FieldType::Text(10), UNITS),
    f("description", "Descrição", SHORT, UNITS),
];

const PRODUCT_GROUP: &[FieldSpec] = &[
    f("code", "Código", FieldType::Text(30), UNITS),
    f("description", "Descrição", SHORT, UNITS),
];

const COMPANY: &[FieldSpec] = &[
    f("cnpj", "CNPJ", FieldType::Cnpj, Category::Group),
    f("name", "Nome", FieldType::Text(120), Category::Group),
    f(
        "peer_id",
        "Identidade do nó",
        FieldType::Text(100),
        Category::Group,
    ),
    f(
        "listen_addrs",
        "Endereços de rede",
        FieldType::Text(2000),
        Category::Group,
    ),
    f(
        "admitted_by",
        "Admitida por (CNPJ)",
        FieldType::Cnpj,
        Category::Group,
    ),
    f(
        "sends",
        "Envia (categorias)",
        FieldType::Text(200),
        Category::Group,
    ),
    f(
        "receives",
        "Recebe (categorias)",
        FieldType::Text(200),
        Category::Group,
    ),
    f(
        "authorizes",
        "Autoriza receber de (CNPJ:categorias;…)",
        FieldType::Text(8000),
        Category::Group,
    ),
    f(
        "credit_escrow",
        "Limite de crédito em custódia (escrow)",
        FieldType::Bool,
        Category::Group,
    ),
    f(
        "consider_stock",
        "Considerar estoque desta empresa",
        FieldType::Bool,
        Category::Group,
    ),
    // Where the company invoices from: 5 or 6 in a CFOP.
    f("state", "UF", FieldType::State, Category::Group),
];

/// An extra address of a contact ("endereço de cobrança", "de entrega", …),
/// keyed by its label inside the record.
pub const ADDRESS: &[FieldSpec] = &[
    f("zip_code", "CEP", FieldType::ZipCode, CUST),
    f("street", "Logradouro", FieldType::Text(120), CUST),
    f("number", "Número", FieldType::Text(20), CUST),
    f("complement", "Complemento", SHORT, CUST),
    f("district", "Bairro", SHORT, CUST),
    f("city", "Município", SHORT, CUST),
    f("state", "UF", FieldType::State, CUST),
    f("country", "País", SHORT, CUST),
];

/// A customer's reference contact ("contato de referência"), keyed by name.
pub const REFERENCE: &[FieldSpec] = &[
    f("phone", "Telefone", FieldType::Phone, CUST),
    f("relation", "Relação", SHORT, CUST),
    f("notes", "Observações", FieldType::Text(500), CUST),
];

/// The fields of a kind, in display order.
pub fn fields(kind: Kind) -> &'static [FieldSpec] {
    match kind {
        Kind::Customer => CUSTOMER,
        Kind::Supplier | Kind::Carrier => SUPPLIER,
        Kind::Product => PRODUCT,
        Kind::Unit => UNIT,
        Kind::ProductGroup => PRODUCT_GROUP,
        Kind::Company => COMPANY,
    }
}

/// Looks a field of a kind up by name.
pub fn field(kind: Kind, name: &str) -> Option<&'static FieldSpec> {
    fields(kind).iter().find(|s| s.name == name)
}

/// Whether records of this kind carry extra addresses and references.
pub fn has_addresses(kind: Kind) -> bool {
    kind.is_contact()
}

pub fn has_references(kind: Kind) -> bool {
    kind == Kind::Customer
}

/// The field that must be present when a record is first created (besides
/// its key): a customer needs a name, a product a description.
pub fn required(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Customer | Kind::Supplier | Kind::Carrier | Kind::Company => &["name"],
        Kind::Product | Kind::Unit | Kind::ProductGroup => &["description"],
    }
}

/// The sharing category of the record as a whole (its kind).
pub fn kind_category(kind: Kind) -> Category {
    match kind {
        Kind::Customer => Category::Customers,
        Kind::Supplier | Kind::Carrier => Category::Suppliers,
        Kind::Product => Category::Products,
        Kind::Unit | Kind::ProductGroup => Category::Units,
        Kind::Company => Category::Group,
    }
}

/// Prefix of the keys holding the credit a customer used at each company
/// (`credit_used.CNPJ`, in cents). Each company writes only its own key, so
/// charges made apart all count once merged: the used credit is the sum.
/// Written by the credit operations only, never by a record write.
pub const CREDIT_USED: &str = "credit_used.";
/// Escrow mode: rights to a customer's credit a company handed to another
/// (`credit_gave.FROM.TO`), written by the giver only (see elo-node's
/// `escrow`: every right comes from the limit). `credit_grant.CNPJ`, rights
/// created by hand when escrow was switched on before the rights followed
/// the limit, is still recognised as escrow data but no longer counted.
pub const CREDIT_GRANT: &str = "credit_grant.";
pub const CREDIT_GAVE: &str = "credit_gave.";

/// Prefix of each company's own code for a record (`codes.CNPJ`): the
/// number its ERP knows the record by, beside the group's `code`. Written by
/// that company only (`erp_code` in a write).
pub const OWN_CODE: &str = "codes.";

/// Prefix of a kit's components (`component.SKU`, the quantity of that
/// product in one kit, three places).
pub const COMPONENT: &str = "component.";

/// The category a stored key (`name`, `extra.color`,
/// `address.billing.zip_code`) belongs to.
pub fn key_category(kind: Kind, key: &str) -> Category {
    if key.starts_with("extra.") {
        return Category::AdditionalFields;
    }
    if [CREDIT_USED, CREDIT_GRANT, CREDIT_GAVE]
        .iter()
        .any(|p| key.starts_with(p))
    {
        return Category::CreditLimit;
    }
    field(kind, key).map_or_else(|| kind_category(kind), |s| s.category)
}

/// The product fields a company may keep to itself (seed 002's
/// "campos restritos"): they stay in its node and are never shared.
pub const RESTRICTABLE: &[&str] = &[
    "min_quantity",
    "max_quantity",
    "supplier",
    "location",
    "cost_price",
    "average_cost",
    "sale_price",
    "promotional_price",
];

/// The field-level categories whose part documents a record of this kind
/// may have.
pub fn part_categories(kind: Kind) -> Vec<Category> {
    let mut out: Vec<Category> = fields(kind)
        .iter()
        .map(|f| f.category)
        .filter(|c| c.is_field_level())
        .collect();
    out.push(Category::AdditionalFields);
    out.sort();
    out.dedup();
    out
}
