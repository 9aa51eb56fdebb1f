//! The HTTP face of the fake: one handler that logs the call, applies scripted faults and rate
//! limits, checks the token, then answers the route as Discord v10 would.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::oauth;
use super::ratelimit::{BucketState, Verdict, bucket_of};
use super::world::{Call, Fault, Message, World, user_json};

type Shared = Arc<Mutex<World>>;

pub(super) fn router(world: Shared) -> Router {
    Router::new()
        .route("/gateway", axum::routing::get(super::gateway::upgrade))
        .route(
            "/attachments/{channel}/{attachment}/{name}",
            axum::routing::get(super::cdn::file),
        )
        .fallback(handle)
        .with_state(world)
}

/// A Discord JSON error.
pub(super) fn error(status: u16, code: u32, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(json!({"message": message, "code": code}))).into_response()
}

fn json_status(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn handle(State(world): State<Shared>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let headers = req.headers().clone();
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let reason = headers
        .get("x-audit-log-reason")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let agent = (agent, reason);
    let body = axum::body::to_bytes(req.into_body(), 30 * 1024 * 1024)
        .await
        .unwrap_or_default();

    if path.starts_with("/oauth2/") || path.ends_with("/oauth2/token") || path.starts_with("/_fake/") {
        let response = oauth::handle(&world, &method, &path, &query, &headers, &body);
        log(&world, &method, &path, response.status().as_u16(), &agent);
        return response;
    }
    if !path.starts_with("/api/v10/") {
        return error(404, 0, "404: Not Found");
    }

    let fault = world.lock().unwrap().take_fault(method.as_str(), &path);
    let mut ignore = false;
    match &fault {
        Some(Fault::Error { status, code, message }) => {
            return finish(&world, &method, &path, &agent, error(*status, *code, message), None);
        }
        Some(Fault::Status(status)) => {
            let r = StatusCode::from_u16(*status)
                .unwrap_or(StatusCode::BAD_GATEWAY)
                .into_response();
            return finish(&world, &method, &path, &agent, r, None);
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        Some(Fault::Ignore) => ignore = true,
        Some(Fault::RateLimited { .. } | Fault::AnswerLate(_)) | None => {}
    }

    let bucket = bucket_of(method.as_str(), &path);
    let verdict = match fault {
        Some(Fault::RateLimited { retry_after, global }) => Verdict::Limited {
            retry_after,
            global,
            state: None,
        },
        _ => world.lock().unwrap().limits.check(&bucket, Instant::now()),
    };
    let state = match verdict {
        Verdict::Allowed(state) => state,
        Verdict::Limited {
            retry_after,
            global,
            state,
        } => {
            let secs = retry_after.as_secs_f64().max(0.001);
            let mut r = json_status(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"message": "You are being rate limited.", "retry_after": secs, "global": global}),
            );
            let h = r.headers_mut();
            h.insert("retry-after", HeaderValue::from(secs.ceil() as u64));
            h.insert(
                "x-ratelimit-scope",
                HeaderValue::from_static(if global { "global" } else { "user" }),
            );
            if global {
                h.insert("x-ratelimit-global", HeaderValue::from_static("true"));
            }
            return finish(&world, &method, &path, &agent, r, state);
        }
    };

    let response = route(&world, &method, &path, &query, &headers, &body, ignore);
    if let Some(Fault::AnswerLate(d)) = fault {
        tokio::time::sleep(d).await;
    }
    finish(&world, &method, &path, &agent, response, state)
}

fn log(world: &Shared, method: &Method, path: &str, status: u16, agent: &(String, String)) {
    let mut w = world.lock().unwrap();
    if matches!(status, 401 | 403 | 429) {
        w.invalid_requests += 1;
    }
    w.calls.push(Call {
        method: method.to_string(),
        path: path.to_owned(),
        status,
        at: Instant::now(),
        agent: agent.0.clone(),
        reason: agent.1.clone(),
    });
}

fn finish(
    world: &Shared,
    method: &Method,
    path: &str,
    agent: &(String, String),
    mut response: Response,
    state: Option<BucketState>,
) -> Response {
    if let Some(s) = state {
        let reset = std::time::SystemTime::now() + s.reset_after;
        let reset = reset
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let h = response.headers_mut();
        h.insert("x-ratelimit-bucket", HeaderValue::from_str(&s.bucket).unwrap());
        h.insert("x-ratelimit-limit", HeaderValue::from(s.limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(s.remaining));
        h.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(&format!("{reset:.3}")).unwrap(),
        );
        h.insert(
            "x-ratelimit-reset-after",
            HeaderValue::from_str(&format!("{:.3}", s.reset_after.as_secs_f64())).unwrap(),
        );
    }
    log(world, method, path, response.status().as_u16(), agent);
    response
}

