//! The fake's gateway websocket (`GET /gateway?v=10`, the URL `/api/v10/gateway` and
//! `/gateway/bot` hand out), speaking Discord's JSON protocol: HELLO (op 10) on connect, IDENTIFY
//! (op 2) answered by READY and one GUILD_CREATE per guild, heartbeats (op 1) answered by ACKs
//! (op 11), dispatches (op 0) with a per-session sequence that tests push, RESUME (op 6) replaying
//! what the session missed and ending with RESUMED, INVALID_SESSION (op 9) for a session it no
//! longer knows, RECONNECT (op 7) and close codes on demand.
//!
//! Intents are honoured like Discord does: an event is only sent to sessions that asked for its
//! intent, privileged intents the application was not granted close the socket with 4014, and a
//! session without MESSAGE_CONTENT gets messages with empty content, embeds and attachments.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::world::{Message, User, World, user_json};

pub const GUILDS: u64 = 1 << 0;
pub const GUILD_MEMBERS: u64 = 1 << 1;
pub const GUILD_PRESENCES: u64 = 1 << 8;
pub const GUILD_MESSAGES: u64 = 1 << 9;
pub const MESSAGE_CONTENT: u64 = 1 << 15;
const PRIVILEGED: u64 = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT;

/// How many dispatches a session keeps for a RESUME (Discord keeps a bounded backlog too).
const BACKLOG: usize = 1000;

/// The gateway's state inside [`World`]; tests read the counters and change the settings.
pub struct Gateway {
    /// Sent in HELLO (Discord's is about 41 s; tests shorten it to exercise heartbeats).
    pub heartbeat_interval: Duration,
    /// When false, heartbeats go unanswered: a "zombie" connection the client must notice.
    pub ack_heartbeats: bool,
    /// The privileged intents the application was granted in the developer portal.
    pub privileged_granted: u64,
    pub identifies: usize,
    pub resumes: usize,
    pub heartbeats: usize,
    /// RESUMEs answered with INVALID_SESSION.
    pub invalid_sessions: usize,
    /// While true the gateway refuses connections (503): an outage a client sits out.
    pub down: bool,
    sessions: BTreeMap<String, Session>,
    next_conn: u64,
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway {
            heartbeat_interval: Duration::from_millis(41_250),
            ack_heartbeats: true,
            privileged_granted: PRIVILEGED,
            identifies: 0,
            resumes: 0,
            heartbeats: 0,
            invalid_sessions: 0,
            down: false,
            sessions: BTreeMap::new(),
            next_conn: 0,
        }
    }
}

struct Session {
    intents: u64,
    seq: u64,
    /// Dispatches sent (or due while disconnected), for RESUME.
    backlog: VecDeque<Value>,
    conn: Option<Conn>,
}

struct Conn {
    id: u64,
    tx: UnboundedSender<Out>,
}

enum Out {
    Frame(Value),
    Close(u16, &'static str),
}

fn required_intent(event: &str) -> Option<u64> {
    match event {
        "READY" | "RESUMED" => None,
        e if e.starts_with("MESSAGE_") => Some(GUILD_MESSAGES),
        e if e.starts_with("GUILD_MEMBER") => Some(GUILD_MEMBERS),
        e if e.starts_with("GUILD_") || e.starts_with("CHANNEL_") || e.starts_with("THREAD_") => Some(GUILDS),
        _ => None,
    }
}

impl Session {
    /// Sends (or keeps for a RESUME) one dispatch.
    fn dispatch(&mut self, event: &str, data: &Value) {
        let mut data = data.clone();
        if matches!(event, "MESSAGE_CREATE" | "MESSAGE_UPDATE")
            && self.intents & MESSAGE_CONTENT == 0
            && let Some(o) = data.as_object_mut()
        {
            for (k, empty) in [
                ("content", json!("")),
                ("embeds", json!([])),
                ("attachments", json!([])),
            ] {
                if o.contains_key(k) {
                    o.insert(k.into(), empty);
                }
            }
        }
        self.seq += 1;
        let frame = json!({"op": 0, "t": event, "s": self.seq, "d": data});
        if self.backlog.len() == BACKLOG {
            self.backlog.pop_front();
        }
        self.backlog.push_back(frame.clone());
        if let Some(c) = &self.conn {
            let _ = c.tx.send(Out::Frame(frame));
        }
    }

