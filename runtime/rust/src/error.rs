//! One error type for every service, mapped to HTTP status codes with a JSON body
//! (`{"code": "...", "message": "..."}`) and to gRPC status codes, so REST and gRPC clients see
//! the same refusal for the same cause.

use axum::Json;
use axum::http::StatusCode;
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
    /// A dependency is unavailable (HTTP 503 / gRPC `UNAVAILABLE`).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else; details are logged, not returned (HTTP 500 / gRPC `INTERNAL`).
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    /// The stable, machine-readable name of the error's kind.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_argument",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            other => Self::internal(other),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log_if_internal();
        let body = Body { code: self.code(), message: self.to_string() };
        (self.status(), Json(body)).into_response()
    }
}

impl From<AppError> for tonic::Status {
    fn from(error: AppError) -> Self {
        error.log_if_internal();
        match error {
            AppError::Invalid(message) => Self::invalid_argument(message),
            AppError::NotFound(_) => Self::not_found(error.to_string()),
            AppError::Conflict(message) => Self::failed_precondition(message),
            AppError::Unavailable(message) => Self::unavailable(message),
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
            (AppError::Unavailable("down".into()), 503, tonic::Code::Unavailable),
            (AppError::internal(anyhow::anyhow!("secret detail")), 500, tonic::Code::Internal),
        ];
        for (error, http, grpc) in cases {
            assert_eq!(error.status().as_u16(), http);
            let status = tonic::Status::from(error);
            assert_eq!(status.code(), grpc);
            assert!(!status.message().contains("secret"), "internal details stay in the logs");
        }
    }

    #[test]
    fn not_found_names_what_is_missing() {
        let status = tonic::Status::from(AppError::NotFound("Order 42".into()));
        assert_eq!(status.message(), "Order 42 not found");
    }
}
