//! `Authorization: Bearer <connector token>` for the machine API: 401 for a missing or unknown
//! token, 403 for a disabled connector. Each authenticated call refreshes the connector's
//! last-seen time and the version it reports in `X-Connector-Version`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::AppContext;
use domain::connectors::{self, Authenticated, Connector};

use super::{ApiError, AppState};

pub const VERSION_HEADER: &str = "x-connector-version";

/// The connector a request comes from.
pub struct ConnectorAuth(pub Connector);

pub fn unauthorized(message: &str) -> Response {
    let mut res = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    res
}

pub fn db_unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "database error on the machine API");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the database is not reachable; retry with backoff",
    )
}

impl FromRequestParts<AppState> for ConnectorAuth {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let ctx: &AppContext = &state.ctx;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            tracing::warn!(path = %parts.uri.path(), "machine API call without a bearer token");
            return Err(unauthorized("send Authorization: Bearer <connector token>"));
        };
        match connectors::authenticate(&ctx.db, token).await {
            Ok(Authenticated::Active(connector)) => {
                let version = parts.headers.get(VERSION_HEADER).and_then(|v| v.to_str().ok());
                if let Err(e) = connectors::touch(&ctx.db, &connector, version).await {
                    return Err(db_unavailable(e).into_response());
                }
                Ok(ConnectorAuth(connector))
            }
            Ok(Authenticated::Disabled(connector)) => {
                tracing::warn!(connector = %connector.pid, "call from a disabled connector refused");
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "connector_disabled",
                    "this connector is disabled; an admin can enable it again",
                )
                .into_response())
            }
            Ok(Authenticated::Unknown) => {
                tracing::warn!(path = %parts.uri.path(), "machine API call with an unknown token");
                Err(unauthorized(
                    "the bearer token is not valid (revoked, rotated out, or mistyped)",
                ))
            }
            Err(e) => Err(db_unavailable(e).into_response()),
        }
    }
}