/// Whose token is it: the bot's, a user's bearer token, or nobody's.
enum Caller {
    Bot,
    User(u64),
}

fn caller(w: &World, headers: &HeaderMap) -> Option<Caller> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = auth.strip_prefix("Bot ") {
        return (token == w.bot_token).then_some(Caller::Bot);
    }
    let token = auth.strip_prefix("Bearer ")?;
    w.tokens.get(token).map(|u| Caller::User(*u))
}

fn member_json(w: &World, guild: u64, user: u64) -> Option<Value> {
    let roles = w.guilds.get(&guild)?.members.get(&user)?;
    let name = w
        .users
        .get(&user)
        .map(|u| u.username.clone())
        .unwrap_or_else(|| format!("user{user}"));
    Some(json!({
        "user": user_json(user, &name, false),
        "nick": null, "avatar": null,
        "roles": roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "joined_at": "2026-01-01T00:00:00.000000+00:00",
        "deaf": false, "mute": false, "flags": 0, "pending": false
    }))
}

fn id(s: &str) -> Option<u64> {
    s.parse().ok()
}

fn route(
    world: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
    ignore: bool,
) -> Response {
    let mut w = world.lock().unwrap();
    let Some(who) = caller(&w, headers) else {
        return error(401, 0, "401: Unauthorized");
    };
    let segments: Vec<&str> = path.trim_start_matches("/api/v10/").split('/').collect();
    match (method.as_str(), segments.as_slice(), who) {
        ("GET", ["users", "@me"], Caller::Bot) => json_status(
            StatusCode::OK,
            user_json(w.bot_user.id, &w.bot_user.username.clone(), true),
        ),
        ("GET", ["users", "@me"], Caller::User(u)) => {
            let name = w.users.get(&u).map(|x| x.username.clone()).unwrap_or_default();
            json_status(StatusCode::OK, user_json(u, &name, false))
        }
        ("GET", ["gateway"] | ["gateway", "bot"], Caller::Bot) => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1");
            json_status(
                StatusCode::OK,
                json!({"url": format!("ws://{host}/gateway"), "shards": 1,
                       "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}}),
            )
        }
        (_, _, Caller::User(_)) => error(401, 0, "401: Unauthorized"),
        ("GET", ["guilds", g], Caller::Bot) => match id(g).and_then(|g| w.guilds.get(&g)) {
            Some(guild) => json_status(
                StatusCode::OK,
                json!({"id": guild.id.to_string(), "name": guild.name, "roles": roles_json(guild), "owner_id": "1"}),
            ),
            None => error(404, 10004, "Unknown Guild"),
        },
        ("GET", ["guilds", g, "channels"], Caller::Bot) => match id(g).and_then(|g| w.guild_channels_json(g)) {
            Some(channels) => json_status(StatusCode::OK, channels),
            None => error(404, 10004, "Unknown Guild"),
        },
        ("GET", ["guilds", g, "roles"], Caller::Bot) => match id(g).and_then(|g| w.guilds.get(&g)) {
            Some(guild) => json_status(StatusCode::OK, Value::Array(roles_json(guild))),
            None => error(404, 10004, "Unknown Guild"),
        },
        ("GET", ["guilds", g, "members", u], Caller::Bot) => {
            let (Some(g), Some(u)) = (id(g), id(u)) else {
                return error(404, 10013, "Unknown User");
            };
            if !w.guilds.contains_key(&g) {
                return error(404, 10004, "Unknown Guild");
            }
            match member_json(&w, g, u) {
                Some(m) => json_status(StatusCode::OK, m),
                None => error(404, 10007, "Unknown Member"),
            }
        }
        ("PUT", ["guilds", g, "members", u], Caller::Bot) => add_member(&mut w, g, u, body),
        ("PUT" | "DELETE", ["guilds", g, "members", u, "roles", r], Caller::Bot) => {
            member_role(&mut w, method.as_str() == "PUT", g, u, r, ignore)
        }
        ("POST", ["users", "@me", "channels"], Caller::Bot) => open_dm(&mut w, body),
        ("POST", ["channels", c, "messages"], Caller::Bot) => match id(c) {
            Some(c) if w.dm_recipient(c).is_some_and(|u| !w.accepts_dms(u)) => {
                error(403, 50007, "Cannot send messages to this user")
            }
            Some(c) => create_message(&mut w, c, headers, body),
            None => error(404, 10003, "Unknown Channel"),
        },
        ("POST", ["channels", c, "threads"], Caller::Bot) => match id(c) {
            Some(c) => create_thread(&mut w, c, body),
            None => error(404, 10003, "Unknown Channel"),
        },
        ("GET", ["channels", c, "messages"], Caller::Bot) => match id(c) {
            Some(c) => list_messages(&w, c, query),
            None => error(404, 10003, "Unknown Channel"),
        },
        ("GET", ["channels", c, "messages", m], Caller::Bot) => {
            let (Some(c), Some(m)) = (id(c), id(m)) else {
                return error(404, 10008, "Unknown Message");
            };
            let guild = w.guild_of(c);
            match w.messages.get(&c).and_then(|v| v.iter().find(|x| x.id == m)) {
                Some(msg) => json_status(StatusCode::OK, msg.to_json(guild)),
                None => error(404, 10008, "Unknown Message"),
            }
        }
        ("PATCH", ["channels", c, "messages", m], Caller::Bot) => {
            let (Some(c), Some(m)) = (id(c), id(m)) else {
                return error(404, 10008, "Unknown Message");
            };
            let Ok(patch) = serde_json::from_slice::<Value>(body) else {
                return error(400, 50109, "The request body contains invalid JSON.");
            };
            if let Some(e) = check_message(&patch) {
                return e;
            }
            let guild = w.guild_of(c);
            let edited = super::world::snowflake_time(w.snowflake());
            let Some(msg) = w.messages.get_mut(&c).and_then(|v| v.iter_mut().find(|x| x.id == m)) else {
                return error(404, 10008, "Unknown Message");
            };
            if ignore {
                return json_status(StatusCode::OK, msg.to_json(guild));
            }
            let pings = would_ping(&patch);
            if let (Some(obj), Some(p)) = (msg.body.as_object_mut(), patch.as_object()) {
                for (k, v) in p {
                    obj.insert(k.clone(), v.clone());
                }
            }
            msg.edited = Some(edited);
            let out = msg.to_json(guild);
            if pings {
                w.pings += 1;
            }
            json_status(StatusCode::OK, out)
        }
        ("DELETE", ["channels", c, "messages", m], Caller::Bot) => {
            let (Some(c), Some(m)) = (id(c), id(m)) else {
                return error(404, 10008, "Unknown Message");
            };
            let list = w.messages.entry(c).or_default();
            match list.iter().position(|x| x.id == m) {
                Some(i) if !ignore => {
                    list.remove(i);
                    no_content()
                }
                Some(_) => no_content(),
                None => error(404, 10008, "Unknown Message"),
            }
        }
        _ => error(404, 0, "404: Not Found"),
    }
}

pub(super) fn roles_json(guild: &super::world::Guild) -> Vec<Value> {
    let mut roles = vec![role_json(guild.id, "@everyone", 0, false)];
    roles.extend(
        guild
            .roles
            .values()
            .map(|r| role_json(r.id, &r.name, r.position, r.managed)),
    );
    roles
}

/// A role object as Discord sends it (`colors` beside the older `color`).
fn role_json(id: u64, name: &str, position: i64, managed: bool) -> Value {
    json!({"id": id.to_string(), "name": name, "position": position, "managed": managed,
           "color": 0, "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
           "hoist": false, "permissions": "0", "mentionable": false, "flags": 0})
}

fn add_member(w: &mut World, g: &str, u: &str, body: &Bytes) -> Response {
    let (Some(g), Some(u)) = (id(g), id(u)) else {
        return error(404, 10013, "Unknown User");
    };
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return error(400, 50109, "The request body contains invalid JSON.");
    };
    let token = body.get("access_token").and_then(Value::as_str).unwrap_or("");
    if w.tokens.get(token) != Some(&u) {
        return error(403, 50025, "Invalid OAuth2 access token");
    }
    let Some(guild) = w.guilds.get_mut(&g) else {
        return error(404, 10004, "Unknown Guild");
    };
    if guild.members.contains_key(&u) {
        // Already a member: `roles` in the body are ignored.
        return no_content();
    }
    let roles = body
        .get("roles")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|r| r.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    guild.members.insert(u, roles);
    let m = member_json(w, g, u).unwrap_or(Value::Null);
    json_status(StatusCode::CREATED, m)
}

