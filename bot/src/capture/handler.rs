//! Turns gateway dispatches into ingest: messages and threads in Source channels become the
//! same events a collector posts (see `domain::capture::discord`), guilds and channels are
//! recorded for /admin/channels, and every new session (READY, then each GUILD_CREATE) starts
//! a backfill of the guild's Source channels. A RESUME needs none: Discord replays what the
//! session missed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use domain::capture::discord::{self, Converted, Place};
use domain::capture::{self};
use domain::connectors::Connector;
use domain::discovery::{self, ChannelInfo, DiscoveryError, GuildInfo};
use domain::feed::Feed;
use domain::ingest::{self, ItemResult, Status};
use domain::snowflake::Snowflake;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;
use serenity::all::{Context, Event, RawEventHandler};

use super::Settings;
use super::source::{self, Sources};
use crate::discord_api::DiscordApi;

/// After this many messages in a row arrive without any content, embed or attachment, the
/// connector's alert says the Message Content intent is missing.
const EMPTY_IN_A_ROW: usize = 5;

#[derive(Default)]
struct Guilds {
    /// The guilds this session recorded (a snapshot replaces the connector's whole list).
    ours: BTreeMap<u64, GuildInfo>,
    /// Their channels, as last seen.
    channels: BTreeMap<u64, BTreeMap<u64, ChannelInfo>>,
}

pub struct Shared {
    pub db: DatabaseConnection,
    pub api: Arc<DiscordApi>,
    pub connector_id: i64,
    pub settings: Settings,
    pub sources: Sources,
    /// Orders this process's feed appends (ingest needs one).
    pub feed: Feed,
    /// Who is reading which channel's history right now.
    pub readers: super::backfill::Readers,
    guilds: Mutex<Guilds>,
    /// Role names by id, from GUILD_CREATE: messages carry only the ids of roles they mention.
    roles: Mutex<std::collections::HashMap<u64, String>>,
    empty_in_a_row: Mutex<usize>,
}

#[derive(Clone)]
pub struct Handler(pub Arc<Shared>);

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl Handler {
    pub fn new(db: DatabaseConnection, api: Arc<DiscordApi>, connector: Connector, settings: Settings) -> Self {
        Handler(Arc::new(Shared {
            db,
            api,
            connector_id: connector.id,
            settings,
            sources: Sources::default(),
            feed: Feed::new(),
            readers: Default::default(),
            guilds: Mutex::new(Guilds::default()),
            roles: Mutex::default(),
            empty_in_a_row: Mutex::new(0),
        }))
    }
}

