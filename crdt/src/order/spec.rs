//! Every field of an order, with its Portuguese label and check. These
//! names are a contract (ERPs and scripts rely on them): added to, never
//! renamed. `elo fields order` prints them from here.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use super::{OrderBody, set_leaf};
use crate::error::FieldError;
use crate::ident;
use crate::schema::FieldType;
use crate::value::{FieldValue, parse_value};

/// How a leaf is checked.
#[derive(Clone, Copy, Debug)]
pub enum LeafType {
    Field(FieldType),
    /// A CPF or a CNPJ (the customer, a person or a company).
    TaxId,
}

/// One checked value of an order.
#[derive(Clone, Copy, Debug)]
pub struct Leaf {
    pub name: &'static str,
    pub label_pt: &'static str,
    pub ty: FieldType,
    pub check: LeafType,
}

impl Leaf {
    pub fn parse(&self, value: &Json) -> Result<FieldValue, String> {
        match self.check {
            LeafType::Field(ty) => parse_value(ty, value),
            LeafType::TaxId => match value {
                Json::String(s) => ident::cpf_or_cnpj(s)
                    .map(|t| FieldValue::Text(t.as_str().to_string()))
                    .map_err(|e| e.to_string()),
                _ => Err("expected a CPF or CNPJ as text".into()),
            },
        }
    }
}

/// Fields grouped in an object (`delivery`, `channel`, `freight`).
pub struct Group {
    pub name: &'static str,
    pub label_pt: &'static str,
    pub fields: &'static [Leaf],
}

/// A list of lines (`items`, `installments`), each with a stable `line` id.
pub struct List {
    pub name: &'static str,
    pub label_pt: &'static str,
    pub fields: &'static [Leaf],
    /// An order without any is refused.
    pub required: bool,
}

const fn leaf(name: &'static str, label_pt: &'static str, ty: FieldType) -> Leaf {
    Leaf {
        name,
        label_pt,
        ty,
        check: LeafType::Field(ty),
    }
}

const MONEY: FieldType = FieldType::Decimal(2);
const QUANTITY: FieldType = FieldType::Decimal(3);
const SHORT: FieldType = FieldType::Text(60);
const NAME: FieldType = FieldType::Text(120);
const LONG: FieldType = FieldType::Text(2000);

/// The status words (see [`super::OrderStatus`]).
pub const STATUS_NAMES: &[&str] = &[
    "open",
    "approved",
    "in_progress",
    "invoiced",
    "partially_invoiced",
    "fulfilled",
    "cancelled",
    "awaiting_payment",
    "payment_confirmed",
];

/// Who pays the freight, as NF-e's `modFrete` knows it: CIF (the sender),
/// FOB (the recipient), a third party, own transport of either, none.
pub const FREIGHT_PAYERS: &[&str] = &[
    "cif",
    "fob",
    "third_party",
    "own_sender",
    "own_recipient",
    "none",
];

/// Fields at the top of the order.
pub const SCALARS: &[Leaf] = &[
    leaf("number", "Número", FieldType::Count),
    leaf("erp_code", "Número no ERP", SHORT),
    leaf("date", "Data", FieldType::Date),
    leaf("expected_date", "Data prevista", FieldType::Date),
    Leaf {
        name: "customer",
        label_pt: "Cliente (CPF/CNPJ)",
        ty: FieldType::Text(14),
        check: LeafType::TaxId,
    },
    leaf("status", "Situação", FieldType::Choice(STATUS_NAMES)),
    leaf("operation_nature", "Natureza da operação", SHORT),
    leaf("carrier", "Transportadora", NAME),
    leaf("salesperson", "Vendedor", NAME),
    leaf("purchase_order", "Número da ordem de compra", SHORT),
    leaf("notes", "Observações", LONG),
    leaf("internal_notes", "Observações internas", LONG),
];

pub const GROUPS: &[Group] = &[
    Group {
        name: "delivery",
        label_pt: "Endereço de entrega",
        fields: &[
            leaf("name", "Nome", NAME),
            leaf("street", "Endereço", NAME),
            leaf("number", "Número", FieldType::Text(20)),
            leaf("complement", "Complemento", SHORT),
            leaf("district", "Bairro", SHORT),
            leaf("city", "Cidade", SHORT),
            leaf("state", "UF", FieldType::State),
            leaf("zip_code", "CEP", FieldType::ZipCode),
        ],
    },
    Group {
        name: "freight",
        label_pt: "Frete",
        fields: &[
            leaf("amount", "Valor do frete", MONEY),
            leaf(
                "paid_by",
                "Frete por conta (CIF/FOB)",
                FieldType::Choice(FREIGHT_PAYERS),
            ),
        ],
    },
    Group {
        name: "channel",
        label_pt: "Canal de venda",
        fields: &[
            leaf("id", "Código do canal", SHORT),
            leaf("name", "Nome do canal", SHORT),
            leaf(
                "intermediary_cnpj",
                "CNPJ do intermediador",
                FieldType::Cnpj,
            ),
            leaf("intermediary_user", "Usuário no intermediador", SHORT),
        ],
    },
];

pub const LISTS: &[List] = &[
    List {
        name: "items",
        label_pt: "Itens",
        fields: &[
            leaf("sku", "Código (SKU)", SHORT),
            leaf("description", "Descrição", NAME),
            leaf("unit", "Unidade", FieldType::Text(6)),
            leaf("quantity", "Quantidade", QUANTITY),
            leaf("unit_price", "Valor unitário", MONEY),
            leaf("discount", "Desconto", MONEY),
        ],
        required: true,
    },
    List {
        name: "installments",
        label_pt: "Parcelas",
        fields: &[
            leaf("due_date", "Vencimento", FieldType::Date),
            leaf("amount", "Valor", MONEY),
            leaf("method", "Forma de pagamento", SHORT),
        ],
        required: false,
    },
];