    fn send(&self, out: Out) {
        if let Some(c) = &self.conn {
            let _ = c.tx.send(out);
        }
    }
}

impl World {
    /// Pushes a dispatch to every session whose intents cover it (kept for a RESUME when the
    /// session is disconnected); returns how many sessions it went to.
    pub fn dispatch(&mut self, event: &str, data: Value) -> usize {
        let need = required_intent(event);
        let mut sent = 0;
        for s in self.gateway.sessions.values_mut() {
            if need.is_none_or(|n| s.intents & n != 0) {
                s.dispatch(event, &data);
                sent += 1;
            }
        }
        sent
    }

    /// Closes every open gateway connection with `code` (4000 unknown error: resumable; 4009
    /// session timed out: the session is gone too, as with 4007 and 4004). Returns how many.
    pub fn close_gateway(&mut self, code: u16) -> usize {
        let forget = matches!(code, 4004 | 4007 | 4009);
        let mut closed = 0;
        for s in self.gateway.sessions.values_mut() {
            if let Some(c) = s.conn.take() {
                let _ = c.tx.send(Out::Close(code, "closed by the fake"));
                closed += 1;
            }
        }
        if forget {
            self.gateway.sessions.clear();
        }
        closed
    }

    /// A gateway outage: every connection is closed (resumable, 4000), every session forgotten
    /// (a RESUME afterwards is refused), and new connections are refused until `up`.
    pub fn gateway_outage(&mut self) {
        self.gateway.down = true;
        self.close_gateway(4000);
        self.forget_gateway_sessions();
    }

    /// Ends an outage: connections are accepted again.
    pub fn gateway_up(&mut self) {
        self.gateway.down = false;
    }

    /// Forgets every session: the next RESUME gets INVALID_SESSION (as after a long outage).
    pub fn forget_gateway_sessions(&mut self) {
        self.gateway.sessions.clear();
    }

    /// The bot joined `guild` (or it became available): GUILD_CREATE to every session.
    pub fn announce_guild(&mut self, guild: u64) -> usize {
        match self.guild_json(guild) {
            Some(g) => self.dispatch("GUILD_CREATE", g),
            None => 0,
        }
    }

    /// Sends RECONNECT (op 7) on every open connection.
    pub fn request_reconnect(&mut self) {
        for s in self.gateway.sessions.values() {
            s.send(Out::Frame(json!({"op": 7, "d": null, "s": null, "t": null})));
        }
    }

    /// Sessions with an open connection.
    pub fn live_gateway_sessions(&self) -> usize {
        self.gateway.sessions.values().filter(|s| s.conn.is_some()).count()
    }

    /// A user posts in a channel: stored (so a REST read sees it) and dispatched as MESSAGE_CREATE.
    /// What Discord adds to a message about its mentions: `mentions` (the user objects of
    /// `<@id>` / `<@!id>` for users it knows) and `mention_roles` (the ids of `<@&id>`).
    fn mention_fields(&self, content: &str) -> (Value, Value) {
        let mut users = Vec::new();
        let mut roles = Vec::new();
        for piece in content.split("<@").skip(1) {
            let (role, rest) = match piece.strip_prefix('&') {
                Some(r) => (true, r),
                None => (false, piece.strip_prefix('!').unwrap_or(piece)),
            };
            let Some(id) = rest.split('>').next().and_then(|d| d.parse::<u64>().ok()) else {
                continue;
            };
            if role {
                roles.push(json!(id.to_string()));
            } else if let Some(u) = self.users.get(&id) {
                users.push(user_json(u.id, &u.username, u.bot));
            }
        }
        (Value::Array(users), Value::Array(roles))
    }

    pub fn post_message(&mut self, channel: u64, author: u64, content: &str) -> u64 {
        let id = self.snowflake();
        let name = self.users.get(&author).map(|u| u.username.clone()).unwrap_or_default();
        let message = Message {
            id,
            channel_id: channel,
            author: User {
                id: author,
                username: name,
                bot: false,
            },
            body: {
                let (mentions, mention_roles) = self.mention_fields(content);
                json!({ "content": content, "mentions": mentions, "mention_roles": mention_roles })
            },
            attachments: Vec::new(),
            edited: None,
        };
        let guild = self.guild_of(channel);
        let data = message.to_json(guild);
        self.messages.entry(channel).or_default().push(message);
        self.dispatch("MESSAGE_CREATE", data);
        id
    }

    /// The author edits a message: stored, and dispatched as MESSAGE_UPDATE (the full message).
    pub fn edit_message(&mut self, channel: u64, id: u64, content: &str) -> bool {
        let guild = self.guild_of(channel);
        let now = super::world::snowflake_time(self.snowflake());
        let (mentions, mention_roles) = self.mention_fields(content);
        let Some(m) = self
            .messages
            .get_mut(&channel)
            .and_then(|v| v.iter_mut().find(|m| m.id == id))
        else {
            return false;
        };
        m.body["content"] = json!(content);
        m.body["mentions"] = mentions;
        m.body["mention_roles"] = mention_roles;
        m.edited = Some(now);
        let data = m.to_json(guild);
        self.dispatch("MESSAGE_UPDATE", data);
        true
    }

