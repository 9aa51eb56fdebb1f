//! The HTTP surface: Leptos pages and server functions, the machine API under `/api/v1`,
//! health probes, and the middleware every response passes through.

mod api_error;
mod attachments;
mod connector_api;
mod connector_auth;
mod discord_link;
mod feed_ws;
mod health;
mod ingest;
mod json_body;
pub mod openapi;
mod page_gate;
mod rpc_status;
mod security;
mod session;
mod site;
mod unsubscribe;
mod webhooks;

pub use api_error::ApiError;
pub use health::render as health_render;

use axum::Router;
use axum::extract::FromRef;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use domain::AppContext;
use leptos::config::LeptosOptions;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Axum state: what handlers and the Leptos integration extract.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub ctx: AppContext,
    pub feed_hub: crate::feed_hub::FeedHub,
    pub rights: crate::rights_watch::RightsWatch,
    pub feed_slots: crate::feed_slots::FeedSlots,
    /// Stored attachments, served from our origin.
    pub blobs: domain::blobs::BlobStore,
}

/// Bodies past this are refused with 413 before any handler reads them.
const BODY_LIMIT: usize = 1024 * 1024;

pub fn router(
    ctx: AppContext,
    feed_hub: crate::feed_hub::FeedHub,
    rights: crate::rights_watch::RightsWatch,
    blobs: domain::blobs::BlobStore,
) -> Router {
    let state = AppState {
        blobs,
        leptos_options: site::leptos_options(&ctx.config),
        ctx: ctx.clone(),
        feed_hub,
        rights,
        feed_slots: crate::feed_slots::FeedSlots::new(
            ctx.config.feed_max_per_user,
            ctx.config.feed_max_connections,
            // Half the pool: the other half stays free for the hub, ingest and pages.
            (ctx.config.pool_size / 2) as usize,
        ),
    };

    let (api, doc) = openapi::api();
    let doc = doc.to_pretty_json().expect("the OpenAPI document serialises");
    let api = api
        .route("/feed/ws", get(feed_ws::feed_ws))
        .route(
            "/openapi.json",
            get(move || async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], doc) }),
        )
        .fallback(api_error::unknown_endpoint);

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/account/discord/link", axum::routing::post(discord_link::start))
        .route(discord_link::CALLBACK_PATH, get(discord_link::callback))
        .route("/account/discord/unlink", axum::routing::post(discord_link::unlink))
        .route("/attachments/{signal}/{attachment}", get(attachments::get))
        .route(unsubscribe::PATH, axum::routing::post(unsubscribe::one_click))
        .nest("/api/v1", api)
        .merge(site::routes(&state))
        .with_state(state)
        .layer(from_fn(rpc_status::map_errors))
        .layer(from_fn_with_state(ctx.clone(), page_gate::gate))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        // A client trickling its body holds a task and a connection: answer 408 instead.
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            ctx.config.http_request_timeout,
        ))
        .layer(from_fn(api_error::json_payload_too_large))
        .layer(from_fn_with_state(ctx.clone(), security::csrf))
        .layer(from_fn_with_state(ctx, security::headers))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}
