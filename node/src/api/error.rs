//! The API's error answer, `{"error": CODE, "message": TEXT, "fields":
//! [...]}`, and every mapping from the node's errors to an HTTP status, so
//! that one kind of failure gets the same answer on every route.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use elo_crdt::{FieldError, ValidationError};
use serde_json::json;

use crate::credit::CreditError;
use crate::group::{MembershipError, PolicyError};
use crate::primary::PrimaryError;
use crate::primary::machine::RangeError;
use crate::records::RecordError;
use crate::replication::ReplicationError;
use crate::store::StoreError;

/// An error answer.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: Vec<FieldError>,
}

pub(super) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// 422 `invalid`: a request the API understood but cannot accept.
    pub(super) fn unprocessable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// 404 `not_found` for a record.
    pub(super) fn no_record(id: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no record {id}"),
        )
    }

    /// 409 `no_mesh`: the route needs the mesh and the node runs alone.
    pub(super) fn no_mesh(message: &'static str) -> Self {
        ApiError::new(StatusCode::CONFLICT, "no_mesh", message)
    }

    /// 413 `too_many`: more rows in one request than a bulk write takes.
    pub(super) fn too_many(what: &str, most: usize, got: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many",
            format!("at most {most} {what} per request, got {got}"),
        )
    }

    /// 422 `invalid`, naming each invalid field.
    pub(super) fn invalid(e: ValidationError) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid",
            message: e.to_string(),
            fields: e.0,
        }
    }

    /// 422 for a body or query string serde refused: an unknown key (the
    /// reason names it, and it is the field), or a value of the wrong type.
    pub(super) fn refused_keys(reason: &str) -> Self {
        let mut e = ApiError::unprocessable(reason);
        if let Some(key) = reason
            .split_once("unknown field `")
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(key, _)| key)
        {
            e.fields.push(FieldError::new(key, reason));
        }
        e
    }

    /// The error shape for an answer the router made before any handler
    /// ran (axum's own: body too large, wrong method, a path or body it
    /// could not read), with `text` as it said it.
    pub(super) fn from_router(status: StatusCode, text: &str, allowed: Option<&str>) -> Self {
        let text = text.trim();
        let (code, message) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => (
                "too_large",
                format!(
                    "the body is larger than this route takes: {} MiB ({} MiB for POST /v1/records/{{kind}} and POST /v1/stock)",
                    super::request::MAX_RECORD_BODY >> 20,
                    super::request::MAX_BULK_BODY >> 20
                ),
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                match allowed {
                    Some(methods) => format!("this route takes {methods}"),
                    None => "this route does not take that method".into(),
                },
            ),
            StatusCode::NOT_FOUND => ("not_found", "no such route (see /v1/openapi.json)".into()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", text.into()),
            s if s.is_server_error() => ("internal", text.into()),
            _ => ("bad_request", text.into()),
        };
        let message = if message.is_empty() {
            status.canonical_reason().unwrap_or("refused").to_owned()
        } else {
            message
        };
        ApiError::new(status, code, message)
    }

    /// An invite could not be made: 409, whatever the reason (the roster
    /// has no address to put in it, or the store refused it).
    pub(super) fn invite(e: MembershipError) -> Self {
        ApiError::new(StatusCode::CONFLICT, "invite", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "message": self.message, "fields": self.fields });
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BackupExists(_) => {
                ApiError::new(StatusCode::CONFLICT, "backup_exists", e.to_string())
            }
            StoreError::BadBackupName(m) => ApiError::unprocessable(m),
            e => {
                tracing::error!("store: {e}");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string())
            }
        }
    }
}

impl From<RecordError> for ApiError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Invalid(v) => ApiError::invalid(v),
            RecordError::NotFound(id) => ApiError::no_record(id),
            RecordError::Store(s) => s.into(),
            RecordError::Codes(p) => p.into(),
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "damaged",
                other.to_string(),
            ),
        }
    }
}

impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::Record(r) => r.into(),
            PolicyError::Store(s) => s.into(),
            PolicyError::NotMember(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_member", e.to_string())
            }
            other => ApiError::unprocessable(other.to_string()),
        }
    }
}

impl From<ReplicationError> for ApiError {
    fn from(e: ReplicationError) -> Self {
        match e {
            // What the group's rules refuse (a removal not made at the
            // primary, of an unknown company): the caller's to fix.
            ReplicationError::Removal(_) | ReplicationError::Primary(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "refused", e.to_string())
            }
            other => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "mesh", other.to_string()),
        }
    }
}

impl From<CreditError> for ApiError {
    fn from(e: CreditError) -> Self {
        let message = e.to_string();
        let (status, code) = match e {
            CreditError::Record(r) => return r.into(),
            CreditError::BadAmount(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            CreditError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            CreditError::OverLimit { .. } => (StatusCode::CONFLICT, "over_limit"),
            CreditError::OverRelease { .. } => (StatusCode::CONFLICT, "over_release"),
            CreditError::EscrowShort { .. } => (StatusCode::CONFLICT, "escrow_short"),
            CreditError::Refused(_) => (StatusCode::CONFLICT, "refused"),
        };
        ApiError::new(status, code, message)
    }
}

impl From<PrimaryError> for ApiError {
    fn from(e: PrimaryError) -> Self {
        let (status, code) = match &e {
            PrimaryError::Elect(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not_member"),
            PrimaryError::Range(RangeError::NotPrimary { .. }) => {
                (StatusCode::CONFLICT, "not_primary")
            }
            PrimaryError::Range(RangeError::Overlaps { .. }) => {
                (StatusCode::CONFLICT, "range_overlaps")
            }
            PrimaryError::Range(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_range"),
            PrimaryError::Exhausted(_) => (StatusCode::SERVICE_UNAVAILABLE, "codes_exhausted"),
            PrimaryError::NoMajority { .. } => (StatusCode::SERVICE_UNAVAILABLE, "no_majority"),
            PrimaryError::NotElected { .. } => (StatusCode::SERVICE_UNAVAILABLE, "not_elected"),
            PrimaryError::NotCommitted { .. } => (StatusCode::SERVICE_UNAVAILABLE, "not_committed"),
            PrimaryError::Unconfirmed => (StatusCode::SERVICE_UNAVAILABLE, "codes_unconfirmed"),
            _ => (StatusCode::SERVICE_UNAVAILABLE, "primary"),
        };
        ApiError::new(status, code, e.to_string())
    }
}
