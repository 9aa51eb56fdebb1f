//! Who is calling, from the session cookie: one extractor for the plain axum routes (the feed
//! websocket, the Discord OAuth routes). Leptos pages and server functions read the same
//! cookie through `app::auth`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use domain::sessions::SignedIn;

use super::AppState;

/// The signed-in account and session, if any. Fails only when the database cannot answer.
pub struct MaybeSignedIn(pub Option<SignedIn>);

impl FromRequestParts<AppState> for MaybeSignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        signed_in(&state.ctx, &parts.headers).await.map(MaybeSignedIn)
    }
}

/// The session the request's cookie names, if it is live (for a handler that must choose when
/// to ask, as the feed's handshake does).
pub async fn signed_in(
    ctx: &domain::AppContext,
    headers: &axum::http::HeaderMap,
) -> Result<Option<SignedIn>, Response> {
    let Some(token) = token(ctx, headers) else {
        return Ok(None);
    };
    domain::sessions::resolve(&ctx.db, &token).await.map_err(unavailable)
}

/// As [`signed_in`], with the account's access now, in one round trip (the feed's handshake).
pub async fn signed_in_with_access(
    ctx: &domain::AppContext,
    headers: &axum::http::HeaderMap,
) -> Result<Option<(SignedIn, Option<domain::entitlements::CustomerAccess>)>, Response> {
    let Some(token) = token(ctx, headers) else {
        return Ok(None);
    };
    domain::sessions::resolve_with_access(&ctx.db, &ctx.tiers, &token)
        .await
        .map_err(unavailable)
}

/// The session token the request's cookie carries.
fn token(ctx: &domain::AppContext, headers: &axum::http::HeaderMap) -> Option<String> {
    app::auth::token_from_headers(headers, app::auth::cookie_name(&ctx.config))
}

fn unavailable(e: sea_orm::DbErr) -> Response {
    super::connector_auth::db_unavailable(e).into_response()
}