impl Shared {
    /// The connector as it is now (its switches may have changed).
    pub async fn connector(&self) -> Option<Connector> {
        match entity::connector::Entity::find_by_id(self.connector_id)
            .one(&self.db)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the bot's connector");
                None
            }
        }
    }

    /// Ingests wire-format events as the bot's connector; `reason` marks re-check deletes.
    /// Returns the per-item results (empty when the connector is switched off).
    pub async fn ingest(&self, events: Vec<Value>, reason: Option<&str>) -> Result<Vec<ItemResult>, String> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let Some(connector) = self.connector().await else {
            return Err("the bot's connector is gone".into());
        };
        if !connector.enabled {
            // Switched off on /admin/connectors: like a collector's token, it is refused.
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let items = events
            .into_iter()
            .map(|v| {
                let mut parsed = ingest::parse_with(v, now, &self.settings.attachment_sources);
                if let (Ok(ingest::Event::MessageDeleted { reason: r, .. }), Some(why)) = (&mut parsed, reason) {
                    *r = Some(why.to_owned());
                }
                parsed
            })
            .collect();
        let done = ingest::ingest(&self.db, &self.feed, &connector, items)
            .await
            .map_err(|e| format!("database: {e}"))?;
        for r in &done.results {
            if r.status == Status::Rejected {
                tracing::warn!(
                    reason = r.reason.as_deref().unwrap_or(""),
                    field = r.field.as_deref().unwrap_or(""),
                    "captured event rejected by ingest"
                );
            }
        }
        Ok(done.results)
    }

    async fn ingest_logged(&self, events: Vec<Value>) {
        if let Err(e) = self.ingest(events, None).await {
            // The periodic backfill sweep reads what this failed to store.
            tracing::warn!(error = %e, "cannot ingest a captured event; the next backfill sweep brings it in");
        }
    }

    async fn place_of(&self, channel_id: u64) -> Option<Place> {
        if let Some(place) = self.sources.place(channel_id) {
            return Some(place);
        }
        if let Some(connector) = self.connector().await {
            self.sources.refresh(&self.db, &connector, source::ON_MISS).await;
        }
        self.sources.place(channel_id)
    }

    /// A full message object (gateway or REST) as an ingest event, its role mentions named.
    pub fn created(&self, m: &Value, place: Place) -> Converted {
        let mut converted = discord::created(m, place);
        if let Converted::Event(e) = &mut converted {
            discord::name_roles(e, m, &self.roles.lock().unwrap());
        }
        converted
    }

    /// Watches for messages arriving empty: the Message Content intent withheld.
    async fn check_content(&self, m: &Value) {
        let empty = m["content"].as_str().unwrap_or("").is_empty()
            && m["embeds"].as_array().is_none_or(Vec::is_empty)
            && m["attachments"].as_array().is_none_or(Vec::is_empty)
            && m["sticker_items"].as_array().is_none_or(Vec::is_empty)
            && !m["author"]["bot"].as_bool().unwrap_or(false);
        let count = {
            let mut n = self.empty_in_a_row.lock().unwrap();
            *n = if empty { *n + 1 } else { 0 };
            *n
        };
        if count == EMPTY_IN_A_ROW
            && let Some(c) = self.connector().await
        {
            let _ = capture::set_alert(&self.db, &c, Some(capture::NO_MESSAGE_CONTENT)).await;
        }
    }

    async fn message_created(&self, m: Value) {
        let Some(channel) = m["channel_id"].as_str().and_then(|c| c.parse().ok()) else {
            return;
        };
        let Some(place) = self.place_of(channel).await else {
            return;
        };
        self.check_content(&m).await;
        if let Converted::Event(e) = self.created(&m, place) {
            self.ingest_logged(vec![e]).await;
        }
    }

    async fn message_updated(&self, m: Value) {
        let Some(channel) = m["channel_id"].as_str().and_then(|c| c.parse::<u64>().ok()) else {
            return;
        };
        let Some(place) = self.place_of(channel).await else {
            return;
        };
        let Some(id) = m["id"].as_str().and_then(|c| c.parse::<i64>().ok()) else {
            return;
        };
        let message = Snowflake::from_db(id);
        let stored = match domain::ingest::store::find_signal(&self.db, place.channel_id as i64, message).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a stored signal");
                return;
            }
        };
        let event = match discord::updated(&m, place, stored.as_ref()) {
            Converted::Event(mut e) => {
                discord::name_roles(&mut e, &m, &self.roles.lock().unwrap());
                e
            }
            Converted::NeedsFetch => match self.api.message(channel, id as u64).await {
                Ok(full) => match self.created(&full, place) {
                    Converted::Event(mut e) => {
                        e["type"] = "message_update".into();
                        e
                    }
                    _ => return,
                },
                Err(e) => {
                    tracing::warn!(error = %e, message = id, "cannot read an updated message");
                    return;
                }
            },
            Converted::Skip(_) => return,
        };
        self.ingest_logged(vec![event]).await;
    }

    async fn deleted(&self, channel: u64, ids: Vec<u64>) {
        let Some(place) = self.place_of(channel).await else {
            return;
        };
        for chunk in ids.chunks(domain::ingest::event::BULK_DELETE_MAX) {
            self.ingest_logged(vec![discord::deleted(place, chunk, Utc::now())])
                .await;
        }
    }

    async fn thread(&self, t: Value, created: bool) {
        let (Some(id), Some(parent), Some(guild)) = (
            t["id"].as_str().and_then(|v| v.parse::<u64>().ok()),
            t["parent_id"].as_str().and_then(|v| v.parse::<u64>().ok()),
            t["guild_id"].as_str().and_then(|v| v.parse::<u64>().ok()),
        ) else {
            return;
        };
        self.sources.remember_thread(id, parent, guild);
        if self.place_of(parent).await.is_none() {
            return;
        }
        if let Some(e) = discord::thread(&t, guild, created) {
            self.ingest_logged(vec![e]).await;
        }
    }

    async fn thread_deleted(&self, t: Value) {
        let Some(guild) = t["guild_id"].as_str().and_then(|v| v.parse::<u64>().ok()) else {
            return;
        };
        let parent = t["parent_id"].as_str().and_then(|v| v.parse::<u64>().ok());
        if let Some(id) = t["id"].as_str().and_then(|v| v.parse::<u64>().ok()) {
            self.sources.forget_thread(id);
        }
        if parent.is_some_and(|p| self.sources.is_source(p))
            && let Some(e) = discord::thread_deleted(&t, guild, Utc::now())
        {
            self.ingest_logged(vec![e]).await;
        }
    }

    /// The guilds this session recorded as its own.
    pub fn guild_ids(&self) -> Vec<u64> {
        self.guilds.lock().unwrap().ours.keys().copied().collect()
    }

    /// Records the guilds this session sees and one guild's channels. A guild another connector
    /// owns is left to it (an admin can reassign it) and not captured here.
    pub async fn record_guild(&self, mut guild: GuildInfo, channels: Vec<ChannelInfo>) -> bool {
        let Some(connector) = self.connector().await else {
            return false;
        };
        let id = guild.id.get() as u64;
        let snapshot: Vec<GuildInfo> = {
            let mut g = self.guilds.lock().unwrap();
            if guild.icon.is_none() {
                guild.icon = g.ours.get(&id).and_then(|known| known.icon.clone());
            }
            g.ours.insert(id, guild);
            g.channels
                .insert(id, channels.iter().map(|c| (c.id.get() as u64, c.clone())).collect());
            g.ours.values().cloned().collect()
        };
        match discovery::record_guilds(&self.db, &connector, &snapshot).await {
            Ok(_) => {}
            Err(DiscoveryError::NotOwner(what)) => {
                tracing::warn!(
                    guild = id,
                    "{what} belongs to another connector: the bot does not capture it (reassign it on /admin/channels)"
                );
                let mut g = self.guilds.lock().unwrap();
                g.ours.remove(&id);
                g.channels.remove(&id);
                return false;
            }
            Err(e) => {
                tracing::warn!(guild = id, error = %e, "cannot record the bot's guilds");
                return false;
            }
        }
        self.record_channels(&connector, id).await
    }

    async fn record_channels(&self, connector: &Connector, guild: u64) -> bool {
        let channels: Vec<ChannelInfo> = {
            let g = self.guilds.lock().unwrap();
            match g.channels.get(&guild) {
                Some(c) => c.values().take(discovery::CHANNELS_MAX).cloned().collect(),
                None => return false,
            }
        };
        match discovery::record_channels(&self.db, connector, Snowflake::from_db(guild as i64), &channels).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(guild, error = %e, "cannot record the guild's channels");
                false
            }
        }
    }

    async fn channel_changed(&self, c: Value, gone: bool) {
        let (Some(guild), Some(info)) = (
            c["guild_id"].as_str().and_then(|v| v.parse::<u64>().ok()),
            discord::channel_info(&c),
        ) else {
            return;
        };
        {
            let mut g = self.guilds.lock().unwrap();
            let Some(list) = g.channels.get_mut(&guild) else {
                return;
            };
            if gone {
                list.remove(&(info.id.get() as u64));
            } else {
                list.insert(info.id.get() as u64, info);
            }
        }
        if let Some(connector) = self.connector().await {
            self.record_channels(&connector, guild).await;
        }
    }

    async fn guild_created(self: &Arc<Self>, g: Value) {
        let Some(id) = g["id"].as_str().and_then(|v| v.parse::<u64>().ok()) else {
            return;
        };
        if let Some(roles) = g["roles"].as_array() {
            let mut known = self.roles.lock().unwrap();
            for r in roles {
                if let (Some(id), Some(name)) = (r["id"].as_str().and_then(|i| i.parse().ok()), r["name"].as_str()) {
                    known.insert(id, name.to_owned());
                }
            }
        }
        let info = GuildInfo {
            id: Snowflake::from_db(id as i64),
            name: g["name"].as_str().unwrap_or("").to_owned(),
            icon: g["icon"].as_str().map(str::to_owned),
        };
        let channels: Vec<ChannelInfo> = g["channels"]
            .as_array()
            .map(|l| l.iter().filter_map(discord::channel_info).collect())
            .unwrap_or_default();
        if !self.record_guild(info, channels).await {
            return;
        }
        if let Some(connector) = self.connector().await {
            self.sources
                .refresh(&self.db, &connector, std::time::Duration::ZERO)
                .await;
        }
        // Threads active in the guild: known under their channels, and captured if Source.
        for t in g["threads"].as_array().cloned().unwrap_or_default() {
            let mut t = t;
            t["guild_id"] = id.to_string().into();
            self.thread(t, true).await;
        }
        let me = self.clone();
        tokio::spawn(async move { super::backfill::guild(&me, id, true).await });
    }
}

