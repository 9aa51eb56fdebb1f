//! Page authorisation, decided before rendering: `/account` needs a session and `/admin/*` the
//! admin role. Visitors are sent to sign in (303, with `next`); customers get the page's
//! "not allowed" view with status 403. The data on these pages comes from server functions that
//! check again, so this gate is about what the browser is shown and the status it gets.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use domain::AppContext;
use domain::accounts::Role;

use super::ApiError;

pub async fn gate(State(ctx): State<AppContext>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let needs_admin = path == "/admin" || path.starts_with("/admin/");
    let needs_user = needs_admin || path == "/account" || path == "/dashboard";
    if !needs_user || !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let token = app::auth::token_from_headers(req.headers(), app::auth::cookie_name(&ctx.config));
    let signed_in = match token {
        Some(t) => match domain::sessions::resolve(&ctx.db, &t).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("resolving session for a page: {e}");
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service is temporarily unavailable",
                )
                .into_response();
            }
        },
        None => None,
    };
    match signed_in {
        None => {
            let here = req.uri().path_and_query().map_or(path, |pq| pq.as_str());
            Redirect::to(&app::auth::login_url(here)).into_response()
        }
        Some(s) if needs_admin && s.account.role != Role::Admin => {
            let mut res = next.run(req).await;
            *res.status_mut() = StatusCode::FORBIDDEN;
            res
        }
        Some(_) => next.run(req).await,
    }
}
