//! Stock across companies (seed 002): each company publishes its own
//! figures per SKU (quantity and reserved, per deposit where it has several)
//! and sees everyone's, with the group total. Only the owner writes its
//! figures (see `store::stock` for how they are kept and why they are not
//! automerge documents).
//!
//! Views, kits and scope are computed here from the store's registers;
//! the figures travel with replication (its stock log), never from here.

use std::collections::{BTreeMap, HashMap};

use elo_crdt::value::{decimal_of_json, format_decimal};
use elo_crdt::{DocId, FieldValue, Kind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::stock::{StockEntry, StockWriteReport};
use crate::store::{StoreError, StoreHandle};

/// Longest deposit name.
const MAX_DEPOSIT: usize = 60;
/// Most entries in one bulk update.
pub const MAX_STOCK_ROWS: usize = 10_000;

/// One row of a stock update as the ERP sends it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockInput {
    pub sku: String,
    pub quantity: Value,
    #[serde(default)]
    pub reserved: Option<Value>,
    #[serde(default)]
    pub deposit: Option<String>,
}

/// A refused row of a stock update.
#[derive(Clone, Debug, Serialize)]
pub struct StockRejected {
    pub index: usize,
    pub message: String,
}

/// What a stock update did.
#[derive(Clone, Debug, Serialize)]
pub struct StockUpdateReport {
    pub stored: usize,
    pub unchanged: usize,
    pub rejected: Vec<StockRejected>,
}

/// Whose figures a view shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every company's (the default).
    #[default]
    All,
    /// This company's only.
    Own,
}

/// One deposit's figures.
#[derive(Clone, Debug, Serialize)]
pub struct DepositStock {
    pub deposit: String,
    pub quantity: String,
    pub reserved: String,
    pub available: String,
    pub updated_ms: i64,
}

/// One company's figures for a SKU.
#[derive(Clone, Debug, Serialize)]
pub struct CompanyStock {
    pub company: String,
    pub quantity: String,
    pub reserved: String,
    pub available: String,
    /// Whether the company's stock counts in the group total ("considerar
    /// estoque desta empresa", set by each company).
    pub counted: bool,
    pub deposits: Vec<DepositStock>,
}

/// A SKU's stock across the group.
#[derive(Clone, Debug, Serialize)]
pub struct StockView {
    pub sku: String,
    pub companies: Vec<CompanyStock>,
    /// The sum over the companies that count.
    pub total: Totals,
    /// For a kit: its balance across companies, both ways seed 002 offers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kit: Option<KitBalance>,
}

/// A kit's balance across the group.
#[derive(Clone, Debug, Serialize)]
pub struct KitBalance {
    /// "Saldo final do kit": the kits already assembled, summed over the
    /// companies that count (available, i.e. less reserved).
    pub assembled: String,
    /// "Saldo dos componentes": how many whole kits the group's combined
    /// components make, wherever each component is.
    pub from_components: String,
    pub components: Vec<ComponentBalance>,
}

/// One component of a kit and what the group has of it.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentBalance {
    pub sku: String,
    pub per_kit: String,
    pub available: String,
    /// Whole kits this component alone allows.
    pub kits: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Totals {
    pub quantity: String,
    pub reserved: String,
    pub available: String,
}

fn quantity(q: i64) -> String {
    format_decimal(q, 3)
}

/// Parses a quantity (three places, like the product fields). A stock
/// figure is what a company holds: never negative.
fn parse_quantity(value: &Value, what: &str) -> Result<i64, String> {
    decimal_of_json(value, 3).map_err(|e| format!("{what}: {e}"))
}

/// The SKU as records key it (trimmed, checked).
pub fn normalise_sku(sku: &str) -> Result<String, String> {
    DocId::from_key(Kind::Product, sku)
        .map(|id| id.key_value().to_owned())
        .map_err(|e| format!("sku: {e}"))
}

fn parse_row(row: &StockInput, me: &str) -> Result<StockEntry, String> {
    let sku = normalise_sku(&row.sku)?;
    let quantity = parse_quantity(&row.quantity, "quantity")?;
    let reserved = match &row.reserved {
        None | Some(Value::Null) => 0,
        Some(v) => parse_quantity(v, "reserved")?,
    };
    if reserved > quantity {
        return Err(format!(
            "reserved: {} is more than the quantity held, {}",
            format_decimal(reserved, 3),
            format_decimal(quantity, 3)
        ));
    }
    let deposit = row.deposit.as_deref().unwrap_or("").trim().to_owned();
    if deposit.chars().count() > MAX_DEPOSIT || deposit.chars().any(|c| c.is_control() || c == '/')
    {
        return Err(format!(
            "deposit: at most {MAX_DEPOSIT} characters, no control characters or '/'"
        ));
    }
    Ok(StockEntry {
        sku,
        company: me.to_owned(),
        deposit,
        quantity,
        reserved,
        version: 0,
        updated_ms: 0,
    })
}

