//! The HTTP surface: Leptos pages and server functions, the machine API under `/api/v1`,
//! health probes, and the middleware every response passes through.

mod api_error;
mod health;
mod site;

pub use api_error::ApiError;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use domain::AppContext;
use leptos::config::LeptosOptions;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

/// Axum state: what handlers and the Leptos integration extract.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub ctx: AppContext,
}

pub fn router(ctx: AppContext) -> Router {
    let state = AppState {
        leptos_options: site::leptos_options(&ctx.config),
        ctx,
    };

    let api = Router::new().fallback(api_error::unknown_endpoint);

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .nest("/api/v1", api)
        .merge(site::routes(&state))
        .with_state(state)
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}
