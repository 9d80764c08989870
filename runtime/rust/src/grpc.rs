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

/// The page size and the id to continue after, from a list request's `page_size` and
/// `page_token`.
///
/// # Errors
/// [`AppError::Invalid`] for a negative size or a malformed token.
pub fn page_request(page_size: i32, page_token: &str) -> Result<(u32, Option<uuid::Uuid>), AppError> {
    use crate::codec::Text as _;
    let page_size =
        u32::try_from(page_size).map_err(|_| AppError::Invalid("`page_size` must not be negative".to_owned()))?;
    let after = Some(page_token).filter(|token| !token.is_empty());
    Ok((page_size, after.map(|token| uuid::Uuid::from_text(token, "page_token")).transpose()?))
}

/// A list response's `page_token` for the next page: empty on the last page.
pub fn page_token(next: Option<uuid::Uuid>) -> String {
    next.map(|id| id.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_requests_are_checked() {
        assert_eq!(page_request(0, "").unwrap(), (0, None));
        let id = uuid::Uuid::now_v7();
        assert_eq!(page_request(5, &id.to_string()).unwrap(), (5, Some(id)));
        assert!(page_request(-1, "").is_err());
        assert!(page_request(5, "nope").is_err());
        assert_eq!(page_token(None), "");
        assert_eq!(page_token(Some(id)), id.to_string());
    }
}
