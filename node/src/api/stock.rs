//! Stock across the group: each company's figures for a SKU and the group
//! total, and this company's own updates in bulk.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::records::bulk_answer;
use super::request::{ApiQuery, body_as, held_kind};
use super::routes::Routes;
use super::state::ApiState;
use crate::stock;

/// The stock routes; an update takes a bulk body.
pub(super) fn router() -> Routes {
    Routes::new()
        .post_bulk("/v1/stock", stock_update)
        .get("/v1/stock/{sku}", stock_show)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StockQuery {
    #[serde(default)]
    scope: stock::Scope,
}

/// `GET /v1/stock/{sku}?scope=all|own`: each company's figures and the
/// group total.
async fn stock_show(
    State(state): State<ApiState>,
    Path(sku): Path<String>,
    ApiQuery(q): ApiQuery<StockQuery>,
) -> ApiResult<Json<Value>> {
    held_kind(&state, "product").await?;
    let sku = stock::normalise_sku(&sku).map_err(ApiError::unprocessable)?;
    let view = stock::view(&state.store, &state.company.cnpj, &sku, q.scope).await?;
    Ok(Json(json!(view)))
}

/// `POST /v1/stock`: this company's figures, up to 10,000 rows
/// `{"sku", "quantity", "reserved"?, "deposit"?}` in one transaction; bad
/// rows are reported by index, the others stored.
async fn stock_update(State(state): State<ApiState>, body: Bytes) -> ApiResult<Response> {
    held_kind(&state, "product").await?;
    let rows: Vec<stock::StockInput> = body_as(&body)?;
    if rows.len() > stock::MAX_STOCK_ROWS {
        return Err(ApiError::too_many(
            "rows",
            stock::MAX_STOCK_ROWS,
            rows.len(),
        ));
    }
    let report = stock::update(&state.store, &state.company.cnpj, &rows).await?;
    Ok(bulk_answer(report.rejected.is_empty(), json!(report)))
}