fn member_role(w: &mut World, add: bool, g: &str, u: &str, r: &str, ignore: bool) -> Response {
    let (Some(g), Some(u), Some(r)) = (id(g), id(u), id(r)) else {
        return error(404, 10011, "Unknown Role");
    };
    let Some(guild) = w.guilds.get_mut(&g) else {
        return error(404, 10004, "Unknown Guild");
    };
    let Some(role) = guild.roles.get(&r) else {
        return error(404, 10011, "Unknown Role");
    };
    if role.position >= guild.bot_top || role.managed {
        return error(403, 50013, "Missing Permissions");
    }
    let Some(member) = guild.members.get_mut(&u) else {
        return error(404, 10007, "Unknown Member");
    };
    if !ignore {
        if add {
            member.insert(r);
        } else {
            member.remove(&r);
        }
    }
    no_content()
}

/// Would Discord notify someone for this message? A mention (`@everyone`, `@here`, a user or a
/// role) pings unless `allowed_mentions` disarms it: `parse` without that kind and no id list.
fn would_ping(body: &Value) -> bool {
    let content = body.get("content").and_then(Value::as_str).unwrap_or("");
    let mentions_everyone = content.contains("@everyone") || content.contains("@here");
    let mentions_user = content.contains("<@") && !content.contains("<@&");
    let mentions_role = content.contains("<@&");
    let Some(allowed) = body.get("allowed_mentions") else {
        return mentions_everyone || mentions_user || mentions_role;
    };
    let parse: Vec<&str> = allowed
        .get("parse")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let listed = |k: &str| allowed.get(k).and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    (mentions_everyone && parse.contains(&"everyone"))
        || (mentions_user && (parse.contains(&"users") || listed("users")))
        || (mentions_role && (parse.contains(&"roles") || listed("roles")))
}

