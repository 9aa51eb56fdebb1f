//! The re-check after an outage: a backfill only sees messages that exist, so a message deleted
//! while nobody listened would stay live with us forever. After each backfill the bot reads the
//! newest N messages of the channel and every message we hold as live inside the span that read
//! covered, but which Discord no longer has, is marked deleted with [`REASON`].

use chrono::{DateTime, Utc};
use entity::signal;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

pub const REASON: &str =
    "gone from Discord when the bot re-checked after reconnecting (deleted while capture was down)";

/// Discord's epoch (2015-01-01) in Unix milliseconds.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

/// The smallest snowflake of a message posted at `at`: every message posted before it has a
/// smaller id.
pub fn snowflake_at(at: DateTime<Utc>) -> i64 {
    (at.timestamp_millis() - DISCORD_EPOCH_MS).max(0) << 22
}

/// The span of ids a read of the newest messages covered: from its oldest message (or from the
/// start, when it returned fewer than it asked for: the whole channel) to the moment it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: i64,
    pub before: i64,
}

impl Span {
    pub fn of(read: &[i64], asked: usize, read_at: DateTime<Utc>) -> Span {
        let complete = read.len() < asked;
        Span {
            from: if complete {
                0
            } else {
                read.iter().copied().min().unwrap_or(0)
            },
            before: snowflake_at(read_at),
        }
    }
}

/// Of the ids we hold as live, those inside `span` that the read did not return.
pub fn vanished(live: &[i64], read: &[i64], span: Span) -> Vec<i64> {
    let present: std::collections::HashSet<i64> = read.iter().copied().collect();
    let mut gone: Vec<i64> = live
        .iter()
        .copied()
        .filter(|id| *id >= span.from && *id < span.before && !present.contains(id))
        .collect();
    gone.sort_unstable();
    gone
}

/// The message ids we hold as live in a channel (`thread: None`) or one thread under it, within `span`.
pub async fn live_ids(
    db: &impl ConnectionTrait,
    channel_id: i64,
    thread: Option<i64>,
    span: Span,
) -> Result<Vec<i64>, DbErr> {
    let mut q = signal::Entity::find()
        .select_only()
        .column(signal::Column::MessageId)
        .filter(signal::Column::ChannelId.eq(channel_id))
        .filter(signal::Column::DeletedAt.is_null())
        .filter(signal::Column::MessageId.gte(span.from))
        .filter(signal::Column::MessageId.lt(span.before));
    q = match thread {
        Some(t) => q.filter(signal::Column::ThreadId.eq(t)),
        None => q.filter(signal::Column::ThreadId.is_null()),
    };
    q.into_tuple().all(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_messages_inside_the_span_the_read_covered_count_as_gone() {
        let read_at = Utc::now();
        let now_id = snowflake_at(read_at);
        // A full page (asked 3, got 3): ids below its oldest were not looked at.
        let span = Span::of(&[30, 40, 50], 3, read_at);
        assert_eq!(
            span,
            Span {
                from: 30,
                before: now_id
            }
        );
        // 10 is older than the page (unknown), 45 vanished, a message posted after the read is kept.
        assert_eq!(vanished(&[10, 30, 45, 50, now_id + 5], &[30, 40, 50], span), vec![45]);
        // A short page covers the whole channel: everything missing from it is gone.
        let all = Span::of(&[40], 3, read_at);
        assert_eq!(vanished(&[10, 40, 45], &[40], all), vec![10, 45]);
        // An empty channel: every live message before the read is gone.
        assert_eq!(vanished(&[10, 20], &[], Span::of(&[], 100, read_at)), vec![10, 20]);
    }

    #[test]
    fn snowflake_time_matches_discords_epoch() {
        let at = DateTime::parse_from_rfc3339("2015-01-01T00:00:01Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(snowflake_at(at), 1000 << 22);
    }
}
