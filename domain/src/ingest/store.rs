//! Applying validated events to the database: one transaction per request, the merge rules of
//! [`super::merge`] per message, one feed-log row per accepted change, and a wake-up after commit.
//! Only events in source channels (or threads under them) are stored; everything else is
//! ignored with a reason.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{channel, connector, guild, signal, signal_thread};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};
use serde::Serialize;

use super::event::{Event, Message, Place, Rejection, Thread};
use super::merge::{self, Ignored, Outcome, Report, Snapshot, Stored};
use crate::connectors::Connector;
use crate::feed::Feed;
use crate::mirror::{self, MirrorOp, Targets};
use crate::snowflake::Snowflake;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Accepted,
    Duplicate,
    Ignored,
    Rejected,
    /// The guild belongs to another connector: nothing was stored (an admin can reassign it).
    Forbidden,
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ItemResult {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For rejected items: the field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ItemResult {
    fn accepted() -> Self {
        Self {
            status: Status::Accepted,
            reason: None,
            field: None,
        }
    }
    fn duplicate() -> Self {
        Self {
            status: Status::Duplicate,
            reason: None,
            field: None,
        }
    }
    fn ignored(reason: impl Into<String>) -> Self {
        Self {
            status: Status::Ignored,
            reason: Some(reason.into()),
            field: None,
        }
    }
    fn forbidden(reason: impl Into<String>) -> Self {
        Self {
            status: Status::Forbidden,
            reason: Some(reason.into()),
            field: Some("guild_id".into()),
        }
    }
    pub fn rejected(r: &Rejection) -> Self {
        Self {
            status: Status::Rejected,
            reason: Some(r.to_string()),
            field: Some(r.field.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    MessageCreated,
    MessageUpdated,
    MessageDeleted,
    ThreadCreated,
    ThreadUpdated,
    ThreadDeleted,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::MessageCreated => "message_created",
            Op::MessageUpdated => "message_updated",
            Op::MessageDeleted => "message_deleted",
            Op::ThreadCreated => "thread_created",
            Op::ThreadUpdated => "thread_updated",
            Op::ThreadDeleted => "thread_deleted",
        }
    }
}

#[derive(Debug)]
pub struct Ingested {
    pub results: Vec<ItemResult>,
    /// The last feed-log sequence number this request appended, if it changed anything.
    pub last_seq: Option<i64>,
}

/// Stores what `items` report, answering per item. Rejected items (already validated out) are
/// passed through so results line up with the request; a database failure fails the whole
/// request (nothing half-stored: it is one transaction) and the connector retries it. Requests
/// arriving together share a transaction ([`super::commit_queue`]).
pub async fn ingest(
    db: &DatabaseConnection,
    feed: &Feed,
    connector: &Connector,
    items: Vec<Result<Event, Rejection>>,
) -> Result<Ingested, DbErr> {
    super::commit_queue::submit(db, feed, connector, items).await
}

/// Applies requests in order in one transaction, under the append gate (the caller holds it),
/// and wakes followers after the commit. One answer per request.
pub(crate) async fn apply(
    db: &DatabaseConnection,
    feed: &Feed,
    requests: Vec<(Connector, Vec<Result<Event, Rejection>>)>,
) -> Result<Vec<Ingested>, DbErr> {
    let txn = crate::database::begin_write(db).await?;
    // The first statement writes, so a SQLite transaction takes the write lock up front (waiting
    // for it) instead of failing when it upgrades from a read later.
    let mut seen: Vec<i64> = requests.iter().map(|(c, _)| c.id).collect();
    seen.sort_unstable();
    seen.dedup();
    connector::Entity::update_many()
        .col_expr(connector::Column::LastSeenAt, Expr::value(Utc::now()))
        .filter(connector::Column::Id.is_in(seen))
        .exec(&txn)
        .await?;
    Feed::lock_in_transaction(&txn).await?;

    // One run for the group: the channel, owner and mirror-target lookups are the same for all.
    let mut run = Run {
        txn: &txn,
        connector_id: 0,
        forwarding: false,
        targets: Targets::default(),
        channels: HashMap::new(),
        owners: HashMap::new(),
        last_seq: None,
    };
    let count = requests.len();
    let mut answers = Vec::with_capacity(count);
    let mut last_seq = None;
    for (connector, items) in requests {
        run.connector_id = connector.id;
        run.forwarding = connector.forwarding;
        run.last_seq = None;
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            results.push(match item {
                Ok(event) => run.apply(event).await?,
                Err(rejection) => ItemResult::rejected(&rejection),
            });
        }
        last_seq = run.last_seq.or(last_seq);
        answers.push(Ingested {
            results,
            last_seq: run.last_seq,
        });
    }
    if let Some(seq) = last_seq {
        Feed::notify_in_transaction(&txn, seq).await?;
    }
    txn.commit().await?;
    feed.count_commit(count);
    if let Some(seq) = last_seq {
        feed.committed(seq);
    }
    Ok(answers)
}

/// Where a message or thread event lands once checked against the channel flags.
struct Resolved {
    channel_id: i64,
    thread_id: Option<i64>,
}

struct Run<'a, C> {
    txn: &'a C,
    connector_id: i64,
    /// The connector's forwarding switch: mirror what it captures.
    forwarding: bool,
    targets: Targets,
    channels: HashMap<i64, Option<channel::Model>>,
    /// Guild id → the connector that owns it.
    owners: HashMap<i64, Option<i64>>,
    last_seq: Option<i64>,
}

