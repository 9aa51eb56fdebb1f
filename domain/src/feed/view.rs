//! What customers see of the feed: signals in channels that are Source *now* (a channel
//! unflagged later stops delivering, including its history), with deleted content hidden and
//! attachments classified for safe display. Read by the dashboard page and the websocket.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{channel, feed_log, signal, signal_revision, signal_thread};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::Value;

use super::attachment_view::{self, Display};
use crate::attachment_store;
use crate::ingest::attachment::Attachment;
use crate::trade::{self, LevelChange, Trade};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentView {
    pub filename: String,
    pub content_type: Option<String>,
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub display: Display,
    /// Our own copy (`/attachments/…`) once stored; absent for blocked files (they get no link
    /// at all) and while the copy is pending or unavailable.
    pub url: Option<String>,
    /// `stored`, `pending`, `unavailable` (`attachment_store::state`), or `blocked`.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalView {
    pub id: i64,
    pub message_id: String,
    pub channel_id: String,
    pub channel: String,
    pub thread_id: Option<String>,
    pub thread: Option<String>,
    pub author: String,
    pub avatar_url: Option<String>,
    /// Empty once deleted at source.
    pub content: String,
    pub embeds: Value,
    /// Names for the mentions in the content: `{"users":{id:name},"roles":{..},"channels":{..}}`.
    pub mentions: Value,
    pub attachments: Vec<AttachmentView>,
    pub posted_at: Option<DateTime<Utc>>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// The trade the text states, when it states one.
    pub trade: Option<Trade>,
    /// Levels the last edit moved ("SL 3,150 → 3,200").
    pub changes: Vec<LevelChange>,
    /// Earlier versions, newest first (at most [`HISTORY_SHOWN`]).
    pub history: Vec<RevisionView>,
}

