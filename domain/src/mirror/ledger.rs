//! The delivery ledger: per copy, its state and Discord ids, and per operation it went through
//! (`mirror_delivery`) the time of each hop (source message time → ingest accepted → job
//! claimed → Discord answered).
//! From it, the mirror page's latency figures and chart, and the gap audit: signals that should
//! have a copy in a mapped target and do not, with nothing queued to make one.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use entity::job::{self, JobKind, JobStatus};
use entity::{channel_mapping, mirror_copy, mirror_delivery, signal};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{MirrorJob, MirrorOp, state};

/// Latency of one operation kind over a window: ingest accepted → Discord answered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpLatency {
    pub op: String,
    pub count: u64,
    pub sum_ms: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Operations answered in the last hour (every one, from the ledger's history):
/// `(op, answered_at, accepted → answered in ms)`.
async fn answered(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<(String, DateTime<Utc>, u64)>, DbErr> {
    let since = now - Duration::minutes(60);
    let rows: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = mirror_delivery::Entity::find()
        .select_only()
        .column(mirror_delivery::Column::Op)
        .column(mirror_delivery::Column::AcceptedAt)
        .column(mirror_delivery::Column::AnsweredAt)
        .filter(mirror_delivery::Column::AnsweredAt.gt(since))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(op, accepted, answered)| {
            (
                op,
                answered,
                Ord::max((answered - accepted).num_milliseconds(), 0) as u64,
            )
        })
        .collect())
}

/// A copy's operations, oldest first: the ledger's history of it.
pub async fn history(db: &impl ConnectionTrait, copy_id: i64) -> Result<Vec<mirror_delivery::Model>, DbErr> {
    mirror_delivery::Entity::find()
        .filter(mirror_delivery::Column::CopyId.eq(copy_id))
        .order_by_asc(mirror_delivery::Column::Id)
        .all(db)
        .await
}

/// p50/p95/p99 per operation (create, update, delete) over the last 60 minutes.
pub async fn latency(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<OpLatency>, DbErr> {
    let rows = answered(db, now).await?;
    Ok([MirrorOp::Create, MirrorOp::Update, MirrorOp::Delete]
        .into_iter()
        .map(|op| {
            let mut ms: Vec<u64> = rows.iter().filter(|r| r.0 == op.as_str()).map(|r| r.2).collect();
            ms.sort_unstable();
            OpLatency {
                op: op.as_str().into(),
                count: ms.len() as u64,
                sum_ms: ms.iter().sum(),
                p50_ms: percentile(&ms, 0.50),
                p95_ms: percentile(&ms, 0.95),
                p99_ms: percentile(&ms, 0.99),
            }
        })
        .collect())
}

/// p95 latency (all operations) in each of the last 60 minutes, oldest first, with the count.
pub async fn per_minute(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<(u64, u64)>, DbErr> {
    let since = now - Duration::minutes(60);
    let mut minutes: Vec<Vec<u64>> = vec![Vec::new(); 60];
    for (_, at, ms) in answered(db, now).await? {
        minutes[(at - since).num_minutes().clamp(0, 59) as usize].push(ms);
    }
    Ok(minutes
        .into_iter()
        .map(|mut m| {
            m.sort_unstable();
            (percentile(&m, 0.95), m.len() as u64)
        })
        .collect())
}

/// Every answered latency of the last hour by operation, for `/metrics`' histograms.
pub async fn samples(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<(String, u64)>, DbErr> {
    Ok(answered(db, now)
        .await?
        .into_iter()
        .map(|(op, _, ms)| (op, ms))
        .collect())
}

/// A signal with no copy in a target it is mapped to, and nothing queued to make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub signal_id: i64,
    pub message_id: i64,
    pub target_channel_id: i64,
    pub source_channel_id: i64,
    pub content: String,
    pub posted_at: Option<DateTime<Utc>>,
    /// What the copy's row says, if there is one (`pending`, or the last error).
    pub why: String,
}

/// Live signals of the last `window` in mapped source channels (posted after the mapping was
/// made) whose copy is missing or not live, with no mirror job waiting or running for it.
pub async fn gaps(db: &impl ConnectionTrait, now: DateTime<Utc>, window: Duration) -> Result<Vec<Gap>, DbErr> {
    let mappings = channel_mapping::Entity::find().all(db).await?;
    if mappings.is_empty() {
        return Ok(Vec::new());
    }
    let sources: HashSet<i64> = mappings.iter().map(|m| m.source_channel_id).collect();
    // Give a fresh signal a moment: its job may simply not have run yet.
    let settled = now - Duration::seconds(30);
    let signals = signal::Entity::find()
        .filter(signal::Column::ChannelId.is_in(sources))
        .filter(signal::Column::DeletedAt.is_null())
        .filter(signal::Column::ThreadId.is_null())
        .filter(signal::Column::IngestedAt.gt(now - window))
        .filter(signal::Column::IngestedAt.lt(settled))
        .order_by_desc(signal::Column::Id)
        .limit(2000)
        .all(db)
        .await?;
    let ids: Vec<i64> = signals.iter().map(|s| s.id).collect();
    let copies: HashMap<(i64, i64), mirror_copy::Model> = mirror_copy::Entity::find()
        .filter(mirror_copy::Column::SignalId.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| ((c.signal_id, c.target_channel_id), c))
        .collect();
    let waiting: HashSet<String> = job::Entity::find()
        .select_only()
        .column(job::Column::UniqueKey)
        .filter(job::Column::Kind.eq(JobKind::Mirror))
        .filter(job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
        .into_tuple::<Option<String>>()
        .all(db)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let mut out = Vec::new();
    for s in &signals {
        for m in mappings.iter().filter(|m| m.source_channel_id == s.channel_id) {
            if s.posted_at.is_some_and(|p| p < m.created_at) {
                continue;
            }
            let key = MirrorJob {
                signal_id: s.id,
                target_channel_id: m.target_channel_id,
            }
            .unique_key();
            let copy = copies.get(&(s.id, m.target_channel_id));
            let fine = copy.is_some_and(|c| c.state == state::LIVE || c.state == state::REMOVED);
            if fine || waiting.contains(&key) {
                continue;
            }
            out.push(Gap {
                signal_id: s.id,
                message_id: s.message_id,
                target_channel_id: m.target_channel_id,
                source_channel_id: s.channel_id,
                content: s.content.chars().take(120).collect(),
                posted_at: s.posted_at,
                why: match copy {
                    None => "no copy was ever queued (forwarding was off, or the job was discarded)".into(),
                    Some(c) => c
                        .last_error
                        .clone()
                        .unwrap_or_else(|| format!("copy is {} with no job to finish it", c.state)),
                },
            });
        }
    }
    Ok(out)
}

/// Queues the copy again (an admin's one click on a gap).
pub async fn requeue(db: &impl ConnectionTrait, signal_id: i64, target_channel_id: i64) -> Result<bool, DbErr> {
    let Some(s) = signal::Entity::find_by_id(signal_id).one(db).await? else {
        return Ok(false);
    };
    let mapped = channel_mapping::Entity::find()
        .filter(channel_mapping::Column::SourceChannelId.eq(s.channel_id))
        .filter(channel_mapping::Column::TargetChannelId.eq(target_channel_id))
        .one(db)
        .await?
        .is_some();
    if !mapped {
        return Ok(false);
    }
    let op = if s.deleted_at.is_some() {
        MirrorOp::Delete
    } else {
        MirrorOp::Create
    };
    super::queue(db, signal_id, &[target_channel_id], op, s.posted_at).await?;
    Ok(true)
}
