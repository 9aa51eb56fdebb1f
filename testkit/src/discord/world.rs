//! The fake's state: guilds with roles and members, users who can authorise, OAuth codes and
//! tokens, channel messages, scripted faults and the call log.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::ratelimit::{Limits, RateLimits};

#[derive(Debug, Clone)]
pub struct Role {
    pub id: u64,
    pub name: String,
    pub position: i64,
    /// An integration's role: nobody can assign it.
    pub managed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Guild {
    pub id: u64,
    pub name: String,
    pub roles: BTreeMap<u64, Role>,
    /// The position of the bot's highest role: it can only assign roles below it.
    pub bot_top: i64,
    pub members: BTreeMap<u64, BTreeSet<u64>>,
    pub channels: BTreeMap<u64, Channel>,
}

/// A guild channel (type 0 text, 4 category, 5 announcement, 11 public thread…).
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: u64,
    pub name: String,
    pub kind: u8,
    pub parent_id: Option<u64>,
    pub position: i64,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub bot: bool,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: u64,
    pub channel_id: u64,
    pub author: User,
    /// What the sender sent: `content`, `embeds`, …
    pub body: Value,
    pub attachments: Vec<(String, usize)>,
    /// When it was last edited (RFC 3339).
    pub edited: Option<String>,
}

/// Discord's epoch (2015-01-01), in Unix milliseconds: snowflakes count from it.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// When a snowflake was made, as Discord writes message timestamps.
pub fn snowflake_time(id: u64) -> String {
    let ms = (id >> 22) + DISCORD_EPOCH_MS;
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

impl Message {
    /// The message object as Discord sends it (REST answers and gateway dispatches alike).
    pub fn to_json(&self, guild_id: Option<u64>) -> Value {
        let mut v = serde_json::json!({
            "type": 0, "content": "", "tts": false, "mention_everyone": false, "mentions": [],
            "mention_roles": [], "embeds": [], "pinned": false, "flags": 0, "components": [],
        });
        let o = v.as_object_mut().expect("an object");
        if let Some(body) = self.body.as_object() {
            for (k, val) in body {
                o.insert(k.clone(), val.clone());
            }
        }
        o.insert("id".into(), self.id.to_string().into());
        o.insert("channel_id".into(), self.channel_id.to_string().into());
        o.insert(
            "author".into(),
            user_json(self.author.id, &self.author.username, self.author.bot),
        );
        o.insert("timestamp".into(), snowflake_time(self.id).into());
        o.insert("edited_timestamp".into(), self.edited.clone().into());
        if let Some(g) = guild_id {
            o.insert("guild_id".into(), g.to_string().into());
        }
        o.insert(
            "attachments".into(),
            Value::Array(
                self.attachments
                    .iter()
                    .enumerate()
                    .map(|(i, (name, size))| serde_json::json!({"id": i.to_string(), "filename": name, "size": size}))
                    .collect(),
            ),
        );
        v
    }
}

/// A user object as Discord sends it.
pub fn user_json(id: u64, username: &str, bot: bool) -> Value {
    serde_json::json!({
        "id": id.to_string(), "username": username, "discriminator": "0", "global_name": username,
        "avatar": null, "bot": bot, "flags": 0, "public_flags": 0
    })
}

/// One call as the fake saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The path without the query string, e.g. `/api/v10/guilds/1/members/2/roles/3`.
    pub path: String,
    pub status: u16,
    pub at: Instant,
    /// The caller's user agent.
    pub agent: String,
    /// `X-Audit-Log-Reason`, as Discord's audit log would show it.
    pub reason: String,
}

/// What a scripted fault does to the next matching call.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answers with Discord's JSON error: `{"message", "code"}`.
    Error { status: u16, code: u32, message: String },
    /// A bare server error (5xx) with no JSON body.
    Status(u16),
    /// Waits this long before answering (a client timeout shorter than it sees a timeout).
    Delay(Duration),
    /// Answers success (204) but does not apply the change.
    Ignore,
    /// Applies the change, then waits this long before answering (a caller that dies or times
    /// out meanwhile never learns it succeeded).
    AnswerLate(Duration),
    /// A 429 as Discord sends it (shared scope: a limit someone else's traffic exhausted).
    RateLimited { retry_after: Duration, global: bool },
}

