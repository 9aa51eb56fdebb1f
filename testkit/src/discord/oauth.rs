//! OAuth2 as Discord runs it (authorize page, form-encoded token endpoint with PKCE), and the
//! fake's own control endpoints under `/_fake/` for browser tests and the demo.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

use super::world::{CodeGrant, World};

/// How long an authorisation code can be exchanged.
const CODE_LIFETIME: Duration = Duration::from_secs(600);

fn form(s: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(s).into_owned().collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn handle(
    world: &Arc<Mutex<World>>,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let mut w = world.lock().unwrap();
    // `GET /_fake/channels/{id}/messages`: what a channel holds, oldest first.
    if let Some(channel) = path
        .strip_prefix("/_fake/channels/")
        .and_then(|rest| rest.strip_suffix("/messages"))
    {
        let Ok(channel) = channel.parse::<u64>() else {
            return (StatusCode::BAD_REQUEST, "a channel id").into_response();
        };
        let guild = w.guild_of(channel);
        let list: Vec<Value> = w.channel_messages(channel).iter().map(|m| m.to_json(guild)).collect();
        return axum::Json(Value::Array(list)).into_response();
    }
    match (method.as_str(), path) {
        ("GET", "/oauth2/authorize") => authorize_page(&w, &form(query.as_bytes())),
        ("POST", "/oauth2/authorize") => authorize(&mut w, &form(body)),
        ("POST", "/api/oauth2/token" | "/api/v10/oauth2/token") => token(&mut w, headers, body),
        ("GET", "/_fake/state") => axum::Json(state(&w)).into_response(),
        ("POST", "/_fake/guilds") => match serde_json::from_slice::<Value>(body) {
            Ok(v) => seed_guild(&mut w, &v),
            Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        },
        ("POST", "/_fake/redirect_uris") => {
            let uri = String::from_utf8_lossy(body).trim().to_owned();
            w.redirect_uris.push(uri);
            StatusCode::NO_CONTENT.into_response()
        }
        ("POST", "/_fake/messages") => match serde_json::from_slice::<Value>(body) {
            Ok(v) => post_message(&mut w, &v),
            Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        },
        ("POST", "/_fake/members") => match serde_json::from_slice::<Value>(body) {
            Ok(v) => set_member(&mut w, &v),
            Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        },
        ("POST", "/_fake/gateway/close") => {
            let code = String::from_utf8_lossy(body).trim().parse().unwrap_or(4000);
            axum::Json(json!({"closed": w.close_gateway(code)})).into_response()
        }
        ("GET", "/_fake/healthz") => "ok".into_response(),
        _ => super::rest::error(404, 0, "404: Not Found"),
    }
}

/// Checks what the authorize request names: the client and an exactly registered redirect URI.
fn check_client(w: &World, q: &[(String, String)]) -> Result<String, &'static str> {
    if field(q, "client_id") != Some(super::CLIENT_ID) {
        return Err("Unknown application");
    }
    let redirect = field(q, "redirect_uri").unwrap_or("");
    if !w.redirect_uris.iter().any(|u| u == redirect) {
        return Err("Invalid OAuth2 redirect_uri");
    }
    if field(q, "response_type") != Some("code") {
        return Err("Invalid response_type");
    }
    Ok(redirect.to_owned())
}

/// The consent page: who is logging in, and Authorize / Cancel.
fn authorize_page(w: &World, q: &[(String, String)]) -> Response {
    if let Err(why) = check_client(w, q) {
        return (StatusCode::BAD_REQUEST, why).into_response();
    }
    let hidden: String = q
        .iter()
        .map(|(k, v)| format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(k), escape(v)))
        .collect();
    Html(format!(
        r#"<!doctype html><html><head><title>Discord (fake) – Authorize</title></head><body>
<h1>Fake Discord</h1><p>An application wants to access your account ({scope}).</p>
<form method="post" action="/oauth2/authorize">{hidden}
<label>Discord username <input name="username" value="demo-trader" required></label>
<button name="decision" value="authorize">Authorize</button>
<button name="decision" value="cancel" formnovalidate>Cancel</button></form></body></html>"#,
        scope = escape(field(q, "scope").unwrap_or(""))
    ))
    .into_response()
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(base).expect("registered redirect URIs are URLs");
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

