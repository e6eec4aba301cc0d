//! A copy of the whole store, taken between two transactions while the
//! node runs.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::request::body_as;
use super::state::ApiState;

pub(super) fn router() -> Router<ApiState> {
    Router::new().route("/v1/backup", post(backup))
}

#[derive(Deserialize)]
struct BackupRequest {
    file: String,
}

/// `POST /v1/backup` with `{"file": "/absolute/path"}`.
async fn backup(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: BackupRequest = body_as(&body)?;
    let file = std::path::PathBuf::from(&req.file);
    if !file.is_absolute() {
        return Err(ApiError::unprocessable(
            "file: give an absolute path (the node may run in another directory)",
        ));
    }
    let bytes = state.store.backup(file).await?;
    Ok(Json(json!({ "file": req.file, "bytes": bytes })))
}
