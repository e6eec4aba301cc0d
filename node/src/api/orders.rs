//! Sales orders: this company's own, those it sent and those it received;
//! sending one to another company, its invoice, its cancellation, and the
//! order log an ERP follows.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::records::bulk_answer;
use super::request::{ApiQuery, MAX_BULK_RECORDS, SincePage, body_as, page_size, parse_json};
use super::routes::Routes;
use super::state::ApiState;
use crate::orders::{InvoiceInput, OrderError, OrderFilter, OrderRule, OrderSettings, RuleChange};

/// The order routes; a create takes a bulk body.
pub(super) fn router() -> Routes {
    Routes::new()
        .get("/v1/orders", list)
        .post_bulk("/v1/orders", create)
        .get("/v1/orders/changes", changes)
        .get("/v1/orders/{key}", show)
        .patch("/v1/orders/{key}", edit)
        .post("/v1/orders/{key}/send", send)
        .post("/v1/orders/{key}/invoice", invoice)
        .post("/v1/orders/{key}/fiscal", send_fiscal)
        .post("/v1/orders/{key}/cancel", cancel)
        .post("/v1/orders/{key}/split", split)
        .get("/v1/order-settings", settings)
        .put("/v1/order-settings", set_settings)
        .get("/v1/order-rules", rules)
        .post("/v1/order-rules", add_rule)
        .put("/v1/order-rules/{id}", replace_rule)
        .delete("/v1/order-rules/{id}", delete_rule)
        .post("/v1/order-rules/{id}/clone", clone_rule)
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::Invalid(v) => ApiError::invalid(v),
            OrderError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            OrderError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            OrderError::Refused(m) => ApiError::unprocessable(m),
            OrderError::NoNumber(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_code", m),
            OrderError::Store(s) => s.into(),
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "damaged",
                other.to_string(),
            ),
        }
    }
}