/// The user's decision: a redirect back with `code` and `state`, or `error=access_denied`.
fn authorize(w: &mut World, f: &[(String, String)]) -> Response {
    let redirect = match check_client(w, f) {
        Ok(r) => r,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    let state = field(f, "state").unwrap_or("");
    if field(f, "decision") == Some("cancel") {
        return Redirect::to(&with_query(&redirect, &[("error", "access_denied"), ("state", state)])).into_response();
    }
    let username = field(f, "username").unwrap_or("demo-trader").trim().to_owned();
    let user_id = w.user_by_name(&username);
    let challenge = match (field(f, "code_challenge"), field(f, "code_challenge_method")) {
        (Some(c), Some("S256")) => Some(c.to_owned()),
        (Some(_), _) => return (StatusCode::BAD_REQUEST, "Only S256 is supported").into_response(),
        (None, _) => None,
    };
    let code = random_token();
    w.codes.insert(
        code.clone(),
        CodeGrant {
            user_id,
            redirect_uri: redirect.clone(),
            challenge,
            scope: field(f, "scope").unwrap_or("identify").to_owned(),
            issued: Instant::now(),
        },
    );
    Redirect::to(&with_query(&redirect, &[("code", &code), ("state", state)])).into_response()
}

fn random_token() -> String {
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `POST /api/oauth2/token`: form-encoded only, client authenticated by Basic or form fields,
/// the code single-use and bound to its redirect URI and PKCE challenge.
fn token(w: &mut World, headers: &HeaderMap, body: &Bytes) -> Response {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ctype.starts_with("application/x-www-form-urlencoded") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    }
    let f = form(body);
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let (client_id, secret) = match &basic {
        Some(pair) => {
            let (id, secret) = pair.split_once(':').unwrap_or((pair, ""));
            (
                url::form_urlencoded::parse(id.as_bytes())
                    .map(|(k, _)| k.into_owned())
                    .next()
                    .unwrap_or_default(),
                url::form_urlencoded::parse(secret.as_bytes())
                    .map(|(k, _)| k.into_owned())
                    .next()
                    .unwrap_or_default(),
            )
        }
        None => (
            field(&f, "client_id").unwrap_or("").to_owned(),
            field(&f, "client_secret").unwrap_or("").to_owned(),
        ),
    };
    if client_id != super::CLIENT_ID || secret != super::CLIENT_SECRET {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    if field(&f, "grant_type") != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "authorization_code only",
        );
    }
    let Some(grant) = field(&f, "code").and_then(|c| w.codes.remove(c)) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Invalid \"code\" in request.");
    };
    if grant.issued.elapsed() > CODE_LIFETIME {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the code expired");
    }
    if field(&f, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid \"redirect_uri\" in request.",
        );
    }
    if let Some(challenge) = &grant.challenge {
        let verifier = field(&f, "code_verifier").unwrap_or("");
        let digest = sha2::Sha256::digest(verifier.as_bytes());
        if base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) != *challenge {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Invalid \"code_verifier\"");
        }
    }
    let access = random_token();
    w.tokens.insert(access.clone(), grant.user_id);
    axum::Json(json!({
        "access_token": access, "token_type": "Bearer", "expires_in": 604800,
        "refresh_token": random_token(), "scope": grant.scope
    }))
    .into_response()
}

