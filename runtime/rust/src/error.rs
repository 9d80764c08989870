//! One error type for every service, mapped to HTTP status codes with an RFC 9457 problem
//! details body (`application/problem+json`: `type`, `title`, `status`, `detail`, and `code`, the
//! stable name of the error's kind) and to gRPC status codes, so REST and gRPC clients see the
//! same refusal for the same cause.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// What can go wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input is malformed or breaks a rule (HTTP 422 / gRPC `INVALID_ARGUMENT`).
    #[error("{0}")]
    Invalid(String),
    /// No such record (HTTP 404 / gRPC `NOT_FOUND`).
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state (HTTP 409 / gRPC `FAILED_PRECONDITION`).
    #[error("{0}")]
    Conflict(String),
    /// The record is no longer the version the request names (HTTP 412 / gRPC `ABORTED`):
    /// read it again, then retry.
    #[error("{0}")]
    Stale(String),
    /// The request must name the version it changes and does not (HTTP 428 / gRPC
    /// `FAILED_PRECONDITION`).
    #[error("{0}")]
    PreconditionRequired(String),
    /// A dependency is unavailable, or the request outlived its deadline (HTTP 503 / gRPC
    /// `UNAVAILABLE`).
    #[error("{0}")]
    Unavailable(String),
    /// The request body is not JSON by its `Content-Type` (HTTP 415 / gRPC `INVALID_ARGUMENT`).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request body is larger than the service accepts (HTTP 413 / gRPC `INVALID_ARGUMENT`).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request proves no identity, or a token that does not verify, and the route needs one
    /// (HTTP 401 with `WWW-Authenticate: Bearer` / gRPC `UNAUTHENTICATED`).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller's token does not grant what the route needs (HTTP 403 / gRPC
    /// `PERMISSION_DENIED`).
    #[error("{0}")]
    Forbidden(String),
    /// An operation the manifest declares and nobody has written yet (HTTP 501 / gRPC
    /// `UNIMPLEMENTED`); the message names the operation and the file to write it in.
    #[error("{0}")]
    NotImplemented(String),
    /// Anything else; details are logged, not returned (HTTP 500 / gRPC `INTERNAL`).
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    /// The answer of an operation whose handler is not written yet: `operation` is its name in
    /// `fleet.toml`, `file` where to write it.
    pub fn not_implemented(operation: &str, file: &str) -> Self {
        Self::NotImplemented(format!(
            "operation `{operation}` is not implemented yet: implement `{operation}` of `Hooks` in {file}"
        ))
    }

    /// The stable, machine-readable name of the error's kind.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_argument",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Stale(_) => "precondition_failed",
            Self::PreconditionRequired(_) => "precondition_required",
            Self::Unavailable(_) => "unavailable",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "permission_denied",
            Self::NotImplemented(_) => "not_implemented",
            Self::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Stale(_) => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn log_if_internal(&self) {
        if let Self::Internal(error) = self {
            tracing::error!(error = format!("{error:#}"), "request failed");
        }
    }
}

#[cfg(feature = "database")]
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable("the database is unavailable".to_owned())
            }
            // PostgreSQL names the index; SQLite names the column (`payments.order_id`).
            sqlx::Error::Database(error) if error.is_unique_violation() => match error.constraint() {
                Some(index) => {
                    Self::Conflict(format!("another record already has this value (unique index `{index}`)"))
                }
                None => Self::Conflict(format!("another record already has this value ({})", error.message())),
            },
            // PostgreSQL only: SQLite has neither foreign keys nor checks in fleetwright's schemas.
            sqlx::Error::Database(error) if error.is_foreign_key_violation() => {
                let constraint = error.constraint().unwrap_or("unnamed");
                let why = if error.message().starts_with("update or delete") {
                    "other records still refer to this one"
                } else {
                    "the record it refers to does not exist"
                };
                Self::Conflict(format!("{why} (foreign key `{constraint}`)"))
            }
            sqlx::Error::Database(error) if error.is_check_violation() => Self::Conflict(format!(
                "a value is not one the column allows (check `{}`)",
                error.constraint().unwrap_or("unnamed")
            )),
            other => Self::internal(other),
        }
    }
}

/// Optimistic concurrency: every record has a `version`, 1 when created and one more at each
/// change. A request that changes a record may name the version it read (REST `If-Match`,
/// gRPC `version`); the change is checked and written in one statement, so of two writes that
/// read the same version exactly one wins.
pub mod version {
    use super::AppError;

    /// The version a request names when it names none of ours (REST `If-Match: W/"3"`): no record
    /// is ever at it, so [`check`] refuses the change.
    pub const NONE_OF_OURS: i64 = 0;

    /// Refuses a change asked for `asked` when the record is at `current`.
    ///
    /// # Errors
    /// [`AppError::Stale`] when they differ.
    pub fn check(asked: Option<i64>, current: i64, what: &str) -> Result<(), AppError> {
        match asked {
            Some(NONE_OF_OURS) => {
                Err(AppError::Stale(format!("`If-Match` names no version of {what}: send its `ETag` as it was given")))
            }
            Some(asked) if asked != current => {
                Err(AppError::Stale(format!("{what} is at version {current}, not {asked}: read it again, then retry")))
            }
            _ => Ok(()),
        }
    }