pub(super) struct ScriptedFault {
    pub method: String,
    pub path_contains: String,
    pub fault: Fault,
    pub times: usize,
}

pub(super) struct CodeGrant {
    pub user_id: u64,
    pub redirect_uri: String,
    pub challenge: Option<String>,
    pub scope: String,
    pub issued: Instant,
}

pub struct World {
    pub bot_token: String,
    pub bot_user: User,
    pub guilds: BTreeMap<u64, Guild>,
    pub users: BTreeMap<u64, User>,
    pub messages: BTreeMap<u64, Vec<Message>>,
    pub calls: Vec<Call>,
    /// 401, 403 and 429 answers (shared-scope 429s excluded), as Discord counts them for its ban.
    pub invalid_requests: u64,
    /// Messages posted or edited by the bot that would have pinged someone (a mention not
    /// disarmed by `allowed_mentions`).
    pub pings: u64,
    /// The redirect URIs registered for the OAuth application (exact match).
    pub redirect_uris: Vec<String>,
    pub(super) faults: VecDeque<ScriptedFault>,
    pub(super) codes: HashMap<String, CodeGrant>,
    pub(super) tokens: HashMap<String, u64>,
    pub(super) limits: RateLimits,
    pub gateway: super::gateway::Gateway,
    /// Direct-message channels the bot opened: user id → channel id.
    pub dm_channels: BTreeMap<u64, u64>,
    /// Users who do not accept direct messages from the bot (Discord answers 50007).
    pub closed_dms: BTreeSet<u64>,
    next_id: u64,
}

impl World {
    pub(super) fn new(limits: Limits) -> Self {
        World {
            bot_token: super::BOT_TOKEN.into(),
            bot_user: User {
                id: super::BOT_USER_ID,
                username: "SignalDesk Bot".into(),
                bot: true,
            },
            guilds: BTreeMap::new(),
            users: BTreeMap::new(),
            messages: BTreeMap::new(),
            calls: Vec::new(),
            invalid_requests: 0,
            pings: 0,
            redirect_uris: Vec::new(),
            faults: VecDeque::new(),
            codes: HashMap::new(),
            tokens: HashMap::new(),
            limits: RateLimits::new(limits),
            gateway: Default::default(),
            dm_channels: BTreeMap::new(),
            closed_dms: BTreeSet::new(),
            next_id: 0,
        }
    }

    /// A new id, made like Discord's: milliseconds since Discord's epoch in the high bits, so ids
    /// sort by time and a message's timestamp can be read off its id.
    pub(super) fn snowflake(&mut self) -> u64 {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        self.next_id = (self.next_id + 1).max(now_ms.saturating_sub(DISCORD_EPOCH_MS) << 22);
        self.next_id
    }

    /// The direct messages the bot sent `user`, oldest first.
    pub fn direct_messages(&self, user: u64) -> Vec<Message> {
        self.dm_channels
            .get(&user)
            .and_then(|c| self.messages.get(c))
            .cloned()
            .unwrap_or_default()
    }

    /// The user a DM channel is with, if `channel` is one.
    pub fn dm_recipient(&self, channel: u64) -> Option<u64> {
        self.dm_channels.iter().find(|(_, c)| **c == channel).map(|(u, _)| *u)
    }

    /// Discord delivers a bot's DM only to a user who shares a server with it and accepts DMs.
    pub fn accepts_dms(&self, user: u64) -> bool {
        !self.closed_dms.contains(&user) && self.guilds.values().any(|g| g.members.contains_key(&user))
    }

    /// Adds a channel to a guild.
    pub fn add_channel(&mut self, guild: u64, id: u64, name: &str, kind: u8, parent_id: Option<u64>) {
        let g = self.guilds.get_mut(&guild).expect("add_guild first");
        let position = g.channels.len() as i64;
        g.channels.insert(
            id,
            Channel {
                id,
                name: name.into(),
                kind,
                parent_id,
                position,
            },
        );
    }

    /// The guild a channel belongs to, if the fake knows the channel.
    /// The threads made under `channel`, oldest first.
    pub fn threads_of(&self, channel: u64) -> Vec<Channel> {
        let mut threads: Vec<Channel> = self
            .guilds
            .values()
            .flat_map(|g| g.channels.values())
            .filter(|c| c.parent_id == Some(channel) && matches!(c.kind, 10..=12))
            .cloned()
            .collect();
        threads.sort_by_key(|c| c.id);
        threads
    }