impl<C: ConnectionTrait> Run<'_, C> {
    async fn apply(&mut self, event: Event) -> Result<ItemResult, DbErr> {
        match event {
            Event::MessageCreated(m) => self.message(m, true).await,
            Event::MessageUpdated(m) => self.message(m, false).await,
            Event::MessageDeleted {
                place,
                message_ids,
                at,
                reason,
            } => self.delete(place, &message_ids, at, reason).await,
            Event::ThreadCreated(t) | Event::ThreadUpdated(t) => self.thread(t).await,
            Event::ThreadDeleted {
                guild_id,
                channel_id,
                thread_id,
                at,
            } => self.thread_deleted(guild_id, channel_id, thread_id, at).await,
        }
    }

    async fn channel(&mut self, id: i64) -> Result<Option<channel::Model>, DbErr> {
        if let Some(c) = self.channels.get(&id) {
            return Ok(c.clone());
        }
        let c = channel::Entity::find_by_id(id).one(self.txn).await?;
        self.channels.insert(id, c.clone());
        Ok(c)
    }

    async fn owner(&mut self, guild_id: i64) -> Result<Option<i64>, DbErr> {
        if let Some(o) = self.owners.get(&guild_id) {
            return Ok(*o);
        }
        let o = guild::Entity::find_by_id(guild_id)
            .one(self.txn)
            .await?
            .map(|g| g.connector_id);
        self.owners.insert(guild_id, o);
        Ok(o)
    }

    /// A source channel of the stated guild, by its own id or as the parent of a known thread
    /// (collectors may report a thread message with the thread as its channel). A connector acts
    /// only in guilds it owns: anything else is refused before it can touch what another
    /// connector captured. `Err` carries the answer for the item.
    async fn source(&mut self, guild: Snowflake, channel_id: Snowflake) -> Result<Result<i64, ItemResult>, DbErr> {
        let mut id = channel_id.get();
        if self.channel(id).await?.is_none()
            && let Some(t) = signal_thread::Entity::find_by_id(id).one(self.txn).await?
        {
            id = t.channel_id;
        }
        let Some(c) = self.channel(id).await? else {
            return Ok(Err(ItemResult::ignored(format!(
                "unknown channel {channel_id}: not discovered, so not a source channel"
            ))));
        };
        if c.guild_id != guild.get() {
            return Ok(Err(ItemResult::ignored(format!(
                "channel {channel_id} is not in guild {guild}"
            ))));
        }
        if self.owner(c.guild_id).await? != Some(self.connector_id) {
            return Ok(Err(ItemResult::forbidden(format!(
                "guild {guild} belongs to another connector (an admin can reassign it on /admin/channels)"
            ))));
        }
        Ok(if c.is_source {
            Ok(c.id)
        } else {
            Err(ItemResult::ignored(format!(
                "channel #{} is not a source channel",
                c.name
            )))
        })
    }

    async fn resolve(&mut self, place: Place) -> Result<Result<Resolved, ItemResult>, DbErr> {
        let channel_id = match self.source(place.guild_id, place.channel_id).await? {
            Ok(id) => id,
            Err(answer) => return Ok(Err(answer)),
        };
        let thread_id = if channel_id != place.channel_id.get() {
            Some(place.channel_id.get())
        } else {
            place.thread_id.map(Snowflake::get)
        };
        if let Some(tid) = thread_id {
            match signal_thread::Entity::find_by_id(tid).one(self.txn).await? {
                Some(t) if t.channel_id != channel_id => {
                    return Ok(Err(ItemResult::ignored(format!(
                        "thread {tid} belongs to another channel"
                    ))));
                }
                Some(_) => {}
                // First we hear of this thread: remember it under its parent; a thread event
                // names it later.
                None => {
                    signal_thread::ActiveModel {
                        id: Set(tid),
                        guild_id: Set(place.guild_id.get()),
                        channel_id: Set(channel_id),
                        name: Set(String::new()),
                        archived: Set(false),
                        created_at: Set(None),
                        updated_at: Set(Utc::now()),
                        deleted_at: Set(None),
                    }
                    .insert(self.txn)
                    .await?;
                }
            }
        }
        Ok(Ok(Resolved { channel_id, thread_id }))
    }

    async fn log(&mut self, op: Op, signal_id: Option<i64>, thread_id: Option<i64>) -> Result<(), DbErr> {
        self.last_seq = Some(Feed::log(self.txn, self.connector_id, op.as_str(), signal_id, thread_id).await?);
        Ok(())
    }

    /// Queues the signal's copies (in this transaction) when forwarding is on. A message in a
    /// thread goes to the targets of the thread's channel (into a thread there: the worker).
    async fn mirror(
        &mut self,
        signal_id: i64,
        channel_id: i64,
        op: MirrorOp,
        source_at: Option<DateTime<Utc>>,
    ) -> Result<(), DbErr> {
        if !self.forwarding {
            return Ok(());
        }
        let targets = self.targets.of(self.txn, channel_id).await?;
        mirror::queue(self.txn, signal_id, &targets, op, source_at).await?;
        Ok(())
    }

    async fn message(&mut self, m: Message, created: bool) -> Result<ItemResult, DbErr> {
        let place = match self.resolve(m.place).await? {
            Ok(p) => p,
            Err(answer) => return Ok(answer),
        };
        let row = find_signal(self.txn, place.channel_id, m.message_id).await?;
        let report = if created {
            Report::Created(m.snapshot.clone())
        } else {
            Report::Updated(m.snapshot.clone())
        };
        let now = Utc::now();
        match merge::apply(row.as_ref().map(stored).as_ref(), &report) {
            Outcome::Insert(Stored::Live(s)) => {
                let attachments = attachments_of(&s.attachments_json);
                let ix = crate::feed::search::index(&s.content, &s.embeds_json);
                let inserted = signal::ActiveModel {
                    message_id: Set(m.message_id.get()),
                    connector_id: Set(self.connector_id),
                    guild_id: Set(m.place.guild_id.get()),
                    channel_id: Set(place.channel_id),
                    thread_id: Set(place.thread_id),
                    author_id: Set(Some(m.author.id.get())),
                    author_name: Set(m.author.name),
                    author_avatar: Set(m.author.avatar),
                    content: Set(s.content),
                    embeds_json: Set(s.embeds_json),
                    attachments_json: Set(s.attachments_json),
                    mentions_json: Set(s.mentions_json),
                    search_text: Set(ix.search_text),
                    pair: Set(ix.pair),
                    side: Set(ix.side),
                    posted_at: Set(Some(m.posted_at)),
                    edited_at: Set(s.edited_at),
                    deleted_at: Set(None),
                    ingested_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(self.txn)
                .await?;
                self.log(Op::MessageCreated, Some(inserted.id), place.thread_id).await?;
                crate::attachment_store::queue(self.txn, inserted.id, &attachments).await?;
                self.mirror(inserted.id, place.channel_id, MirrorOp::Create, Some(m.posted_at))
                    .await?;
                Ok(ItemResult::accepted())
            }
            Outcome::Replace(Stored::Live(s)) => {
                let row = row.expect("replace implies a stored row");
                let attachments = attachments_of(&s.attachments_json);
                // The version being replaced joins the edit history when its words changed.
                if row.content != s.content || row.embeds_json != s.embeds_json {
                    entity::signal_revision::ActiveModel {
                        signal_id: Set(row.id),
                        content: Set(row.content.clone()),
                        embeds_json: Set(row.embeds_json.clone()),
                        edited_at: Set(row.edited_at),
                        replaced_at: Set(now),
                        ..Default::default()
                    }
                    .insert(self.txn)
                    .await?;
                }
                let ix = crate::feed::search::index(&s.content, &s.embeds_json);
                let mut active: signal::ActiveModel = row.clone().into();
                active.search_text = Set(ix.search_text);
                active.pair = Set(ix.pair);
                active.side = Set(ix.side);
                active.content = Set(s.content);
                active.embeds_json = Set(s.embeds_json);
                active.attachments_json = Set(s.attachments_json);
                active.mentions_json = Set(s.mentions_json);
                active.edited_at = Set(s.edited_at);
                active.author_name = Set(m.author.name);
                active.author_avatar = Set(m.author.avatar);
                active.updated_at = Set(now);
                active.update(self.txn).await?;
                self.log(Op::MessageUpdated, Some(row.id), row.thread_id).await?;
                crate::attachment_store::queue(self.txn, row.id, &attachments).await?;
                self.mirror(row.id, row.channel_id, MirrorOp::Update, s.edited_at.or(Some(now)))
                    .await?;
                Ok(ItemResult::accepted())
            }
            Outcome::Insert(Stored::Deleted { .. }) | Outcome::Replace(Stored::Deleted { .. }) => {
                unreachable!("a create or update never deletes")
            }
            Outcome::Ignored(Ignored::Duplicate) => Ok(ItemResult::duplicate()),
            Outcome::Ignored(other) => Ok(ItemResult::ignored(other.reason())),
        }
    }

    async fn delete(
        &mut self,
        place: Place,
        ids: &[Snowflake],
        at: DateTime<Utc>,
        reason: Option<String>,
    ) -> Result<ItemResult, DbErr> {
        let resolved = match self.resolve(place).await? {
            Ok(p) => p,
            Err(answer) => return Ok(answer),
        };
        let mut accepted = 0;
        for id in ids {
            let row = find_signal(self.txn, resolved.channel_id, *id).await?;
            let now = Utc::now();
            match merge::apply(row.as_ref().map(stored).as_ref(), &Report::Deleted { at }) {
                // A delete that overtook its create: keep a tombstone so the create, when it
                // arrives, cannot bring the message back.
                Outcome::Insert(Stored::Deleted { at }) => {
                    let inserted = signal::ActiveModel {
                        message_id: Set(id.get()),
                        connector_id: Set(self.connector_id),
                        guild_id: Set(place.guild_id.get()),
                        channel_id: Set(resolved.channel_id),
                        thread_id: Set(resolved.thread_id),
                        author_id: Set(None),
                        author_name: Set(String::new()),
                        author_avatar: Set(None),
                        content: Set(String::new()),
                        embeds_json: Set("[]".into()),
                        attachments_json: Set("[]".into()),
                        mentions_json: Set("{}".into()),
                        posted_at: Set(None),
                        edited_at: Set(None),
                        deleted_at: Set(Some(at)),
                        delete_reason: Set(reason.clone()),
                        ingested_at: Set(now),
                        updated_at: Set(now),
                        ..Default::default()
                    }
                    .insert(self.txn)
                    .await?;
                    self.log(Op::MessageDeleted, Some(inserted.id), resolved.thread_id)
                        .await?;
                    accepted += 1;
                }
                Outcome::Replace(Stored::Deleted { at }) => {
                    let row = row.expect("replace implies a stored row");
                    let was_live = row.deleted_at.is_none();
                    let mut active: signal::ActiveModel = row.clone().into();
                    active.deleted_at = Set(Some(at));
                    if was_live {
                        active.delete_reason = Set(reason.clone());
                    }
                    active.updated_at = Set(now);
                    active.update(self.txn).await?;
                    // An earlier time for a delete we already had is a correction, not news.
                    if was_live {
                        self.log(Op::MessageDeleted, Some(row.id), row.thread_id).await?;
                        self.mirror(row.id, row.channel_id, MirrorOp::Delete, Some(at)).await?;
                        accepted += 1;
                    }
                }
                _ => {}
            }
        }
        Ok(if accepted > 0 {
            ItemResult::accepted()
        } else {
            ItemResult::duplicate()
        })
    }

    async fn thread(&mut self, t: Thread) -> Result<ItemResult, DbErr> {
        let channel_id = match self.source(t.guild_id, t.channel_id).await? {
            Ok(id) => id,
            Err(answer) => return Ok(answer),
        };
        let now = Utc::now();
        match signal_thread::Entity::find_by_id(t.thread_id.get())
            .one(self.txn)
            .await?
        {
            None => {
                signal_thread::ActiveModel {
                    id: Set(t.thread_id.get()),
                    guild_id: Set(t.guild_id.get()),
                    channel_id: Set(channel_id),
                    name: Set(t.name),
                    archived: Set(t.archived),
                    created_at: Set(t.created_at),
                    updated_at: Set(now),
                    deleted_at: Set(None),
                }
                .insert(self.txn)
                .await?;
                self.log(Op::ThreadCreated, None, Some(t.thread_id.get())).await?;
                Ok(ItemResult::accepted())
            }
            Some(existing) if existing.channel_id != channel_id => {
                Ok(ItemResult::ignored("thread belongs to another channel"))
            }
            Some(existing) if existing.deleted_at.is_some() => Ok(ItemResult::ignored("thread already deleted")),
            Some(existing) if existing.name == t.name && existing.archived == t.archived => Ok(ItemResult::duplicate()),
            Some(existing) => {
                let first_name = existing.name.is_empty();
                let mut active: signal_thread::ActiveModel = existing.into();
                active.name = Set(t.name);
                active.archived = Set(t.archived);
                if t.created_at.is_some() {
                    active.created_at = Set(t.created_at);
                }
                active.updated_at = Set(now);
                active.update(self.txn).await?;
                let op = if first_name {
                    Op::ThreadCreated
                } else {
                    Op::ThreadUpdated
                };
                self.log(op, None, Some(t.thread_id.get())).await?;
                Ok(ItemResult::accepted())
            }
        }
    }

    async fn thread_deleted(
        &mut self,
        guild: Snowflake,
        channel: Snowflake,
        thread: Snowflake,
        at: DateTime<Utc>,
    ) -> Result<ItemResult, DbErr> {
        let channel_id = match self.source(guild, channel).await? {
            Ok(id) => id,
            Err(answer) => return Ok(answer),
        };
        let now = Utc::now();
        match signal_thread::Entity::find_by_id(thread.get()).one(self.txn).await? {
            Some(existing) if existing.channel_id != channel_id => {
                Ok(ItemResult::ignored("thread belongs to another channel"))
            }
            Some(existing) if existing.deleted_at.is_some() => Ok(ItemResult::duplicate()),
            Some(existing) => {
                let mut active: signal_thread::ActiveModel = existing.into();
                active.deleted_at = Set(Some(at));
                active.updated_at = Set(now);
                active.update(self.txn).await?;
                self.log(Op::ThreadDeleted, None, Some(thread.get())).await?;
                Ok(ItemResult::accepted())
            }
            None => {
                signal_thread::ActiveModel {
                    id: Set(thread.get()),
                    guild_id: Set(guild.get()),
                    channel_id: Set(channel_id),
                    name: Set(String::new()),
                    archived: Set(false),
                    created_at: Set(None),
                    updated_at: Set(now),
                    deleted_at: Set(Some(at)),
                }
                .insert(self.txn)
                .await?;
                self.log(Op::ThreadDeleted, None, Some(thread.get())).await?;
                Ok(ItemResult::accepted())
            }
        }
    }
}

fn attachments_of(json: &str) -> Vec<crate::ingest::attachment::Attachment> {
    serde_json::from_str(json).unwrap_or_default()
}

/// The signal of message `id` in source channel `channel_id` (a message's identity is scoped to
/// its channel: the same id reported in another connector's channel is another signal).
pub async fn find_signal(
    db: &impl ConnectionTrait,
    channel_id: i64,
    id: Snowflake,
) -> Result<Option<signal::Model>, DbErr> {
    signal::Entity::find()
        .filter(signal::Column::ChannelId.eq(channel_id))
        .filter(signal::Column::MessageId.eq(id.get()))
        .one(db)
        .await
}

/// The merge view of a stored row.
fn stored(row: &signal::Model) -> Stored {
    match row.deleted_at {
        Some(at) => Stored::Deleted { at },
        None => Stored::Live(Snapshot {
            content: row.content.clone(),
            embeds_json: row.embeds_json.clone(),
            attachments_json: row.attachments_json.clone(),
            mentions_json: row.mentions_json.clone(),
            edited_at: row.edited_at,
        }),
    }
}