/// Discord's message limits (`discord-api.md`): 400 with code 50035 when one is exceeded.
fn check_message(body: &Value) -> Option<Response> {
    let content = body.get("content").and_then(Value::as_str).unwrap_or("");
    if content.chars().count() > 2000 {
        return Some(error(
            400,
            50035,
            "Invalid Form Body: content must be 2000 or fewer in length.",
        ));
    }
    let embeds = body
        .get("embeds")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if embeds.len() > 10 {
        return Some(error(
            400,
            50035,
            "Invalid Form Body: embeds must be 10 or fewer in length.",
        ));
    }
    let total: usize = embeds
        .iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).map_or(0, |v| v.chars().count());
            s("title") + s("description")
        })
        .sum();
    (total > 6000).then(|| error(400, 50035, "Invalid Form Body: embeds exceed 6000 characters."))
}

/// `POST /users/@me/channels` `{"recipient_id"}`: the DM channel with that user (the same one
/// every time), answered with its channel object (type 1). Whether a message can then be sent
/// there is decided when it is sent.
fn open_dm(w: &mut World, body: &Bytes) -> Response {
    let Ok(payload) = serde_json::from_slice::<Value>(body) else {
        return error(400, 50109, "The request body contains invalid JSON.");
    };
    let recipient = payload.get("recipient_id").and_then(|r| match r {
        Value::String(s) => s.parse::<u64>().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    });
    let known = |u: &u64| w.users.contains_key(u) || w.guilds.values().any(|g| g.members.contains_key(u));
    let Some(user) = recipient.filter(known) else {
        return error(400, 50035, "Invalid Form Body: recipient_id is not a known user.");
    };
    let channel = match w.dm_channels.get(&user) {
        Some(c) => *c,
        None => {
            let c = w.snowflake();
            w.dm_channels.insert(user, c);
            c
        }
    };
    let name = w.users.get(&user).map(|u| u.username.clone()).unwrap_or_default();
    json_status(
        StatusCode::OK,
        json!({"id": channel.to_string(), "type": 1, "last_message_id": null, "flags": 0,
               "recipients": [user_json(user, &name, false)]}),
    )
}

