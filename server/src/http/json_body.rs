//! A JSON request body read as raw bytes and decoded by us, so every refusal has our error shape:
//! 415 without `Content-Type: application/json`, 400 naming the line and column of broken JSON,
//! or (through `Self::decode`) the path of the field that does not fit.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ApiError;

pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            tracing::warn!(path = %req.uri().path(), "API body without Content-Type: application/json");
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::new(
                e.status(),
                "unreadable_body",
                format!("the request body could not be read: {}", e.body_text()),
            )
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            tracing::warn!(error = %e, "malformed JSON body");
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {e}"),
            )
        })
    }
}

impl JsonBody {
    /// Decodes into `T`; a mismatch names the field (`guilds[2].id: …`).
    pub fn decode<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        serde_path_to_error::deserialize(self.0).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            tracing::warn!(field = %path, %message, "API body does not fit");
            let message = if path == "." {
                message
            } else {
                format!("{path}: {message}")
            };
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", message)
        })
    }
}