    /// A message is deleted: removed, and dispatched as MESSAGE_DELETE (ids only, like Discord).
    pub fn delete_message(&mut self, channel: u64, id: u64) -> bool {
        let Some(list) = self.messages.get_mut(&channel) else {
            return false;
        };
        let before = list.len();
        list.retain(|m| m.id != id);
        if list.len() == before {
            return false;
        }
        let mut data = json!({"id": id.to_string(), "channel_id": channel.to_string()});
        if let Some(g) = self.guild_of(channel) {
            data["guild_id"] = json!(g.to_string());
        }
        self.dispatch("MESSAGE_DELETE", data);
        true
    }

    /// A guild's channels (threads excluded), as GUILD_CREATE and `GET /guilds/{id}/channels` list them.
    pub(super) fn guild_channels_json(&self, id: u64) -> Option<Value> {
        let g = self.guilds.get(&id)?;
        Some(Value::Array(
            g.channels
                .values()
                .filter(|c| !matches!(c.kind, 10..=12))
                .map(|c| {
                    json!({"id": c.id.to_string(), "type": c.kind, "name": c.name, "position": c.position,
                           "parent_id": c.parent_id.map(|p| p.to_string()), "permission_overwrites": [],
                           "guild_id": id.to_string(), "nsfw": false})
                })
                .collect(),
        ))
    }

    /// A thread channel object, as GUILD_CREATE, THREAD_CREATE and THREAD_UPDATE carry it.
    pub fn thread_json(&self, guild: u64, id: u64, parent: u64, name: &str, archived: bool) -> Value {
        json!({"id": id.to_string(), "type": 11, "name": name, "guild_id": guild.to_string(),
               "parent_id": parent.to_string(), "owner_id": self.bot_user.id.to_string(),
               "thread_metadata": {"archived": archived, "auto_archive_duration": 1440,
                                   "archive_timestamp": "2026-01-01T00:00:00+00:00", "locked": false}})
    }