fn state(w: &World) -> Value {
    json!({
        "guilds": w.guilds.values().map(|g| json!({
            "id": g.id.to_string(), "name": g.name, "bot_top": g.bot_top,
            "roles": g.roles.values().map(|r| json!({"id": r.id.to_string(), "name": r.name, "position": r.position})).collect::<Vec<_>>(),
            "members": g.members.iter().map(|(u, roles)| json!({
                "user_id": u.to_string(),
                "username": w.users.get(u).map(|x| x.username.clone()),
                "roles": roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "calls": w.calls.len(),
        "rate_limited": w.rate_limited(),
        "invalid_requests": w.invalid_requests,
        "gateway": {
            "live_sessions": w.live_gateway_sessions(), "identifies": w.gateway.identifies,
            "resumes": w.gateway.resumes, "heartbeats": w.gateway.heartbeats,
        },
    })
}

/// `POST /_fake/members {"guild_id", "username", "roles": [ids]}`: a moderator sets a member's
/// roles by hand (drift, as far as role sync is concerned).
fn set_member(w: &mut World, v: &Value) -> Response {
    let num = |v: &Value| v.as_u64().or_else(|| v.as_str()?.parse().ok());
    let (Some(guild), Some(name)) = (
        v.get("guild_id").and_then(num),
        v.get("username").and_then(Value::as_str),
    ) else {
        return (StatusCode::BAD_REQUEST, "guild_id and username are required").into_response();
    };
    if !w.guilds.contains_key(&guild) {
        return (StatusCode::NOT_FOUND, "no such guild").into_response();
    }
    let user = w.user_by_name(name);
    let roles: Vec<u64> = v
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(num)
        .collect();
    w.add_member(guild, user, &roles);
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /_fake/messages {"channel_id", "author", "content"}`: a user (by name) posts in a
/// channel; gateway sessions get MESSAGE_CREATE.
fn post_message(w: &mut World, v: &Value) -> Response {
    let num = |v: &Value| v.as_u64().or_else(|| v.as_str()?.parse().ok());
    let Some(channel) = v.get("channel_id").and_then(num) else {
        return (StatusCode::BAD_REQUEST, "channel_id is required").into_response();
    };
    let author = v.get("author").and_then(Value::as_str).unwrap_or("trader");
    let author = w.user_by_name(author);
    let content = v.get("content").and_then(Value::as_str).unwrap_or("");
    let id = w.post_message(channel, author, content);
    axum::Json(json!({"id": id.to_string()})).into_response()
}

/// `POST /_fake/guilds {"id", "name", "bot_top", "roles": [{"id", "name", "position"}],
/// "channels": [{"id", "name", "type", "parent_id"}], "invite": bool}`. With `invite`, the bot
/// joins it as when an operator adds it: open gateway sessions get its GUILD_CREATE.
fn seed_guild(w: &mut World, v: &Value) -> Response {
    let num = |v: &Value| v.as_u64().or_else(|| v.as_str()?.parse().ok());
    let Some(id) = v.get("id").and_then(num) else {
        return (StatusCode::BAD_REQUEST, "id is required").into_response();
    };
    let name = v.get("name").and_then(Value::as_str).unwrap_or("Customers");
    let top = v.get("bot_top").and_then(Value::as_i64).unwrap_or(100);
    w.add_guild(id, name, top);
    for r in v.get("roles").and_then(Value::as_array).into_iter().flatten() {
        if let Some(rid) = r.get("id").and_then(num) {
            let name = r.get("name").and_then(Value::as_str).unwrap_or("role");
            let pos = r.get("position").and_then(Value::as_i64).unwrap_or(1);
            w.add_role(id, rid, name, pos);
        }
    }
    for c in v.get("channels").and_then(Value::as_array).into_iter().flatten() {
        if let Some(cid) = c.get("id").and_then(num) {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("channel");
            let kind = c.get("type").and_then(Value::as_u64).unwrap_or(0) as u8;
            w.add_channel(id, cid, name, kind, c.get("parent_id").and_then(num));
        }
    }
    if v.get("invite").and_then(Value::as_bool).unwrap_or(false) {
        w.announce_guild(id);
    }
    StatusCode::NO_CONTENT.into_response()
}

pub(super) struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// Splits a `multipart/form-data` body (what serenity sends for files and `payload_json`).
pub(super) fn multipart_parts(body: &[u8], boundary: &str) -> Option<Vec<Part>> {
    let boundary = boundary.trim_matches('"');
    let delim = format!("--{boundary}");
    let text = body;
    let mut parts = Vec::new();
    let positions: Vec<usize> = find_all(text, delim.as_bytes());
    for pair in positions.windows(2) {
        let chunk = &text[pair[0] + delim.len()..pair[1]];
        let chunk = chunk.strip_prefix(b"\r\n")?;
        let split = find_all(chunk, b"\r\n\r\n").into_iter().next()?;
        let head = String::from_utf8_lossy(&chunk[..split]).to_string();
        let mut data = chunk[split + 4..].to_vec();
        if data.ends_with(b"\r\n") {
            data.truncate(data.len() - 2);
        }
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?
            .to_owned();
        let attr = |key: &str| {
            let needle = format!("{key}=\"");
            let start = disposition.find(&needle)? + needle.len();
            let end = disposition[start..].find('"')? + start;
            Some(disposition[start..end].to_owned())
        };
        parts.push(Part {
            name: attr("name")?,
            filename: attr("filename"),
            data,
        });
    }
    Some(parts)
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return Vec::new();
    }
    (0..=hay.len() - needle.len())
        .filter(|&i| &hay[i..i + needle.len()] == needle)
        .collect()
}