    /// The error for a change whose version check failed in the database: another request
    /// changed or deleted the record after it was read. Stale when the request named a
    /// version, else a conflict to retry.
    pub fn changed_meanwhile(asked: Option<i64>, what: &str) -> AppError {
        let message = format!("{what} was changed or deleted by another request meanwhile: read it again, then retry");
        match asked {
            Some(_) => AppError::Stale(message),
            None => AppError::Conflict(message),
        }
    }

    /// The version a gRPC request names (`0`: none), refused when one is required.
    ///
    /// # Errors
    /// [`AppError::PreconditionRequired`] for `0` when `required`.
    pub fn from_pb(version: i64, required: bool) -> Result<Option<i64>, AppError> {
        match version {
            0 if required => Err(AppError::PreconditionRequired(
                "set `version` to the version this change is based on (from the last read)".to_owned(),
            )),
            0 => Ok(None),
            version => Ok(Some(version)),
        }
    }
}

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details object, the body of every error response of a service.
///
/// `type` is `about:blank`: the HTTP status says what kind of problem it is, and `title` is that
/// status's phrase. `code` (an extension member) is the same stable name that tells the kinds of
/// [`AppError`] apart (`not_found`, `invalid_argument`, ...), for clients that branch on it.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub code: &'static str,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error");
        Self { kind: "about:blank", title, status: status.as_u16(), detail: detail.into(), code }
    }

    /// Whether `headers` already say the body is a problem.
    pub fn is_in(headers: &axum::http::HeaderMap) -> bool {
        headers.get(header::CONTENT_TYPE).is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))], body).into_response()
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log_if_internal();
        let mut response = Problem::new(self.status(), self.code(), self.to_string()).into_response();
        if matches!(self, Self::Unauthenticated(_)) {
            // RFC 6750, section 3: which scheme the route takes.
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<AppError> for tonic::Status {
    fn from(error: AppError) -> Self {
        error.log_if_internal();
        match error {
            AppError::Invalid(message) => Self::invalid_argument(message),
            AppError::NotFound(_) => Self::not_found(error.to_string()),
            AppError::Conflict(message) | AppError::PreconditionRequired(message) => Self::failed_precondition(message),
            AppError::Stale(message) => Self::aborted(message),
            AppError::Unavailable(message) => Self::unavailable(message),
            AppError::UnsupportedMediaType(message) | AppError::PayloadTooLarge(message) => {
                Self::invalid_argument(message)
            }
            AppError::Unauthenticated(message) => Self::unauthenticated(message),
            AppError::Forbidden(message) => Self::permission_denied(message),
            AppError::NotImplemented(message) => Self::unimplemented(message),
            AppError::Internal(_) => Self::internal("internal error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_and_grpc_agree_on_each_kind() {
        let cases = [
            (AppError::Invalid("bad".into()), 422, tonic::Code::InvalidArgument),
            (AppError::NotFound("Order 1".into()), 404, tonic::Code::NotFound),
            (AppError::Conflict("no".into()), 409, tonic::Code::FailedPrecondition),
            (AppError::Stale("old".into()), 412, tonic::Code::Aborted),
            (AppError::PreconditionRequired("say".into()), 428, tonic::Code::FailedPrecondition),
            (AppError::Unavailable("down".into()), 503, tonic::Code::Unavailable),
            (AppError::UnsupportedMediaType("not JSON".into()), 415, tonic::Code::InvalidArgument),
            (AppError::PayloadTooLarge("too big".into()), 413, tonic::Code::InvalidArgument),
            (AppError::not_implemented("place_order", "src/logic.rs"), 501, tonic::Code::Unimplemented),
            (AppError::internal(anyhow::anyhow!("secret detail")), 500, tonic::Code::Internal),
        ];
        for (error, http, grpc) in cases {
            assert_eq!(error.status().as_u16(), http);
            let status = tonic::Status::from(error);
            assert_eq!(status.code(), grpc);
            assert!(!status.message().contains("secret"), "internal details stay in the logs");
        }
    }

    #[tokio::test]
    async fn every_error_answers_an_rfc_9457_problem() {
        let response = AppError::NotFound("Order 42".into()).into_response();
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "about:blank",
                "title": "Not Found",
                "status": 404,
                "detail": "Order 42 not found",
                "code": "not_found",
            })
        );
        let response = AppError::internal(anyhow::anyhow!("secret detail")).into_response();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("secret"), "internal details stay in the logs");
    }

    #[test]
    fn a_version_other_than_the_current_one_is_stale() {
        assert!(version::check(None, 3, "Order 1").is_ok());
        assert!(version::check(Some(3), 3, "Order 1").is_ok());
        let stale = version::check(Some(2), 3, "Order 1").unwrap_err();
        assert_eq!(stale.status().as_u16(), 412);
        assert!(stale.to_string().contains("at version 3, not 2"), "{stale}");
        assert_eq!(version::changed_meanwhile(Some(2), "x").status().as_u16(), 412);
        assert_eq!(version::changed_meanwhile(None, "x").status().as_u16(), 409);
        assert_eq!(version::from_pb(0, false).unwrap(), None);
        assert_eq!(version::from_pb(4, true).unwrap(), Some(4));
        assert_eq!(version::from_pb(0, true).unwrap_err().status().as_u16(), 428);
    }

    #[test]
    fn not_found_names_what_is_missing() {
        let status = tonic::Status::from(AppError::NotFound("Order 42".into()));
        assert_eq!(status.message(), "Order 42 not found");
    }
}