/// `POST /v1/orders`: one order (an object; 201 with the order) or up to
/// 10,000 (a list; each stands or fails alone, failures by index).
async fn create(State(state): State<ApiState>, body: Bytes) -> ApiResult<Response> {
    match parse_json(&body)? {
        Value::Array(rows) => {
            if rows.len() > MAX_BULK_RECORDS {
                return Err(ApiError::too_many("orders", MAX_BULK_RECORDS, rows.len()));
            }
            let results = state.orders.create(rows).await?;
            let mut keys = Vec::new();
            let mut rejected = Vec::new();
            for (index, r) in results.into_iter().enumerate() {
                match r {
                    Ok(order) => keys.push(order["key"].clone()),
                    Err(e) => {
                        let fields = match &e {
                            OrderError::Invalid(v) => json!(v.0),
                            _ => json!([]),
                        };
                        rejected.push(
                            json!({"index": index, "message": e.to_string(), "fields": fields}),
                        );
                    }
                }
            }
            let report = json!({"stored": keys.len(), "keys": keys, "rejected": rejected});
            Ok(bulk_answer(rejected.is_empty(), report))
        }
        one => {
            let mut results = state.orders.create(vec![one]).await?;
            let order = results
                .pop()
                .ok_or_else(|| ApiError::unprocessable("no order"))??;
            Ok((StatusCode::CREATED, Json(order)).into_response())
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    direction: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/orders?status=&direction=sent|received|own&after=&limit=`.
async fn list(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    if let Some(d) = q.direction.as_deref()
        && !["sent", "received", "own"].contains(&d)
    {
        return Err(ApiError::unprocessable(
            "direction is sent, received or own",
        ));
    }
    if let Some(s) = q.status.as_deref()
        && elo_crdt::order::OrderStatus::parse(s).is_none()
    {
        return Err(ApiError::unprocessable(format!(
            "status {s:?} is not one of {}",
            elo_crdt::order::spec::STATUS_NAMES.join(", ")
        )));
    }
    let limit = page_size(q.limit)?;
    let status = q
        .status
        .as_deref()
        .and_then(elo_crdt::order::OrderStatus::parse)
        .map(|s| s.as_str().to_string());
    let filter = OrderFilter {
        status,
        direction: q.direction,
        after: q.after,
        limit,
    };
    let orders = state.orders.list(filter).await?;
    let next = (orders.len() == limit)
        .then(|| orders.last().map(|o| o["key"].clone()))
        .flatten();
    Ok(Json(json!({"orders": orders, "next_after": next})))
}

async fn show(State(state): State<ApiState>, Path(key): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(state.orders.get(key).await?))
}

/// `PATCH /v1/orders/{key}`: the fields named change; a linked order's
/// change reaches the other end.
async fn edit(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let input = parse_json(&body)?;
    Ok(Json(state.orders.edit(key, input).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SendBody {
    to: Option<String>,
}

/// A member's CNPJ, normalised, or 404 `not_member` naming it.
async fn member(state: &ApiState, field: &str, cnpj: &str) -> ApiResult<String> {
    let cnpj = elo_crdt::ident::cnpj(cnpj)
        .map_err(|e| ApiError::invalid(elo_crdt::ValidationError::one(field, e.to_string())))?;
    let members = crate::group::roster(&state.store).await?;
    if members.iter().any(|m| m.cnpj == cnpj) {
        Ok(cnpj)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_member",
            format!("{cnpj} is not a member of the group (see `elo status`)"),
        ))
    }
}

/// `POST /v1/orders/{key}/send {"to": CNPJ}`: answers with the link.
/// Without `to`, the rules pick the destination by the delivery's UF and
/// the channel.
async fn send(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let SendBody { to } = super::request::body_or_default(&body)?;
    let to = match to {
        Some(to) => Some(member(&state, "to", &to).await?),
        None => None,
    };
    let link = state.orders.send(key, to).await?;
    Ok(Json(json!({"link": link})))
}

async fn settings(State(state): State<ApiState>) -> ApiResult<Json<OrderSettings>> {
    Ok(Json(state.orders.settings().await?))
}

/// `PUT /v1/order-settings`: the whole settings object (fields left out
/// take their defaults).
async fn set_settings(
    State(state): State<ApiState>,
    body: Bytes,
) -> ApiResult<Json<OrderSettings>> {
    let s: OrderSettings = body_as(&body)?;
    Ok(Json(state.orders.set_settings(s).await?))
}

/// `GET /v1/order-rules`: every rule, each saying whether its destination
/// is still a member (a rule to a removed company sends nothing).
async fn rules(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let rules = state.orders.rules().await?;
    let members = crate::group::roster(&state.store).await?;
    let listed: Vec<Value> = rules
        .into_iter()
        .map(|r| {
            let is_member = members.iter().any(|m| m.cnpj == r.to);
            let mut v = json!(r);
            v["member"] = json!(is_member);
            if !is_member {
                v["warning"] = json!(format!(
                    "{} is no longer a member: orders this rule routes are not delivered; edit or delete the rule",
                    r.to
                ));
            }
            v
        })
        .collect();
    Ok(Json(json!({"rules": listed})))
}

async fn add_rule(State(state): State<ApiState>, body: Bytes) -> ApiResult<Response> {
    let rule: OrderRule = body_as(&body)?;
    member(&state, "to", &rule.to).await?;
    let added = state.orders.change_rule(RuleChange::Add(rule)).await?;
    Ok((StatusCode::CREATED, Json(json!(added))).into_response())
}

async fn replace_rule(
    State(state): State<ApiState>,
    Path(id): Path<u64>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let rule: OrderRule = body_as(&body)?;
    member(&state, "to", &rule.to).await?;
    let rule = state
        .orders
        .change_rule(RuleChange::Replace(id, rule))
        .await?;
    Ok(Json(json!(rule)))
}

async fn clone_rule(State(state): State<ApiState>, Path(id): Path<u64>) -> ApiResult<Response> {
    let rule = state.orders.change_rule(RuleChange::Clone(id)).await?;
    Ok((StatusCode::CREATED, Json(json!(rule))).into_response())
}

async fn delete_rule(State(state): State<ApiState>, Path(id): Path<u64>) -> ApiResult<Json<Value>> {
    state.orders.change_rule(RuleChange::Delete(id)).await?;
    Ok(Json(json!({"deleted": id})))
}

/// `POST /v1/orders/{key}/invoice {"number", "series", "access_key",
/// "issued_at"}`: the NF-e this company issued for the order.
async fn invoice(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let input: InvoiceInput = body_as(&body)?;
    Ok(Json(state.orders.invoice(key, input).await?))
}

/// `POST /v1/orders/{key}/fiscal`: sends the invoice data held here
/// (`send_fiscal_data` off) to the order's origin.
async fn send_fiscal(
    State(state): State<ApiState>,
    Path(key): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(state.orders.send_fiscal(key).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    reason: String,
    #[serde(default)]
    nfe_cancelled: bool,
}

/// `POST /v1/orders/{key}/cancel {"reason", "nfe_cancelled"?}`: cancels the
/// order, and the linked one at the other end.
async fn cancel(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let CancelBody {
        reason,
        nfe_cancelled,
    } = body_as(&body)?;
    Ok(Json(state.orders.cancel(key, reason, nfe_cancelled).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SplitBody {
    #[serde(default)]
    apply: bool,
}

/// `POST /v1/orders/{key}/split {"apply"?}`: which company can fulfil
/// which lines, from the group's stock; with `apply`, each part becomes
/// its own order sent to its company.
async fn split(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let SplitBody { apply } = super::request::body_or_default(&body)?;
    Ok(Json(state.orders.split(key, apply).await?))
}

/// `GET /v1/orders/changes?since=&limit=`: orders changed after `since`
/// (here or at the other end), each once, as they are now.
async fn changes(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<SincePage>,
) -> ApiResult<Json<Value>> {
    let limit = page_size(q.limit)?;
    Ok(Json(state.orders.changes(q.since, limit).await?))
}
