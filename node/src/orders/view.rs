//! An order as the API shows it: its fields, and what the node knows of it
//! (its key and number here, its link, its invoice, its cancellation, its
//! conflicts, and which company invoices it).

use elo_crdt::order::doc::OrderDoc;
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

/// Which end of its link this company is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    /// Not sent, not received: this company's own order.
    Own,
    Origin,
    Destination,
}

pub(super) fn end_of(doc: &OrderDoc, me: &str) -> End {
    if doc.meta("_link.id").is_none() {
        End::Own
    } else if doc.meta("_link.destination").as_deref() == Some(me) {
        End::Destination
    } else {
        End::Origin
    }
}

/// `GET /v1/orders` filters.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderFilter {
    pub status: Option<String>,
    /// `sent`, `received` or `own`.
    pub direction: Option<String>,
    /// The last key of the previous page.
    pub after: Option<String>,
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_limit() -> usize {
    100
}

impl OrderFilter {
    pub(super) fn matches(&self, view: &Json) -> bool {
        let is = |field: &str, want: &Option<String>| {
            want.as_deref()
                .is_none_or(|w| view[field].as_str() == Some(w))
        };
        is("status", &self.status) && is("direction", &self.direction)
    }
}

/// Renders a stored order for this company.
pub(super) fn render(key: &str, doc: &OrderDoc, me: &str, here_uf: Option<&str>) -> Json {
    let body = doc.body();
    let mut out = match body.to_json() {
        Json::Object(m) => m,
        _ => Map::new(),
    };
    let end = end_of(doc, me);
    out.insert("key".into(), json!(key));
    // The number is this company's: at the destination, its own.
    if let Ok(n) = key.parse::<u64>() {
        out.insert("number".into(), json!(n));
    }
    out.insert("status".into(), json!(body.status().as_str()));
    // Handed over (`cancel_at_origin`): cancelled here, its lines released
    // (what the ERP un-reserves), the destination in control.
    if end == End::Origin && doc.meta("_origin.closed").is_some() {
        out.insert("status".into(), json!("cancelled"));
        out.insert("control".into(), json!("destination"));
        let released: Vec<Json> = out
            .get("items")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .map(|i| json!({"sku": i["sku"], "quantity": i["quantity"]}))
            .collect();
        out.insert("released".into(), Json::Array(released));
    }
    // At the destination: the natureza it took, and that taxes are its own.
    if end == End::Destination
        && let Some(here) = doc.meta("_nature.destination")
    {
        let origin = out.get("operation_nature").cloned().unwrap_or(Json::Null);
        out.insert("operation_nature".into(), json!(here));
        out.insert(
            "nature".into(),
            json!({"origin": origin, "here": here,
                   "how": doc.meta("_nature.how"),
                   "taxes": "recalculated at this company"}),
        );
    }
    let direction = match end {
        End::Own => "own",
        End::Origin => "sent",
        End::Destination => "received",
    };
    out.insert("direction".into(), json!(direction));
    let group = |prefix: &str, names: &[&str]| {
        let mut m = Map::new();
        for n in names {
            if let Some(v) = doc.meta(&format!("{prefix}.{n}")) {
                m.insert((*n).to_string(), json!(v));
            }
        }
        (!m.is_empty()).then_some(Json::Object(m))
    };
    if let Some(link) = group(
        "_link",
        &[
            "id",
            "origin",
            "destination",
            "origin_key",
            "destination_key",
        ],
    ) {
        out.insert("link".into(), link);
    }
    if let Some(mut invoice) = group(
        "_invoice",
        &["number", "series", "access_key", "issued_at", "by"],
    ) {
        for n in ["number", "series"] {
            if let Some(v) = invoice[n].as_str().and_then(|s| s.parse::<u64>().ok()) {
                invoice[n] = json!(v);
            }
        }
        out.insert("invoice".into(), invoice);
        if end == End::Destination {
            let held = doc.meta(super::write::FISCAL_HELD).as_deref() == Some("1");
            out.insert(
                "fiscal_data".into(),
                json!({"sent": !held,
                       "send": held.then(|| format!("POST /v1/orders/{key}/fiscal (elo orders send-fiscal {key})"))}),
            );
        }
        let all = super::invoices::Invoiced::list(doc);
        if !all.is_empty() {
            out.insert("invoices".into(), json!(all));
        }
    }
    super::records::render(doc, &mut out);
    if let Some(cancel) = group("_cancel", &["reason", "by", "at_ms"]) {
        out.insert("cancellation".into(), cancel);
    }
    // Which company issues the NF-e: the destination of a sent order, so
    // the origin's ERP must not invoice it too (two NF-e for one sale).
    let invoicer = match end {
        End::Own => me.to_string(),
        _ => doc.meta("_link.destination").unwrap_or_default(),
    };
    if invoicer == me && end != End::Own {
        out.insert("fiscal".into(), fiscal(&body, me, here_uf));
    }
    out.insert("invoices_here".into(), json!(invoicer == me));
    out.insert("invoicing_company".into(), json!(invoicer));
    let conflicts: Vec<Json> = doc
        .conflicts()
        .into_iter()
        .map(|c| json!({"field": c.field, "values": c.values}))
        .collect();
    out.insert("conflicts".into(), Json::Array(conflicts));
    Json::Object(out)
}

/// Transfer or sale, and the CFOP elo suggests, for the company that
/// invoices a received order: from its UF to the delivery's.
fn fiscal(body: &elo_crdt::order::OrderBody, me: &str, here_uf: Option<&str>) -> Json {
    use elo_crdt::order::fiscal::{GoodsOrigin, suggest};
    let (Some(uf), Some(to_uf), Some(customer)) =
        (here_uf, body.text("delivery.state"), body.text("customer"))
    else {
        return json!({"missing": format!(
            "the CFOP needs this company's UF and the delivery's: set it with elo put company {me} '{{\"state\":\"SP\"}}', and the order's delivery.state"
        )});
    };
    let s = suggest(me, uf, customer, to_uf, GoodsOrigin::Resale);
    json!({"operation": s.operation, "cfop": s.cfop, "reason": s.reason,
           "note": "a suggestion for goods bought for resale; the CFOP the ERP sets is never changed"})
}
