//! What a connector calls besides ingest: hello at start-up, the runtime config it polls (ETag
//! and `304 Not Modified`, so polling every second costs a query and no body), and the guild and
//! channel snapshots that feed the admin's channel pickers.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::AppContext;
use domain::discovery::{self, ChannelInfo, DiscoveryError, GuildInfo, RuntimeConfig};
use domain::snowflake::Snowflake;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use super::connector_auth::{ConnectorAuth, VERSION_HEADER, db_unavailable};
use super::json_body::JsonBody;
use super::openapi::ErrorBody;

#[derive(Deserialize, ToSchema)]
pub struct Hello {
    /// The collector's version, shown to the operator.
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HelloAnswer {
    pub started_at: DateTime<Utc>,
    pub config: RuntimeConfig,
}

#[derive(Deserialize, ToSchema)]
pub struct GuildSnapshot {
    pub guilds: Vec<GuildInfo>,
}

#[derive(Deserialize, ToSchema)]
pub struct ChannelSnapshot {
    pub channels: Vec<ChannelInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct Recorded {
    pub recorded: usize,
}

fn discovery_error(e: DiscoveryError) -> ApiError {
    match e {
        DiscoveryError::Db(e) => db_unavailable(e),
        DiscoveryError::UnknownGuild(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown_guild", e.to_string()),
        DiscoveryError::NotOwner(_) => {
            tracing::warn!(error = %e, "discovery snapshot refused: not this connector's");
            ApiError::new(StatusCode::FORBIDDEN, "not_owner", e.to_string())
        }
        other => {
            tracing::warn!(error = %other, "discovery snapshot refused");
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", other.to_string())
        }
    }
}

/// Says the connector (re)started. Discovery requests made before this are not replayed.
#[utoipa::path(
    post,
    path = "/connector/hello",
    tag = "connector",
    security(("connector_token" = [])),
    request_body(content = Hello, example = json!({"version": "collector 1.4.2"})),
    responses(
        (status = 200, description = "Recorded; the current runtime config", body = HelloAnswer),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "The connector is disabled", body = ErrorBody),
        (status = 400, description = "Malformed JSON or a field that does not fit (named in the message)", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB"),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 503, description = "Database unavailable: nothing was stored, retry", body = ErrorBody),
    )
)]
pub async fn hello(
    State(ctx): State<AppContext>,
    ConnectorAuth(connector): ConnectorAuth,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Json<HelloAnswer>, ApiError> {
    let hello: Hello = body.decode()?;
    let version = hello
        .version
        .as_deref()
        .or_else(|| headers.get(VERSION_HEADER).and_then(|v| v.to_str().ok()));
    let started_at = domain::connectors::hello(&ctx.db, &connector, version)
        .await
        .map_err(db_unavailable)?;
    let connector = domain::connectors::find(&ctx.db, &connector.pid)
        .await
        .map_err(db_unavailable)?;
    let config = discovery::runtime_config(&ctx.db, &connector)
        .await
        .map_err(db_unavailable)?;
    Ok(Json(HelloAnswer { started_at, config }))
}

/// The source channels to capture and pending discovery requests. Send the last `ETag` in
/// `If-None-Match`: while nothing changed the answer is `304` with no body.
#[utoipa::path(
    get,
    path = "/connector/config",
    tag = "connector",
    security(("connector_token" = [])),
    params(("If-None-Match" = Option<String>, Header, description = "The ETag of the config you have")),
    responses(
        (status = 200, description = "The runtime config", body = RuntimeConfig,
            headers(("ETag" = String, description = "The config version, quoted")),
            example = json!({"version": "9f2c41d07a5b3e10", "forwarding": false,
                "source_channels": [{"guild_id": "1180000000000000001", "channel_id": "1180000000000000002", "name": "signals"}],
                "discovery_requests": [{"id": 7, "guild_id": "1180000000000000001", "requested_at": "2026-11-27T12:00:00Z"}]})),
        (status = 304, description = "Unchanged since the ETag you sent"),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "The connector is disabled", body = ErrorBody),
    )
)]
pub async fn config(
    State(ctx): State<AppContext>,
    ConnectorAuth(connector): ConnectorAuth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let config = discovery::runtime_config(&ctx.db, &connector)
        .await
        .map_err(db_unavailable)?;
    let etag = format!("\"{}\"", config.version);
    let etag_value = HeaderValue::from_str(&etag).expect("hex in quotes is a valid header");
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag));
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value), cache]).into_response());
    }
    Ok(([(header::ETAG, etag_value), cache], Json(config)).into_response())
}

/// Replaces the list of guilds this connector is in.
#[utoipa::path(
    put,
    path = "/discovery/guilds",
    tag = "discovery",
    security(("connector_token" = [])),
    request_body(content = GuildSnapshot, example = json!({"guilds": [{"id": "1180000000000000001", "name": "Alpha Signals", "icon": null}]})),
    responses(
        (status = 200, description = "Recorded", body = Recorded, example = json!({"recorded": 1})),
        (status = 400, description = "A field does not fit (named in the message)", body = ErrorBody),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "The connector is disabled (`connector_disabled`), or a listed guild belongs to another connector (`not_owner`)", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB"),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 503, description = "Database unavailable: nothing was stored, retry", body = ErrorBody),
    )
)]
pub async fn put_guilds(
    State(ctx): State<AppContext>,
    ConnectorAuth(connector): ConnectorAuth,
    body: JsonBody,
) -> Result<Json<Recorded>, ApiError> {
    let snapshot: GuildSnapshot = body.decode()?;
    let recorded = discovery::record_guilds(&ctx.db, &connector, &snapshot.guilds)
        .await
        .map_err(discovery_error)?;
    Ok(Json(Recorded { recorded }))
}

/// Replaces what we know of one guild's channels and answers pending "Fetch channels" requests
/// for it.
#[utoipa::path(
    put,
    path = "/discovery/guilds/{guild_id}/channels",
    tag = "discovery",
    security(("connector_token" = [])),
    params(("guild_id" = String, Path, description = "The guild's Discord id")),
    request_body(content = ChannelSnapshot, example = json!({"channels": [
        {"id": "1180000000000000002", "name": "signals", "type": 0, "parent_id": null, "position": 1},
        {"id": "1180000000000000009", "name": "Trading", "type": 4, "position": 0}]})),
    responses(
        (status = 200, description = "Recorded", body = Recorded, example = json!({"recorded": 2})),
        (status = 400, description = "A field does not fit (named in the message)", body = ErrorBody),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "The connector is disabled (`connector_disabled`), or the guild or a listed channel belongs to another connector (`not_owner`)", body = ErrorBody),
        (status = 404, description = "The guild is not in this connector's guild snapshot", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB"),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 503, description = "Database unavailable: nothing was stored, retry", body = ErrorBody),
    )
)]
pub async fn put_channels(
    State(ctx): State<AppContext>,
    ConnectorAuth(connector): ConnectorAuth,
    Path(guild_id): Path<String>,
    body: JsonBody,
) -> Result<Json<Recorded>, ApiError> {
    let guild_id: Snowflake = guild_id
        .parse()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", format!("guild_id: {e}")))?;
    let snapshot: ChannelSnapshot = body.decode()?;
    let recorded = discovery::record_channels(&ctx.db, &connector, guild_id, &snapshot.channels)
        .await
        .map_err(discovery_error)?;
    Ok(Json(Recorded { recorded }))
}