    pub fn guild_of(&self, channel: u64) -> Option<u64> {
        self.guilds
            .values()
            .find(|g| g.channels.contains_key(&channel))
            .map(|g| g.id)
    }

    /// Adds a guild with the bot in it, its highest role (managed, like every bot's own role)
    /// at `bot_top`.
    pub fn add_guild(&mut self, id: u64, name: &str, bot_top: i64) {
        let bot_role = self.snowflake();
        let mut guild = Guild {
            id,
            name: name.into(),
            bot_top,
            ..Default::default()
        };
        guild.roles.insert(
            bot_role,
            Role {
                id: bot_role,
                name: self.bot_user.username.clone(),
                position: bot_top,
                managed: true,
            },
        );
        guild.members.insert(self.bot_user.id, [bot_role].into());
        self.guilds.insert(id, guild);
    }

    pub fn add_role(&mut self, guild: u64, id: u64, name: &str, position: i64) {
        self.add_role_managed(guild, id, name, position, false);
    }

    pub fn add_role_managed(&mut self, guild: u64, id: u64, name: &str, position: i64, managed: bool) {
        let g = self.guilds.get_mut(&guild).expect("add_guild first");
        g.roles.insert(
            id,
            Role {
                id,
                name: name.into(),
                position,
                managed,
            },
        );
    }

    pub fn remove_role(&mut self, guild: u64, id: u64) {
        if let Some(g) = self.guilds.get_mut(&guild) {
            g.roles.remove(&id);
            for roles in g.members.values_mut() {
                roles.remove(&id);
            }
        }
    }

    /// A Discord user who can authorise our application (and log in on the authorize page).
    pub fn add_user(&mut self, id: u64, username: &str) {
        self.users.insert(
            id,
            User {
                id,
                username: username.into(),
                bot: false,
            },
        );
    }

    pub fn user_by_name(&mut self, username: &str) -> u64 {
        if let Some(u) = self.users.values().find(|u| u.username == username) {
            return u.id;
        }
        let id = self.snowflake();
        self.add_user(id, username);
        id
    }

    pub fn add_member(&mut self, guild: u64, user: u64, roles: &[u64]) {
        let g = self.guilds.get_mut(&guild).expect("add_guild first");
        g.members.insert(user, roles.iter().copied().collect());
    }

    /// The member leaves (or is kicked from) the guild.
    pub fn remove_member(&mut self, guild: u64, user: u64) {
        if let Some(g) = self.guilds.get_mut(&guild) {
            g.members.remove(&user);
        }
    }

    pub fn member_roles(&self, guild: u64, user: u64) -> Option<Vec<u64>> {
        self.guilds
            .get(&guild)?
            .members
            .get(&user)
            .map(|r| r.iter().copied().collect())
    }

    /// The next `times` calls with this method whose path contains `path_contains` meet `fault`.
    pub fn fault(&mut self, method: &str, path_contains: &str, fault: Fault, times: usize) {
        self.faults.push_back(ScriptedFault {
            method: method.to_uppercase(),
            path_contains: path_contains.into(),
            fault,
            times,
        });
    }

    pub(super) fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let i = self
            .faults
            .iter()
            .position(|f| f.method == method && path.contains(&f.path_contains))?;
        let f = &mut self.faults[i];
        let fault = f.fault.clone();
        f.times -= 1;
        if f.times == 0 {
            self.faults.remove(i);
        }
        Some(fault)
    }

    /// Calls whose method is `method` and whose path contains `part`.
    pub fn calls_to(&self, method: &str, part: &str) -> usize {
        self.calls
            .iter()
            .filter(|c| c.method == method && c.path.contains(part))
            .count()
    }

    /// How many answers were 429.
    pub fn rate_limited(&self) -> usize {
        self.calls.iter().filter(|c| c.status == 429).count()
    }

    /// The messages in a channel, oldest first.
    pub fn channel_messages(&self, channel: u64) -> Vec<Message> {
        self.messages.get(&channel).cloned().unwrap_or_default()
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = RateLimits::new(limits);
    }
}
