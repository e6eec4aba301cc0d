//! A copy of the whole store, taken between two transactions while the
//! node runs.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::request::body_or_default;
use super::routes::Routes;
use super::state::ApiState;

pub(super) fn router() -> Routes {
    Routes::new().post("/v1/backup", backup)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BackupRequest {
    /// A plain file name in the data directory's `backups/` folder.
    name: Option<String>,
    /// Refused: the API takes no paths (it would write anywhere the node's
    /// user can). Named only to say so clearly.
    file: Option<String>,
}

/// `POST /v1/backup` with `{"name": "NAME"}` (default: a name from the
/// time): a copy of the store as `backups/NAME` in the data directory,
/// readable by the node's user only, never replacing a file.
async fn backup(State(state): State<ApiState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: BackupRequest = body_or_default(&body)?;
    if req.file.is_some() {
        return Err(ApiError::unprocessable(
            "file: the API writes backups only to the data directory's backups/ folder; send {\"name\": \"NAME\"}, or run `elo backup FILE` on the node's machine to put a copy elsewhere",
        ));
    }
    let name = req
        .name
        .unwrap_or_else(|| format!("store-{}.redb", crate::clock::now_ms()));
    let (file, bytes) = state.store.backup(name.clone()).await?;
    Ok(Json(
        json!({ "name": name, "file": file.display().to_string(), "bytes": bytes }),
    ))
}
