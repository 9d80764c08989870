//! The gRPC side every service shares: each rpc runs its use case, maps the outcome to a
//! status and is counted in `grpc_requests_total`.

use std::future::Future;

use crate::error::AppError;

/// Runs one rpc's use case, records it under `method` and turns its error into a status.
///
/// # Errors
/// The use case's error as a gRPC status.
pub async fn respond<T>(
    method: &'static str,
    use_case: impl Future<Output = Result<T, AppError>>,
) -> Result<tonic::Response<T>, tonic::Status> {
    let result = use_case.await.map(tonic::Response::new).map_err(tonic::Status::from);
    crate::metrics::grpc(method, &result);
    result
}

/// A message field that proto3 makes optional but the rpc requires.
///
/// # Errors
/// [`AppError::Invalid`] naming the field when it is absent.
pub fn required<T>(message: Option<T>, field: &str) -> Result<T, AppError> {
    message.ok_or_else(|| AppError::Invalid(format!("`{field}` is required")))
}