    fn guild_json(&self, id: u64) -> Option<Value> {
        let g = self.guilds.get(&id)?;
        let channels = self.guild_channels_json(id)?;
        let threads: Vec<Value> = g
            .channels
            .values()
            .filter(|c| matches!(c.kind, 10..=12))
            .map(|c| self.thread_json(id, c.id, c.parent_id.unwrap_or(0), &c.name, false))
            .collect();
        Some(json!({
            "id": id.to_string(), "name": g.name, "icon": null, "splash": null, "discovery_splash": null,
            "owner_id": "1", "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "roles": super::rest::roles_json(g), "emojis": [], "features": [],
            "mfa_level": 0, "application_id": null, "system_channel_id": null, "system_channel_flags": 0,
            "rules_channel_id": null, "preferred_locale": "en-US", "premium_tier": 0, "nsfw_level": 0,
            "stickers": [], "premium_progress_bar_enabled": false,
            "joined_at": "2026-01-01T00:00:00.000000+00:00", "large": false, "unavailable": false,
            "member_count": g.members.len(), "voice_states": [], "members": [], "channels": channels,
            "threads": threads, "presences": [], "stage_instances": [], "guild_scheduled_events": [],
        }))
    }
}

type Shared = Arc<Mutex<World>>;

pub(super) async fn upgrade(State(world): State<Shared>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if world.lock().unwrap().gateway.down {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    ws.on_upgrade(move |socket| connection(socket, world, host))
}

async fn connection(mut socket: WebSocket, world: Shared, host: String) {
    let (tx, mut rx) = unbounded_channel();
    let (conn, interval) = {
        let mut w = world.lock().unwrap();
        w.gateway.next_conn += 1;
        (w.gateway.next_conn, w.gateway.heartbeat_interval)
    };
    let hello = json!({"op": 10, "d": {"heartbeat_interval": interval.as_millis() as u64}, "s": null, "t": null});
    if send(&mut socket, &hello).await.is_err() {
        return;
    }
    let mut session: Option<String> = None;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Frame(v)) => {
                    if send(&mut socket, &v).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close(code, reason)) => {
                    let _ = socket.send(WsMessage::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
                None => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(WsMessage::Text(text))) => {
                    let mut w = world.lock().unwrap();
                    if let Err((code, reason)) = w.receive(&text, &mut session, conn, &tx, &host) {
                        let _ = tx.send(Out::Close(code, reason));
                    }
                }
                Some(Ok(WsMessage::Binary(_))) => {
                    let _ = tx.send(Out::Close(4002, "Decode error"));
                }
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    // The session stays resumable after its connection ends.
    let mut w = world.lock().unwrap();
    if let Some(s) = session.and_then(|id| w.gateway.sessions.get_mut(&id))
        && s.conn.as_ref().is_some_and(|c| c.id == conn)
    {
        s.conn = None;
    }
}

async fn send(socket: &mut WebSocket, frame: &Value) -> Result<(), axum::Error> {
    socket.send(WsMessage::Text(frame.to_string().into())).await
}

type Close = (u16, &'static str);

impl World {
    /// One frame from the client; an `Err` closes the connection with that code.
    fn receive(
        &mut self,
        text: &str,
        session: &mut Option<String>,
        conn: u64,
        tx: &UnboundedSender<Out>,
        host: &str,
    ) -> Result<(), Close> {
        let frame: Value = serde_json::from_str(text).map_err(|_| (4002, "Decode error"))?;
        let d = &frame["d"];
        match frame["op"].as_u64() {
            Some(1) => {
                self.gateway.heartbeats += 1;
                if self.gateway.ack_heartbeats {
                    let _ = tx.send(Out::Frame(json!({"op": 11, "d": null, "s": null, "t": null})));
                }
                Ok(())
            }
            Some(2) => {
                if session.is_some() {
                    return Err((4005, "Already authenticated"));
                }
                self.check_token(d)?;
                let intents = d["intents"].as_u64().ok_or((4002, "Decode error"))?;
                if intents & PRIVILEGED & !self.gateway.privileged_granted != 0 {
                    return Err((4014, "Disallowed intent(s)"));
                }
                let id = format!("{:032x}", rand::random::<u128>());
                self.gateway.identifies += 1;
                self.gateway.sessions.insert(
                    id.clone(),
                    Session {
                        intents,
                        seq: 0,
                        backlog: VecDeque::new(),
                        conn: Some(Conn {
                            id: conn,
                            tx: tx.clone(),
                        }),
                    },
                );
                *session = Some(id.clone());
                let ready = json!({
                    "v": 10, "user": user_json(self.bot_user.id, &self.bot_user.username, true),
                    "guilds": self.guilds.keys().map(|g| json!({"id": g.to_string(), "unavailable": true})).collect::<Vec<_>>(),
                    "session_id": id, "resume_gateway_url": format!("ws://{host}/gateway"),
                    "shard": [0, 1], "application": {"id": super::CLIENT_ID, "flags": 0},
                });
                let guilds: Vec<Value> = self.guilds.keys().filter_map(|g| self.guild_json(*g)).collect();
                let s = self.gateway.sessions.get_mut(&id).expect("just inserted");
                s.dispatch("READY", &ready);
                if intents & GUILDS != 0 {
                    for g in &guilds {
                        s.dispatch("GUILD_CREATE", g);
                    }
                }
                Ok(())
            }
            Some(6) => {
                self.check_token(d)?;
                let id = d["session_id"].as_str().unwrap_or_default().to_owned();
                let seq = d["seq"].as_u64().unwrap_or(0);
                let Some(s) = self.gateway.sessions.get_mut(&id) else {
                    self.gateway.invalid_sessions += 1;
                    let _ = tx.send(Out::Frame(json!({"op": 9, "d": false, "s": null, "t": null})));
                    return Ok(());
                };
                if seq > s.seq {
                    return Err((4007, "Invalid seq"));
                }
                if let Some(old) = s.conn.replace(Conn {
                    id: conn,
                    tx: tx.clone(),
                }) {
                    let _ = old.tx.send(Out::Close(4000, "Resumed elsewhere"));
                }
                for frame in s.backlog.iter().filter(|f| f["s"].as_u64().unwrap_or(0) > seq) {
                    let _ = tx.send(Out::Frame(frame.clone()));
                }
                s.dispatch("RESUMED", &json!({}));
                self.gateway.resumes += 1;
                *session = Some(id);
                Ok(())
            }
            Some(3 | 4 | 8) if session.is_some() => Ok(()),
            Some(3 | 4 | 8) => Err((4003, "Not authenticated")),
            _ => Err((4001, "Unknown opcode")),
        }
    }

    fn check_token(&self, d: &Value) -> Result<(), Close> {
        let token = d["token"].as_str().unwrap_or_default();
        let token = token.strip_prefix("Bot ").unwrap_or(token);
        if token == self.bot_token {
            Ok(())
        } else {
            Err((4004, "Authentication failed"))
        }
    }
}
