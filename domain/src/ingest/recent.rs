//! The operator's live view: the latest feed-log entries of one connector with enough of the
//! signal to recognise it.

use chrono::{DateTime, Utc};
use entity::{feed_log, signal, signal_thread};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

const EXCERPT_CHARS: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentEvent {
    pub seq: i64,
    pub op: String,
    pub at: DateTime<Utc>,
    pub message_id: Option<i64>,
    pub channel_id: Option<i64>,
    pub thread_id: Option<i64>,
    pub excerpt: String,
}

pub async fn recent(db: &impl ConnectionTrait, connector_id: i64, limit: u64) -> Result<Vec<RecentEvent>, DbErr> {
    let rows = feed_log::Entity::find()
        .filter(feed_log::Column::ConnectorId.eq(connector_id))
        .order_by_desc(feed_log::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    let signal_ids: Vec<i64> = rows.iter().filter_map(|r| r.signal_id).collect();
    let thread_ids: Vec<i64> = rows.iter().filter_map(|r| r.thread_id).collect();
    let signals = signal::Entity::find()
        .filter(signal::Column::Id.is_in(signal_ids))
        .all(db)
        .await?;
    let threads = signal_thread::Entity::find()
        .filter(signal_thread::Column::Id.is_in(thread_ids))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let s = r.signal_id.and_then(|id| signals.iter().find(|s| s.id == id));
            let t = r.thread_id.and_then(|id| threads.iter().find(|t| t.id == id));
            let excerpt = match (s, t) {
                (Some(s), _) if s.deleted_at.is_some() && s.content.is_empty() => {
                    "(deleted before we saw it)".to_owned()
                }
                (Some(s), _) => s.content.chars().take(EXCERPT_CHARS).collect(),
                (None, Some(t)) => format!("thread “{}”", t.name),
                (None, None) => String::new(),
            };
            RecentEvent {
                seq: r.seq,
                op: r.op,
                at: r.created_at,
                message_id: s.map(|s| s.message_id),
                channel_id: s.map(|s| s.channel_id).or(t.map(|t| t.channel_id)),
                thread_id: r.thread_id,
                excerpt,
            }
        })
        .collect())
}