/// Fields the node sets and shows, accepted (and ignored) in a write so
/// what the API answers can be sent back.
pub const NODE_FIELDS: &[&str] = &["key", "link", "invoice", "conflicts", "fiscal", "direction"];

pub(super) fn apply_group(
    body: &mut OrderBody,
    group: &Group,
    value: &Json,
    errors: &mut Vec<FieldError>,
) {
    if value.is_null() {
        body.values
            .retain(|k, _| !k.starts_with(&format!("{}.", group.name)));
        return;
    }
    let Json::Object(map) = value else {
        errors.push(FieldError::new(group.name, "expected an object"));
        return;
    };
    for (name, v) in map {
        let path = format!("{}.{name}", group.name);
        match group.fields.iter().find(|f| f.name == name) {
            Some(f) => set_leaf(body, path, f, v, errors),
            None => errors.push(FieldError::new(path, "not a field of an order")),
        }
    }
}

/// Replaces a list. A row naming an existing `line` keeps that id (and its
/// fields the row leaves out); a row without one gets a new id, never one
/// used before in this order.
pub(super) fn apply_list(
    before: &OrderBody,
    body: &mut OrderBody,
    list: &List,
    value: &Json,
    lines: super::LineBlock,
    errors: &mut Vec<FieldError>,
) {
    let rows: &[Json] = match value {
        Json::Null => &[],
        Json::Array(rows) => rows,
        _ => {
            errors.push(FieldError::new(list.name, "expected a list"));
            return;
        }
    };
    let prefix = format!("{}.", list.name);
    let old = before.lines(list.name);
    let mut next_id = lines.next_after(&old);
    body.values.retain(|k, _| !k.starts_with(&prefix));
    let mut seen = BTreeSet::new();
    for (i, row) in rows.iter().enumerate() {
        let at = format!("{}[{i}]", list.name);
        let Json::Object(map) = row else {
            errors.push(FieldError::new(at, "expected an object"));
            continue;
        };
        let id = match map.get("line") {
            None | Some(Json::Null) => {
                next_id += 1;
                next_id - 1
            }
            Some(v) => match v.as_u64().filter(|id| old.contains(id)) {
                Some(id) => id,
                None => {
                    errors.push(FieldError::new(
                        format!("{at}.line"),
                        format!("{v} is not a line of this order; leave `line` out for a new line"),
                    ));
                    continue;
                }
            },
        };
        if !seen.insert(id) {
            errors.push(FieldError::new(format!("{at}.line"), "names a line twice"));
            continue;
        }
        // A kept line keeps what the row does not name.
        for (k, v) in &before.values {
            if k.starts_with(&format!("{prefix}{id}.")) {
                body.values.insert(k.clone(), v.clone());
            }
        }
        for (name, v) in map.iter().filter(|(n, _)| n.as_str() != "line") {
            let path = format!("{prefix}{id}.{name}");
            match list.fields.iter().find(|f| f.name == name) {
                Some(f) => {
                    let mut row_errors = Vec::new();
                    set_leaf(body, path, f, v, &mut row_errors);
                    errors.extend(
                        row_errors
                            .into_iter()
                            .map(|e| FieldError::new(format!("{at}.{name}"), e.reason)),
                    );
                }
                None => errors.push(FieldError::new(
                    format!("{at}.{name}"),
                    "not a field of an order line",
                )),
            }
        }
    }
}

pub(super) fn check_required(body: &OrderBody, errors: &mut Vec<FieldError>) {
    for name in ["customer", "date"] {
        let refused = errors.iter().any(|e| e.field == name);
        if body.get(name).is_none() && !refused {
            errors.push(FieldError::new(name, "required"));
        }
    }
    if body.lines("items").is_empty() {
        errors.push(FieldError::new("items", "an order has at least one item"));
    }
}

/// Checks that need the whole order: every line complete and its discount
/// within its value; installments (when `installments_written`) adding up
/// to the total.
pub(super) fn check_whole(
    body: &OrderBody,
    installments_written: bool,
    errors: &mut Vec<FieldError>,
) {
    let int = |p: &str| match body.get(p) {
        Some(FieldValue::Int(i)) => Some(i128::from(*i)),
        _ => None,
    };
    for (i, id) in body.lines("items").into_iter().enumerate() {
        let at = format!("items[{i}]");
        for name in ["sku", "quantity", "unit_price"] {
            if body.get(&format!("items.{id}.{name}")).is_none() {
                errors.push(FieldError::new(format!("{at}.{name}"), "required"));
            }
        }
        let q = int(&format!("items.{id}.quantity"));
        if q == Some(0) {
            errors.push(FieldError::new(
                format!("{at}.quantity"),
                "must be more than zero",
            ));
        }
        let value = q
            .zip(int(&format!("items.{id}.unit_price")))
            .map(|(q, p)| (q * p + 500) / 1000);
        if let (Some(value), Some(d)) = (value, int(&format!("items.{id}.discount")))
            && d > value
        {
            errors.push(FieldError::new(
                format!("{at}.discount"),
                "is more than the line's value",
            ));
        }
    }
    let installments = body.lines("installments");
    if installments_written && !installments.is_empty() {
        let sum: i128 = installments
            .iter()
            .filter_map(|id| int(&format!("installments.{id}.amount")))
            .sum();
        let total = body.total_cents();
        if sum != total {
            errors.push(FieldError::new(
                "installments",
                format!(
                    "add up to {}, the order's total is {}",
                    crate::value::format_decimal(sum as i64, 2),
                    crate::value::format_decimal(total as i64, 2)
                ),
            ));
        }
    }
}
