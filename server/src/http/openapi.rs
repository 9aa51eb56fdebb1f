//! The machine API, described from the code: every route under `/api/v1` is registered through
//! `utoipa_axum::routes!`, which takes path and methods from the handler's `#[utoipa::path]`, so
//! an undocumented endpoint cannot be routed. The document is served at `/api/v1/openapi.json`.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, connector_api, ingest, webhooks};

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable (`unauthorized`, `invalid_event`, …).
    pub code: String,
    /// For people: what is wrong and, for a field, which one.
    pub message: String,
}

struct ConnectorToken;

impl Modify for ConnectorToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "connector_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The connector token shown once when the connector was created or rotated",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "SignalDesk machine API", description = "Ingest, connector runtime config and discovery. Errors are `{\"error\": {\"code\", \"message\"}}`."),
    servers((url = "/api/v1")),
    modifiers(&ConnectorToken),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// The `/api/v1` routes and their OpenAPI document, built together.
pub fn api() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ingest::post_event))
        .routes(routes!(ingest::post_batch))
        .routes(routes!(connector_api::hello))
        .routes(routes!(connector_api::config))
        .routes(routes!(connector_api::put_guilds))
        .routes(routes!(connector_api::put_channels))
        .routes(routes!(webhooks::sellapp))
        .split_for_parts()
}