#[serenity::async_trait]
impl RawEventHandler for Handler {
    async fn raw_event(&self, _: Context, event: Event) {
        let s = &self.0;
        match event {
            Event::Ready(r) => {
                tracing::info!(user = %r.ready.user.name, guilds = r.ready.guilds.len(), "gateway capture: new session");
                // The intent was accepted (Discord closes with 4014 otherwise).
                if let Some(c) = s.connector().await {
                    let _ = capture::set_alert(&s.db, &c, None).await;
                    let _ =
                        domain::connectors::hello(&s.db, &c, Some(concat!("bot ", env!("CARGO_PKG_VERSION")))).await;
                }
            }
            Event::GuildCreate(g) => s.guild_created(to_value(&g.guild)).await,
            Event::ChannelCreate(c) => s.channel_changed(to_value(&c.channel), false).await,
            Event::ChannelUpdate(c) => s.channel_changed(to_value(&c.channel), false).await,
            Event::ChannelDelete(c) => s.channel_changed(to_value(&c.channel), true).await,
            Event::MessageCreate(m) => s.message_created(to_value(&m.message)).await,
            Event::MessageUpdate(m) => s.message_updated(to_value(&m)).await,
            Event::MessageDelete(d) => s.deleted(d.channel_id.get(), vec![d.message_id.get()]).await,
            Event::MessageDeleteBulk(d) => {
                s.deleted(d.channel_id.get(), d.ids.iter().map(|i| i.get()).collect())
                    .await
            }
            Event::ThreadCreate(t) => s.thread(to_value(&t.thread), true).await,
            Event::ThreadUpdate(t) => s.thread(to_value(&t.thread), false).await,
            Event::ThreadDelete(t) => s.thread_deleted(to_value(&t.thread)).await,
            Event::ThreadListSync(sync) => {
                for t in &sync.threads {
                    s.thread(to_value(t), true).await;
                }
            }
            _ => {}
        }
    }
}
