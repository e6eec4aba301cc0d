//! A customer's credit shared across companies: its limit and what each
//! company has charged, charges and releases, and the founder's escrow.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::request::{body_as, held_kind};
use super::routes::Routes;
use super::state::ApiState;
use crate::credit::{self, CreditChange};

pub(super) fn router() -> Routes {
    Routes::new()
        .get("/v1/customers/{key}/credit", credit_show)
        .post("/v1/customers/{key}/credit", credit_change)
        .put("/v1/credit/escrow", escrow_set)
}

/// `GET /v1/customers/{key}/credit`
async fn credit_show(
    State(state): State<ApiState>,
    Path(key): Path<String>,
) -> ApiResult<Json<Value>> {
    held_kind(&state, "customer").await?;
    Ok(Json(json!(credit::show(&state.store, &key).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditRequest {
    charge: Option<Value>,
    release: Option<Value>,
}

impl CreditRequest {
    /// The one change asked for; amounts come as strings or JSON numbers.
    fn change(&self) -> ApiResult<CreditChange> {
        match (&self.charge, &self.release) {
            (Some(c), None) => Ok(CreditChange::Charge(credit::amount_of_json(c)?)),
            (None, Some(r)) => Ok(CreditChange::Release(credit::amount_of_json(r)?)),
            _ => Err(ApiError::unprocessable(
                "send either {\"charge\": AMOUNT} or {\"release\": AMOUNT}",
            )),
        }
    }
}

/// `POST /v1/customers/{key}/credit` with `{"charge": "150.00"}` or
/// `{"release": "150.00"}`.
async fn credit_change(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    held_kind(&state, "customer").await?;
    let req: CreditRequest = body_as(&body)?;
    let change = req.change()?;
    // Rights this company lacks are asked of the members holding them.
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
#[serde(deny_unknown_fields)]
struct EscrowRequest {
    on: bool,
}

/// `PUT /v1/credit/escrow` with `{"on": true|false}`, at the founding
/// company.
async fn escrow_set(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
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
