//! Server functions answer every error with 500 unless told otherwise. This is the one place
//! where an `AppError` body gets its real status (422 invalid input, 401, 403, 429, 503, and 400
//! for requests the framework could not decode), so no handler can forget to set it.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

/// Error bodies are tiny; anything larger is not one of ours and is passed through untouched.
const MAX_ERROR_BODY: usize = 64 * 1024;

pub async fn map_errors(req: Request, next: Next) -> Response {
    let is_rpc = req.uri().path().starts_with("/rpc/");
    let res = next.run(req).await;
    if !is_rpc || res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(err) = serde_json::from_slice::<app::error::AppError>(&bytes)
        && let Ok(status) = StatusCode::from_u16(err.status())
    {
        if matches!(err, app::error::AppError::Request(_)) {
            tracing::info!(code = err.code(), "undecodable server function request: {err}");
        }
        parts.status = status;
    }
    Response::from_parts(parts, Body::from(bytes))
}
