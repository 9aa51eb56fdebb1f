//! `POST /unsubscribe/one-click?token=…`: RFC 8058's one-click unsubscribe, which a mail client
//! sends (body `List-Unsubscribe=One-Click`) when its own "Unsubscribe" button is pressed. No
//! cookie is read: the token in the URL is the only authority, so there is no session to forge
//! a request with, and the CSRF check lets it through (`security::csrf`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::AppContext;
use serde::Deserialize;

use super::ApiError;

pub const PATH: &str = domain::reminders::ONE_CLICK_PATH;

#[derive(Deserialize)]
pub struct Link {
    #[serde(default)]
    token: String,
}

pub async fn one_click(State(ctx): State<AppContext>, Query(link): Query<Link>) -> Response {
    match domain::reminders::unsubscribe(&ctx.db, &link.token).await {
        Ok(Some(channel)) => {
            tracing::info!(
                channel = channel.as_str(),
                "reminders turned off by one-click unsubscribe"
            );
            axum::Json(serde_json::json!({"unsubscribed": channel.as_str()})).into_response()
        }
        Ok(None) => {
            tracing::info!("one-click unsubscribe refused: unknown token");
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_link",
                "this unsubscribe link is not valid; turn reminders off on your account page instead",
            )
            .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "one-click unsubscribe failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is temporarily unavailable, please try again shortly",
            )
            .into_response()
        }
    }
}
