//! Stock across the group: each company's figures for a SKU and the group
//! total, and this company's own updates in bulk.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::records::bulk_answer;
use super::request::{MAX_BULK_BODY, body_as, held_kind};
use super::state::ApiState;
use crate::stock;

/// The stock routes; an update takes up to [`MAX_BULK_BODY`].
pub(super) fn router() -> Router<ApiState> {
    Router::new()
        .route(
            "/v1/stock",
            post(stock_update).layer(DefaultBodyLimit::max(MAX_BULK_BODY)),
        )
        .route("/v1/stock/{sku}", get(stock_show))
}

#[derive(Deserialize, Default)]
struct StockQuery {
    #[serde(default)]
    scope: stock::Scope,
}

/// `GET /v1/stock/{sku}?scope=all|own`: each company's figures and the
/// group total.
async fn stock_show(
    State(state): State<ApiState>,
    Path(sku): Path<String>,
    Query(q): Query<StockQuery>,
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