/// Stores this company's figures; each row is checked alone, valid rows
/// are stored in one transaction.
pub async fn update(
    store: &StoreHandle,
    me: &str,
    rows: &[StockInput],
) -> Result<StockUpdateReport, StoreError> {
    let mut entries = Vec::with_capacity(rows.len());
    let mut rejected = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        match parse_row(row, me) {
            Ok(e) => entries.push(e),
            Err(message) => rejected.push(StockRejected { index, message }),
        }
    }
    let StockWriteReport {
        stored, unchanged, ..
    } = if entries.is_empty() {
        StockWriteReport::default()
    } else {
        store.write_stock(entries, true).await?
    };
    Ok(StockUpdateReport {
        stored,
        unchanged,
        rejected,
    })
}

/// Whether a company's stock counts in the group total: yes unless its
/// roster record says `consider_stock: false`.
/// `known` keeps the answers of one view, so each company is read once.
async fn counted(
    store: &StoreHandle,
    known: &mut HashMap<String, bool>,
    company: &str,
) -> Result<bool, StoreError> {
    if let Some(c) = known.get(company) {
        return Ok(*c);
    }
    let counts = match DocId::from_key(Kind::Company, company) {
        Ok(id) => store.get(id).await?.is_none_or(|r| {
            !matches!(
                r.values.get("consider_stock"),
                Some(FieldValue::Bool(false))
            )
        }),
        Err(_) => true,
    };
    known.insert(company.to_owned(), counts);
    Ok(counts)
}

/// The group total of a SKU's stock, over the companies that count.
async fn totals(
    store: &StoreHandle,
    known: &mut HashMap<String, bool>,
    me: &str,
    sku: &str,
    scope: Scope,
) -> Result<(i64, i64), StoreError> {
    let mut q = 0;
    let mut r = 0;
    for e in store.stock_of(sku.to_owned()).await? {
        if (scope == Scope::Own && e.company != me) || !counted(store, known, &e.company).await? {
            continue;
        }
        q += e.quantity;
        r += e.reserved;
    }
    Ok((q, r))
}

/// A kit's balance, when `sku` is a kit.
async fn kit_balance(
    store: &StoreHandle,
    known: &mut HashMap<String, bool>,
    me: &str,
    sku: &str,
    scope: Scope,
    assembled: i64,
) -> Result<Option<KitBalance>, StoreError> {
    let Ok(id) = DocId::from_key(Kind::Product, sku) else {
        return Ok(None);
    };
    let Some(product) = store.get(id).await? else {
        return Ok(None);
    };
    if !matches!(product.values.get("structure"), Some(FieldValue::Text(s)) if s == "kit") {
        return Ok(None);
    }
    let mut components = Vec::new();
    let mut kits: Option<i64> = None;
    for (key, value) in &product.values {
        let (Some(component), FieldValue::Int(per_kit)) =
            (key.strip_prefix(elo_crdt::schema::COMPONENT), value)
        else {
            continue;
        };
        if *per_kit <= 0 {
            continue;
        }
        let (q, r) = totals(store, known, me, component, scope).await?;
        let available = q - r;
        // Whole kits: quantities are scaled by 1000 on both sides.
        let allows = (available.max(0) / per_kit).max(0);
        kits = Some(kits.map_or(allows, |k| k.min(allows)));
        components.push(ComponentBalance {
            sku: component.to_owned(),
            per_kit: quantity(*per_kit),
            available: quantity(available),
            kits: allows.to_string(),
        });
    }
    Ok(Some(KitBalance {
        assembled: quantity(assembled),
        from_components: kits.unwrap_or(0).to_string(),
        components,
    }))
}

/// A SKU's figures at each company and the group total.
pub async fn view(
    store: &StoreHandle,
    me: &str,
    sku: &str,
    scope: Scope,
) -> Result<StockView, StoreError> {
    let mut by_company: BTreeMap<String, Vec<StockEntry>> = BTreeMap::new();
    for entry in store.stock_of(sku.to_owned()).await? {
        if scope == Scope::Own && entry.company != me {
            continue;
        }
        by_company
            .entry(entry.company.clone())
            .or_default()
            .push(entry);
    }
    let mut companies = Vec::new();
    let (mut total_q, mut total_r) = (0i64, 0i64);
    let mut known = HashMap::new();
    for (company, entries) in by_company {
        let q: i64 = entries.iter().map(|e| e.quantity).sum();
        let r: i64 = entries.iter().map(|e| e.reserved).sum();
        let counts = counted(store, &mut known, &company).await?;
        if counts {
            total_q += q;
            total_r += r;
        }
        companies.push(CompanyStock {
            company,
            quantity: quantity(q),
            reserved: quantity(r),
            available: quantity(q - r),
            counted: counts,
            deposits: entries
                .iter()
                .map(|e| DepositStock {
                    deposit: e.deposit.clone(),
                    quantity: quantity(e.quantity),
                    reserved: quantity(e.reserved),
                    available: quantity(e.quantity - e.reserved),
                    updated_ms: e.updated_ms,
                })
                .collect(),
        });
    }
    let kit = kit_balance(store, &mut known, me, sku, scope, total_q - total_r).await?;
    Ok(StockView {
        kit,
        sku: sku.to_owned(),
        companies,
        total: Totals {
            quantity: quantity(total_q),
            reserved: quantity(total_r),
            available: quantity(total_q - total_r),
        },
    })
}