/// `POST /channels/{id}/threads` without a message: a public thread (type 11) under a text
/// channel, answered with the thread's channel object.
fn create_thread(w: &mut World, channel: u64, body: &Bytes) -> Response {
    let Some(guild) = w.guild_of(channel) else {
        return error(404, 10003, "Unknown Channel");
    };
    let Ok(payload) = serde_json::from_slice::<Value>(body) else {
        return error(400, 50109, "The request body contains invalid JSON.");
    };
    let name = payload.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() || name.chars().count() > 100 {
        return error(400, 50035, "Invalid Form Body: name must be 1 to 100 characters.");
    }
    let kind = payload.get("type").and_then(Value::as_u64).unwrap_or(12) as u8;
    let id = w.snowflake();
    w.add_channel(guild, id, name, kind, Some(channel));
    json_status(
        StatusCode::CREATED,
        json!({"id": id.to_string(), "type": kind, "name": name, "parent_id": channel.to_string(),
               "guild_id": guild.to_string(), "thread_metadata": {"archived": false, "auto_archive_duration": 10080}}),
    )
}

fn create_message(w: &mut World, channel: u64, headers: &HeaderMap, body: &Bytes) -> Response {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (payload, attachments) = if let Some(boundary) = ctype.strip_prefix("multipart/form-data; boundary=") {
        match super::oauth::multipart_parts(body, boundary) {
            Some(parts) => {
                let payload = parts
                    .iter()
                    .find(|p| p.name == "payload_json")
                    .and_then(|p| serde_json::from_slice(&p.data).ok())
                    .unwrap_or_else(|| json!({}));
                let files: Vec<(String, usize)> = parts
                    .iter()
                    .filter(|p| p.name.starts_with("files["))
                    .map(|p| (p.filename.clone().unwrap_or_default(), p.data.len()))
                    .collect();
                (payload, files)
            }
            None => return error(400, 50035, "Invalid Form Body"),
        }
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => (v, Vec::new()),
            Err(_) => return error(400, 50109, "The request body contains invalid JSON."),
        }
    };
    if let Some(e) = check_message(&payload) {
        return e;
    }
    if attachments.len() > 10 || attachments.iter().any(|(_, n)| *n > 10 * 1024 * 1024) {
        return error(413, 40005, "Request entity too large");
    }
    // `enforce_nonce`: the bot's message already made with this nonce is answered again, and
    // nothing new is posted.
    if payload.get("enforce_nonce").and_then(Value::as_bool) == Some(true)
        && let Some(nonce) = payload.get("nonce").filter(|n| !n.is_null())
        && let Some(existing) = w
            .messages
            .get(&channel)
            .and_then(|list| list.iter().find(|m| m.author.bot && m.body.get("nonce") == Some(nonce)))
    {
        return json_status(StatusCode::OK, existing.to_json(w.guild_of(channel)));
    }
    if would_ping(&payload) {
        w.pings += 1;
    }
    let id = w.snowflake();
    let msg = Message {
        id,
        channel_id: channel,
        author: w.bot_user.clone(),
        body: payload,
        attachments,
        edited: None,
    };
    let out = msg.to_json(w.guild_of(channel));
    w.messages.entry(channel).or_default().push(msg);
    json_status(StatusCode::OK, out)
}

/// `GET /channels/{c}/messages` with `after`, `before` and `limit` (1–100, default 50): the
/// `limit` messages nearest to the cursor (the newest with no cursor), newest first.
fn list_messages(w: &World, channel: u64, query: &str) -> Response {
    let (mut after, mut before, mut limit) = (None, None, 50usize);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let parsed = match pair.split_once('=') {
            Some(("after", v)) => v.parse().map(|v| after = Some(v)).is_ok(),
            Some(("before", v)) => v.parse().map(|v| before = Some(v)).is_ok(),
            Some(("limit", v)) => v.parse::<usize>().map(|v| limit = v).is_ok() && (1..=100).contains(&limit),
            _ => true,
        };
        if !parsed {
            return error(400, 50035, "Invalid Form Body");
        }
    }
    let all = w.messages.get(&channel).map(Vec::as_slice).unwrap_or(&[]);
    let guild = w.guild_of(channel);
    let mut found: Vec<&Message> = all
        .iter()
        .filter(|m| after.is_none_or(|a| m.id > a) && before.is_none_or(|b| m.id < b))
        .collect();
    found.sort_by_key(|m| m.id);
    let found: Vec<&Message> = if after.is_some() && before.is_none() {
        found.into_iter().take(limit).collect()
    } else {
        let skip = found.len().saturating_sub(limit);
        found.into_iter().skip(skip).collect()
    };
    // Discord lists newest first.
    json_status(
        StatusCode::OK,
        Value::Array(found.iter().rev().map(|m| m.to_json(guild)).collect()),
    )
}
