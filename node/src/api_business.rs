//! The API of the business features that sit on records: a customer's
//! shared credit and stock across companies.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiError, ApiResult, ApiState, body_as, bulk_answer, held_kind};
use crate::credit::{self, CreditChange, CreditError};

impl From<CreditError> for ApiError {
    fn from(e: CreditError) -> Self {
        match e {
            CreditError::BadAmount(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
            }
            CreditError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            CreditError::OverLimit { .. } => {
                ApiError::new(StatusCode::CONFLICT, "over_limit", e.to_string())
            }
            CreditError::OverRelease { .. } => {
                ApiError::new(StatusCode::CONFLICT, "over_release", e.to_string())
            }
            CreditError::EscrowShort { .. } => {
                ApiError::new(StatusCode::CONFLICT, "escrow_short", e.to_string())
            }
            CreditError::NotInEscrow { .. } => {
                ApiError::new(StatusCode::CONFLICT, "not_in_escrow", e.to_string())
            }
            CreditError::Refused(_) => {
                ApiError::new(StatusCode::CONFLICT, "refused", e.to_string())
            }
            CreditError::Record(r) => r.into(),
        }
    }
}

/// `GET /v1/customers/{key}/credit`
pub async fn credit_show(
    State(state): State<ApiState>,
    Path(key): Path<String>,
) -> ApiResult<Json<Value>> {
    held_kind(&state, "customer").await?;
    Ok(Json(json!(credit::show(&state.store, &key).await?)))
}

#[derive(Deserialize)]
struct CreditRequest {
    charge: Option<Value>,
    release: Option<Value>,
}

/// `POST /v1/customers/{key}/credit` with `{"charge": "150.00"}` or
/// `{"release": "150.00"}`.
pub async fn credit_change(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    held_kind(&state, "customer").await?;
    let req: CreditRequest = body_as(&body)?;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let change = match (&req.charge, &req.release) {
        (Some(c), None) => CreditChange::Charge(credit::parse_amount(&text(c))?),
        (None, Some(r)) => CreditChange::Release(credit::parse_amount(&text(r))?),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "send either {\"charge\": AMOUNT} or {\"release\": AMOUNT}",
            ));
        }
    };
    let mesh = state.mesh.clone();
    let ask =
        move |customer: String, amount: i64| -> futures::future::BoxFuture<'static, (i64, usize)> {
            let mesh = mesh.clone();
            Box::pin(async move {
                match mesh {
                    Some(m) => m.ask_credit_rights(customer, amount).await,
                    None => (0, 0),
                }
            })
        };
    let context = credit::CreditContext {
        founder: &state.group.primary,
        ask_rights: Some(&ask),
    };
    let view = credit::change(&state.store, &state.company.cnpj, &key, change, &context).await?;
    Ok(Json(json!(view)))
}

#[derive(Deserialize)]
struct EscrowRequest {
    on: bool,
}

/// `PUT /v1/credit/escrow` with `{"on": true|false}`, at the founding
/// company.
pub async fn escrow_set(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: EscrowRequest = body_as(&body)?;
    let report = credit::set_escrow(
        &state.store,
        &state.company.cnpj,
        &state.group.primary,
        req.on,
    )
    .await?;
    Ok(Json(
        json!({ "escrow": req.on, "customers": report.customers, "members": report.members }),
    ))
}

#[derive(Deserialize, Default)]
pub struct StockQuery {
    #[serde(default)]
    scope: crate::stock::Scope,
}

/// `GET /v1/stock/{sku}?scope=all|own`: each company's figures and the
/// group total.
pub async fn stock_show(
    State(state): State<ApiState>,
    Path(sku): Path<String>,
    Query(q): Query<StockQuery>,
) -> ApiResult<Json<Value>> {
    held_kind(&state, "product").await?;
    let sku = crate::stock::normalise_sku(&sku)
        .map_err(|m| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m))?;
    let view = crate::stock::view(&state.store, &state.company.cnpj, &sku, q.scope).await?;
    Ok(Json(json!(view)))
}

/// `POST /v1/stock`: this company's figures, up to 10,000 rows
/// `{"sku", "quantity", "reserved"?, "deposit"?}` in one transaction; bad
/// rows are reported by index, the others stored.
pub async fn stock_update(State(state): State<ApiState>, body: Bytes) -> ApiResult<Response> {
    held_kind(&state, "product").await?;
    let rows: Vec<crate::stock::StockInput> = body_as(&body)?;
    if rows.len() > crate::stock::MAX_STOCK_ROWS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many",
            format!(
                "at most {} rows per request, got {}",
                crate::stock::MAX_STOCK_ROWS,
                rows.len()
            ),
        ));
    }
    let report = crate::stock::update(&state.store, &state.company.cnpj, &rows).await?;
    Ok(bulk_answer(report.rejected.is_empty(), json!(report)))
}

#[derive(Deserialize)]
struct BackupRequest {
    file: String,
}

/// `POST /v1/backup` with `{"file": "/absolute/path"}`: a copy of the
/// whole store, taken between two transactions.
pub async fn backup(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: BackupRequest = body_as(&body)?;
    let file = std::path::PathBuf::from(&req.file);
    if !file.is_absolute() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "file: give an absolute path (the node may run in another directory)",
        ));
    }
    let bytes = state.store.backup(file).await?;
    Ok(Json(json!({ "file": req.file, "bytes": bytes })))
}
