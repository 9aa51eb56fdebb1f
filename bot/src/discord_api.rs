//! Discord's REST API as the bot uses it. Requests are built by serenity (`Route`, `Request`:
//! its URLs, token header and user agent) and sent with serenity's own HTTP client settings
//! through `HttpBuilder::proxy` (limiter off, see `rate_limit`). We execute the built request
//! ourselves rather than through `Http::request` because that drops the response headers and a
//! 429's body, which our rate limiter needs.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serenity::http::{Http, HttpBuilder, LightMethod, Request, Route};
use serenity::model::id::{ChannelId, GuildId, MessageId, RoleId, UserId};

use crate::rate_limit::{RateLimiter, Seen};

/// Which messages of a channel a read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    After(u64),
    Before(u64),
    Newest,
}

/// A file sent with a message.
#[derive(Debug, Clone)]
pub struct Upload {
    pub filename: String,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ApiError {
    #[error("rate limited for {0:?}")]
    RateLimited(Duration),
    /// Discord's JSON error (`{"message", "code"}`).
    #[error("Discord refused (HTTP {status}, code {code}): {message}")]
    Refused { status: u16, code: i64, message: String },
    #[error("Discord failed (HTTP {0})")]
    Server(u16),
    #[error("no answer from Discord within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach Discord: {0}")]
    Transport(String),
    #[error("unexpected answer from Discord: {0}")]
    Decode(String),
}

/// The JSON error codes we act on.
pub mod codes {
    pub const UNKNOWN_GUILD: i64 = 10004;
    pub const UNKNOWN_MEMBER: i64 = 10007;
    pub const UNKNOWN_ROLE: i64 = 10011;
    pub const UNKNOWN_CHANNEL: i64 = 10003;
    pub const UNKNOWN_MESSAGE: i64 = 10008;
    pub const MISSING_ACCESS: i64 = 50001;
    pub const MISSING_PERMISSIONS: i64 = 50013;
    /// The user shares no server with the bot, or does not accept direct messages.
    pub const CANNOT_MESSAGE_USER: i64 = 50007;
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiUser {
    pub id: serenity::model::id::UserId,
    pub username: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiRole {
    pub id: RoleId,
    pub name: String,
    pub position: i64,
    #[serde(default)]
    pub managed: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct ApiMember {
    roles: Vec<RoleId>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiMessage {
    pub id: MessageId,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiChannel {
    pub id: ChannelId,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiGuild {
    pub name: String,
}

pub struct DiscordApi {
    http: Arc<Http>,
    client: reqwest::Client,
    limiter: RateLimiter,
    timeout: Duration,
}

fn header_f64(h: &reqwest::header::HeaderMap, name: &str) -> Option<f64> {
    h.get(name)?.to_str().ok()?.parse().ok()
}

impl DiscordApi {
    /// `api_url` is `https://discord.com` or a local fake; `agent` names this process in the
    /// user agent (Discord ignores the suffix; the fake's call log records it).
    pub fn new(token: &str, api_url: &str, timeout: Duration, global_per_second: u32) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("an HTTP client with a timeout");
        let http = HttpBuilder::new(token)
            .proxy(api_url.trim_end_matches('/'))
            .ratelimiter_disabled(true)
            .client(client.clone())
            .build();
        DiscordApi {
            http: Arc::new(http),
            client,
            limiter: RateLimiter::new(global_per_second),
            timeout,
        }
    }

    async fn send(
        &self,
        route: Route<'_>,
        method: LightMethod,
        body: Option<Vec<u8>>,
        reason: Option<&str>,
    ) -> Result<Vec<u8>, ApiError> {
        self.send_with(route, method, body, None, reason, None).await
    }

    /// A GET with query parameters.
    async fn get(&self, route: Route<'_>, params: Vec<(&'static str, String)>) -> Result<Vec<u8>, ApiError> {
        self.send_with(route, LightMethod::Get, None, None, None, Some(params))
            .await
    }

    /// `send`, with uploads: a `multipart/form-data` body of `payload_json` and `files[i]`.
    async fn send_with(
        &self,
        route: Route<'_>,
        method: LightMethod,
        body: Option<Vec<u8>>,
        uploads: Option<(String, Vec<Upload>)>,
        reason: Option<&str>,
        params: Option<Vec<(&'static str, String)>>,
    ) -> Result<Vec<u8>, ApiError> {
        let bucket = route.ratelimiting_bucket();
        self.limiter.acquire(bucket).await.map_err(ApiError::RateLimited)?;
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(r) = reason.and_then(|r| reqwest::header::HeaderValue::from_str(r).ok()) {
            headers.insert("X-Audit-Log-Reason", r);
        }
        let mut builder = Request::new(route, method)
            .body(body)
            .params(params)
            .headers(Some(headers))
            .build(&self.client, self.http.token(), self.http.proxy.as_deref())
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        let uploading = uploads.is_some();
        if let Some((payload_json, files)) = uploads {
            // serenity's own multipart numbers files only inside its send_message; ours goes
            // through this client's rate limiter, so the form is built here.
            let mut form = reqwest::multipart::Form::new().text("payload_json", payload_json);
            for (i, f) in files.into_iter().enumerate() {
                form = form.part(
                    format!("files[{i}]"),
                    reqwest::multipart::Part::bytes(f.data).file_name(f.filename),
                );
            }
            builder = builder.multipart(form);
        }
        let mut request = builder.build().map_err(|e| ApiError::Transport(e.to_string()))?;
        if uploading {
            // serenity marked the (empty) JSON body "Content-Length: 0"; the form's own length wins.
            let lengths: Vec<_> = request
                .headers()
                .get_all(reqwest::header::CONTENT_LENGTH)
                .iter()
                .cloned()
                .collect();
            request.headers_mut().remove(reqwest::header::CONTENT_LENGTH);
            if let Some(len) = lengths.into_iter().filter(|v| v.as_bytes() != b"0").last() {
                request.headers_mut().insert(reqwest::header::CONTENT_LENGTH, len);
            }
        }
        let response = self.client.execute(request).await.map_err(|e| {
            if e.is_timeout() {
                ApiError::Timeout(self.timeout)
            } else {
                ApiError::Transport(e.to_string())
            }
        })?;
        let status = response.status().as_u16();
        let h = response.headers().clone();
        if let (Some(limit), Some(remaining), Some(reset_after)) = (
            header_f64(&h, "x-ratelimit-limit"),
            header_f64(&h, "x-ratelimit-remaining"),
            header_f64(&h, "x-ratelimit-reset-after"),
        ) {
            self.limiter.observe(
                bucket,
                Seen {
                    limit: limit as u32,
                    remaining: remaining as u32,
                    reset_after: Duration::from_secs_f64(reset_after.max(0.0)),
                },
            );
        }
        let bytes = response.bytes().await.map_err(|e| {
            if e.is_timeout() {
                ApiError::Timeout(self.timeout)
            } else {
                ApiError::Transport(e.to_string())
            }
        })?;
        match status {
            200..=299 => Ok(bytes.to_vec()),
            429 => {
                let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                let secs = body
                    .get("retry_after")
                    .and_then(serde_json::Value::as_f64)
                    .or_else(|| header_f64(&h, "retry-after"))
                    .unwrap_or(1.0);
                let wait = Duration::from_secs_f64(secs.max(0.0));
                let global = body.get("global").and_then(serde_json::Value::as_bool).unwrap_or(false)
                    || h.get("x-ratelimit-global").is_some();
                self.limiter.limited(bucket, wait, global);
                Err(ApiError::RateLimited(wait))
            }
            500..=599 => Err(ApiError::Server(status)),
            _ => {
                let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                Err(ApiError::Refused {
                    status,
                    code: body.get("code").and_then(serde_json::Value::as_i64).unwrap_or(0),
                    message: body
                        .get("message")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                })
            }
        }
    }

    /// Sets this process's share of the bot's global request limit.
    pub fn share_global_limit(&self, total: u32, processes: usize) {
        self.limiter.share(total, processes);
    }

    fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
        serde_json::from_slice(bytes).map_err(|e| ApiError::Decode(e.to_string()))
    }

    pub async fn current_user(&self) -> Result<ApiUser, ApiError> {
        Self::decode(&self.send(Route::UserMe, LightMethod::Get, None, None).await?)
    }

    pub async fn guild(&self, guild: u64) -> Result<ApiGuild, ApiError> {
        let route = Route::Guild {
            guild_id: GuildId::new(guild),
        };
        Self::decode(&self.send(route, LightMethod::Get, None, None).await?)
    }

    pub async fn guild_roles(&self, guild: u64) -> Result<Vec<ApiRole>, ApiError> {
        let route = Route::GuildRoles {
            guild_id: GuildId::new(guild),
        };
        Self::decode(&self.send(route, LightMethod::Get, None, None).await?)
    }

    /// A member's role ids.
    pub async fn member_roles(&self, guild: u64, user: u64) -> Result<BTreeSet<u64>, ApiError> {
        let route = Route::GuildMember {
            guild_id: GuildId::new(guild),
            user_id: UserId::new(user),
        };
        let m: ApiMember = Self::decode(&self.send(route, LightMethod::Get, None, None).await?)?;
        Ok(m.roles.into_iter().map(|r| r.get()).collect())
    }

    pub async fn set_member_role(
        &self,
        guild: u64,
        user: u64,
        role: u64,
        add: bool,
        reason: &str,
    ) -> Result<(), ApiError> {
        let route = Route::GuildMemberRole {
            guild_id: GuildId::new(guild),
            user_id: UserId::new(user),
            role_id: RoleId::new(role),
        };
        let method = if add { LightMethod::Put } else { LightMethod::Delete };
        self.send(route, method, None, Some(reason)).await.map(|_| ())
    }

    /// Posts a message (JSON body); returns its id.
    pub async fn create_message(&self, channel: u64, body: &serde_json::Value) -> Result<u64, ApiError> {
        let route = Route::ChannelMessages {
            channel_id: ChannelId::new(channel),
        };
        let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Decode(e.to_string()))?;
        let m: ApiMessage = Self::decode(&self.send(route, LightMethod::Post, Some(bytes), None).await?)?;
        Ok(m.id.get())
    }

    /// Posts a message with uploads (`body` names them in `attachments`); returns its id.
    pub async fn create_message_with_files(
        &self,
        channel: u64,
        body: &serde_json::Value,
        files: Vec<Upload>,
    ) -> Result<u64, ApiError> {
        let route = Route::ChannelMessages {
            channel_id: ChannelId::new(channel),
        };
        let payload = (body.to_string(), files);
        let m: ApiMessage = Self::decode(
            &self
                .send_with(route, LightMethod::Post, None, Some(payload), None, None)
                .await?,
        )?;
        Ok(m.id.get())
    }

    /// Opens (or finds) the direct-message channel with `user`; returns its id.
    pub async fn dm_channel(&self, user: u64) -> Result<u64, ApiError> {
        let body = serde_json::json!({"recipient_id": user.to_string()});
        let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::Decode(e.to_string()))?;
        let c: ApiChannel = Self::decode(
            &self
                .send(Route::UserMeDmChannels, LightMethod::Post, Some(bytes), None)
                .await?,
        )?;
        Ok(c.id.get())
    }

    /// Starts a public thread (type 11) in `channel` without a starter message; returns its id.
    pub async fn create_thread(&self, channel: u64, name: &str) -> Result<u64, ApiError> {
        let route = Route::ChannelThreads {
            channel_id: ChannelId::new(channel),
        };
        let body = serde_json::json!({"name": name, "type": 11, "auto_archive_duration": 10080});
        let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::Decode(e.to_string()))?;
        let c: ApiChannel = Self::decode(&self.send(route, LightMethod::Post, Some(bytes), None).await?)?;
        Ok(c.id.get())
    }

    pub async fn edit_message(&self, channel: u64, message: u64, body: &serde_json::Value) -> Result<(), ApiError> {
        let route = Route::ChannelMessage {
            channel_id: ChannelId::new(channel),
            message_id: MessageId::new(message),
        };
        let bytes = serde_json::to_vec(body).map_err(|e| ApiError::Decode(e.to_string()))?;
        self.send(route, LightMethod::Patch, Some(bytes), None)
            .await
            .map(|_| ())
    }

    /// Up to `limit` (1–100) messages of `channel`: the oldest after an id, the newest before
    /// one, or the newest of all; oldest first. Discord's message objects, as sent.
    pub async fn messages(&self, channel: u64, page: Page, limit: u8) -> Result<Vec<serde_json::Value>, ApiError> {
        let route = Route::ChannelMessages {
            channel_id: ChannelId::new(channel),
        };
        let mut params = vec![("limit", limit.clamp(1, 100).to_string())];
        match page {
            Page::After(a) => params.push(("after", a.to_string())),
            Page::Before(b) => params.push(("before", b.to_string())),
            Page::Newest => {}
        }
        // Discord lists newest first whatever the query.
        let mut list: Vec<serde_json::Value> = Self::decode(&self.get(route, params).await?)?;
        list.sort_by_key(|m| m["id"].as_str().and_then(|i| i.parse::<u64>().ok()).unwrap_or(0));
        Ok(list)
    }

    /// One message as Discord holds it now.
    pub async fn message(&self, channel: u64, message: u64) -> Result<serde_json::Value, ApiError> {
        let route = Route::ChannelMessage {
            channel_id: ChannelId::new(channel),
            message_id: MessageId::new(message),
        };
        Self::decode(&self.send(route, LightMethod::Get, None, None).await?)
    }

    /// A guild's channels (channel objects, as sent; threads are not among them).
    pub async fn guild_channels(&self, guild: u64) -> Result<Vec<serde_json::Value>, ApiError> {
        let route = Route::GuildChannels {
            guild_id: GuildId::new(guild),
        };
        Self::decode(&self.send(route, LightMethod::Get, None, None).await?)
    }

    pub async fn delete_message(&self, channel: u64, message: u64) -> Result<(), ApiError> {
        let route = Route::ChannelMessage {
            channel_id: ChannelId::new(channel),
            message_id: MessageId::new(message),
        };
        self.send(route, LightMethod::Delete, None, None).await.map(|_| ())
    }
}