/// How many earlier versions a card carries.
pub const HISTORY_SHOWN: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RevisionView {
    pub content: String,
    pub embeds: Value,
    /// When this version was itself an edit; none for the original post.
    pub edited_at: Option<DateTime<Utc>>,
    pub replaced_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedEvent {
    pub seq: i64,
    pub op: String,
    pub signal: SignalView,
    /// The rank the signal's channel asks for (`channel_tiers`): who may receive this event.
    #[serde(skip)]
    pub required: Option<i32>,
    /// When the change was committed to the feed log (what delivery latency is measured from).
    #[serde(skip)]
    pub logged_at: chrono::DateTime<chrono::Utc>,
}

/// How one attachment is offered: the attachment rules decide whether it may be shown at all; our
/// stored copy (its bytes checked) decides what is served. Signals stored before attachments
/// were kept (no record) still link to their source.
fn attachment(signal_id: i64, a: Attachment, records: &Records) -> AttachmentView {
    let display = attachment_view::display(&a);
    let record = a.id.parse().ok().and_then(|id: i64| records.get(&(signal_id, id)));
    let (display, url, state) = match (display, record) {
        (Display::Blocked, _) => (Display::Blocked, None, "blocked".to_owned()),
        (_, None) => (display, Some(a.url.clone()), "source".to_owned()),
        (_, Some(r)) if r.state == attachment_store::state::STORED => {
            // Inline only if the stored bytes were checked to be an image.
            let image = r.content_type.as_deref().is_some_and(|t| t.starts_with("image/"));
            let display = if display == Display::Inline && !image {
                Display::Link
            } else {
                display
            };
            (
                display,
                Some(attachment_store::served_path(signal_id, r.attachment_id)),
                r.state.clone(),
            )
        }
        (_, Some(r)) => (display, None, r.state.clone()),
    };
    AttachmentView {
        url,
        state,
        filename: a.filename,
        content_type: a.content_type,
        size: a.size,
        width: a.width,
        height: a.height,
        display,
    }
}

type Records = HashMap<(i64, i64), entity::attachment_blob::Model>;
/// Each edited signal's earlier versions, newest first.
type Revisions = HashMap<i64, Vec<signal_revision::Model>>;

/// What a page of signals needs besides the rows: thread names, stored attachments, history.
struct Context {
    threads: HashMap<i64, signal_thread::Model>,
    records: Records,
    revisions: Revisions,
}

impl Context {
    async fn of(db: &impl ConnectionTrait, signals: &[signal::Model]) -> Result<Self, DbErr> {
        let ids: Vec<i64> = signals.iter().map(|s| s.id).collect();
        let edited: Vec<i64> = signals
            .iter()
            .filter(|s| s.edited_at.is_some() && s.deleted_at.is_none())
            .map(|s| s.id)
            .collect();
        let mut revisions: Revisions = HashMap::new();
        if !edited.is_empty() {
            for r in signal_revision::Entity::find()
                .filter(signal_revision::Column::SignalId.is_in(edited))
                .order_by_desc(signal_revision::Column::Id)
                .all(db)
                .await?
            {
                let list = revisions.entry(r.signal_id).or_default();
                if list.len() < HISTORY_SHOWN {
                    list.push(r);
                }
            }
        }
        Ok(Context {
            threads: threads_of(db, signals).await?,
            records: attachment_store::records(db, &ids).await?,
            revisions,
        })
    }
}

/// The names the content's mentions show: users and roles as reported with the message, and
/// channels it mentions that customers know (Source channels; any other stays "#channel", as
/// Discord shows a channel the reader cannot see).
fn mentions(s: &signal::Model, channels: &HashMap<i64, channel::Model>) -> Value {
    let mut names: Value = serde_json::from_str(&s.mentions_json).unwrap_or_else(|_| Value::Object(Default::default()));
    if !names.is_object() {
        names = Value::Object(Default::default());
    }
    let mut named = serde_json::Map::new();
    for piece in s.content.split("<#").skip(1) {
        let digits: &str = &piece[..piece.find(|c: char| !c.is_ascii_digit()).unwrap_or(piece.len())];
        if let Some(c) = digits.parse::<i64>().ok().and_then(|id| channels.get(&id)) {
            named.insert(digits.to_owned(), Value::String(c.name.clone()));
        }
    }
    if !named.is_empty() {
        names["channels"] = Value::Object(named);
    }
    names
}

fn view(s: signal::Model, channels: &HashMap<i64, channel::Model>, cx: &Context) -> SignalView {
    let (threads, records) = (&cx.threads, &cx.records);
    let deleted = s.deleted_at.is_some();
    let attachments: Vec<Attachment> = if deleted {
        Vec::new()
    } else {
        serde_json::from_str(&s.attachments_json).unwrap_or_default()
    };
    let names = if deleted {
        Value::Object(Default::default())
    } else {
        mentions(&s, channels)
    };
    let trade = (!deleted).then(|| trade::parse(&s.search_text)).flatten();
    let history: Vec<&signal_revision::Model> = match cx.revisions.get(&s.id) {
        Some(list) if !deleted => list.iter().collect(),
        _ => Vec::new(),
    };
    // What the last edit moved: the version before it against this one.
    let changes = match (&trade, history.first()) {
        (Some(now), Some(before)) => trade::parse(&crate::feed::search::searchable_text(
            &before.content,
            &before.embeds_json,
        ))
        .map(|then| trade::changes(&then, now))
        .unwrap_or_default(),
        _ => Vec::new(),
    };
    let history = history
        .into_iter()
        .map(|r| RevisionView {
            content: r.content.clone(),
            embeds: serde_json::from_str(&r.embeds_json).unwrap_or(Value::Array(Vec::new())),
            edited_at: r.edited_at,
            replaced_at: r.replaced_at,
        })
        .collect();
    SignalView {
        id: s.id,
        message_id: s.message_id.to_string(),
        channel_id: s.channel_id.to_string(),
        channel: channels.get(&s.channel_id).map(|c| c.name.clone()).unwrap_or_default(),
        thread_id: s.thread_id.map(|t| t.to_string()),
        thread: s.thread_id.and_then(|t| threads.get(&t)).map(|t| t.name.clone()),
        avatar_url: attachment_view::avatar(s.author_id, s.author_avatar.as_deref()),
        author: s.author_name,
        mentions: names,
        content: if deleted { String::new() } else { s.content },
        embeds: if deleted {
            Value::Array(Vec::new())
        } else {
            serde_json::from_str(&s.embeds_json).unwrap_or(Value::Array(Vec::new()))
        },
        attachments: attachments.into_iter().map(|a| attachment(s.id, a, records)).collect(),
        posted_at: s.posted_at,
        edited_at: s.edited_at,
        deleted_at: s.deleted_at,
        trade,
        changes,
        history,
    }
}

/// The rank each Source channel asks for now (a channel missing here is not a Source): what a
/// replay of frames read earlier is checked against.
pub async fn requirements(db: &impl ConnectionTrait) -> Result<HashMap<i64, Option<i32>>, DbErr> {
    // One round trip (a resuming feed socket asks this): each Source channel with its tier.
    Ok(channel::Entity::find()
        .filter(channel::Column::IsSource.eq(true))
        .find_also_related(entity::tier::Entity)
        .all(db)
        .await?
        .into_iter()
        .map(|(c, tier)| {
            let required = crate::channel_tiers::required(&c, tier.as_slice());
            (c.id, required)
        })
        .collect())
}

/// The Source channels, each with the rank it asks for.
async fn source_channels(
    db: &impl ConnectionTrait,
) -> Result<(HashMap<i64, channel::Model>, HashMap<i64, Option<i32>>), DbErr> {
    let tiers = crate::entitlements::tiers(db).await?;
    let channels: HashMap<i64, channel::Model> = channel::Entity::find()
        .filter(channel::Column::IsSource.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let required = channels
        .values()
        .map(|c| (c.id, crate::channel_tiers::required(c, &tiers)))
        .collect();
    Ok((channels, required))
}

async fn threads_of(
    db: &impl ConnectionTrait,
    signals: &[signal::Model],
) -> Result<HashMap<i64, signal_thread::Model>, DbErr> {
    let ids: Vec<i64> = signals.iter().filter_map(|s| s.thread_id).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(signal_thread::Entity::find()
        .filter(signal_thread::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect())
}

/// Message changes after `after`, oldest first, at most `limit` feed rows scanned. Returns the
/// visible events and the last sequence scanned (resume from it even if nothing was visible).
pub async fn events_after(db: &impl ConnectionTrait, after: i64, limit: u64) -> Result<(Vec<FeedEvent>, i64), DbErr> {
    let rows = feed_log::Entity::find()
        .filter(feed_log::Column::Seq.gt(after))
        .order_by_asc(feed_log::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    let last = rows.last().map_or(after, |r| r.seq);
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.signal_id).collect();
    if ids.is_empty() {
        return Ok((Vec::new(), last));
    }
    let (channels, required) = source_channels(db).await?;
    let signals: Vec<signal::Model> = signal::Entity::find()
        .filter(signal::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .filter(|s| channels.contains_key(&s.channel_id))
        .collect();
    let cx = Context::of(db, &signals).await?;
    let by_id: HashMap<i64, signal::Model> = signals.into_iter().map(|s| (s.id, s)).collect();
    let events = rows
        .into_iter()
        .filter_map(|r| {
            let s = by_id.get(&r.signal_id?)?.clone();
            Some(FeedEvent {
                seq: r.seq,
                logged_at: r.created_at,
                op: r.op,
                required: required.get(&s.channel_id).copied().flatten(),
                signal: view(s, &channels, &cx),
            })
        })
        .collect();
    Ok((events, last))
}

/// The newest signals in the source channels a customer at `rank` may read (newest first), older
/// than `before` when paging back. Tombstones of messages nobody ever saw are left out.
pub async fn latest(
    db: &impl ConnectionTrait,
    rank: i32,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<SignalView>, DbErr> {
    let (channels, open) = open_channels(db, rank).await?;
    let mut q = signal::Entity::find()
        .filter(signal::Column::ChannelId.is_in(open))
        .filter(signal::Column::PostedAt.is_not_null());
    if let Some(b) = before {
        q = q.filter(signal::Column::Id.lt(b));
    }
    let signals = q.order_by_desc(signal::Column::Id).limit(limit).all(db).await?;
    let cx = Context::of(db, &signals).await?;
    Ok(signals.into_iter().map(|s| view(s, &channels, &cx)).collect())
}

/// The Source channels, and the ids of those a customer at `rank` may read.
async fn open_channels(
    db: &impl ConnectionTrait,
    rank: i32,
) -> Result<(HashMap<i64, channel::Model>, Vec<i64>), DbErr> {
    let (channels, required) = source_channels(db).await?;
    let open = required
        .iter()
        .filter(|(_, r)| crate::channel_tiers::opens(**r, rank))
        .map(|(id, _)| *id)
        .collect();
    Ok((channels, open))
}

/// The Source channels a customer at `rank` may read, by name (the search form's channel list).
pub async fn readable_channels(db: &impl ConnectionTrait, rank: i32) -> Result<Vec<(i64, String)>, DbErr> {
    let (channels, open) = open_channels(db, rank).await?;
    let mut named: Vec<(i64, String)> = open
        .into_iter()
        .filter_map(|id| channels.get(&id).map(|c| (id, c.name.clone())))
        .collect();
    named.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(named)
}

/// Search over the history a customer at `rank` may read (S9: the same channels as the feed),
/// newest first, paged back with `q.before`.
pub async fn search(
    db: &(impl ConnectionTrait + sea_orm::TransactionTrait),
    rank: i32,
    q: &crate::feed::search::Query,
    limit: u64,
) -> Result<Vec<SignalView>, DbErr> {
    let (channels, open) = open_channels(db, rank).await?;
    let ids = crate::feed::search::matching_ids(db, &open, q, limit).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let signals = signal::Entity::find()
        .filter(signal::Column::Id.is_in(ids))
        .order_by_desc(signal::Column::Id)
        .all(db)
        .await?;
    let cx = Context::of(db, &signals).await?;
    Ok(signals.into_iter().map(|s| view(s, &channels, &cx)).collect())
}

/// The newest feed sequence number: a page rendered now is current up to it.
pub async fn head(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(feed_log::Entity::find()
        .order_by_desc(feed_log::Column::Seq)
        .one(db)
        .await?
        .map_or(0, |r| r.seq))
}
