//! Mirroring: every accepted change of a signal in a source channel with mappings queues one
//! `mirror` job per target channel, in the ingest transaction, when the connector's forwarding
//! switch is on.
//!
//! Like role sync, a job names *which copy* (signal × target), never *what to send*: the worker
//! reads the signal as it is when it runs and brings the copy in line — create it, edit it, or
//! delete every message of it. So operations apply in order by construction (an update that
//! arrives before its create's job ran is simply part of what the create sends), queued updates
//! coalesce (one queued job per copy: J10), and a delete during a create ends deleted (the
//! queue never runs two jobs of one copy at once, so the delete's job runs after the create's).
//! Each Discord message made for a copy is recorded the moment Discord answers, and every post
//! carries a nonce Discord enforces, so a retry after a crash returns the message already made
//! instead of posting it twice.

pub mod ledger;
pub mod render;
pub mod thread;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::job::JobKind;
use entity::{channel, channel_mapping, mirror_copy};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};

use crate::{channel_tiers, jobs};

/// What a `mirror` job names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorJob {
    pub signal_id: i64,
    pub target_channel_id: i64,
}

impl MirrorJob {
    pub fn unique_key(&self) -> String {
        format!("signal:{}/target:{}", self.signal_id, self.target_channel_id)
    }
}

/// The operation a change asks of a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorOp {
    Create,
    Update,
    Delete,
}

impl MirrorOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MirrorOp::Create => "create",
            MirrorOp::Update => "update",
            MirrorOp::Delete => "delete",
        }
    }
}

/// A copy's state.
pub mod state {
    pub const PENDING: &str = "pending";
    pub const LIVE: &str = "live";
    pub const DELETED: &str = "deleted";
    /// A moderator deleted the copy in Discord: we leave it deleted (see the worker).
    pub const REMOVED: &str = "removed";
}

/// The target channels a source channel is mirrored to, cached for one ingest request.
#[derive(Default)]
pub struct Targets(HashMap<i64, Vec<i64>>);

impl Targets {
    pub async fn of(&mut self, db: &impl ConnectionTrait, source_channel_id: i64) -> Result<Vec<i64>, DbErr> {
        if let Some(t) = self.0.get(&source_channel_id) {
            return Ok(t.clone());
        }
        let mapped: Vec<i64> = channel_mapping::Entity::find()
            .filter(channel_mapping::Column::SourceChannelId.eq(source_channel_id))
            .all(db)
            .await?
            .into_iter()
            .map(|m| m.target_channel_id)
            .collect();
        let targets = if mapped.is_empty() {
            mapped
        } else {
            // Mapping and tier changes refuse a mapping that would leak; this is the last word
            // for one that slipped through between two admins' concurrent changes.
            let tiers = crate::entitlements::tiers(db).await?;
            let channels: HashMap<i64, channel::Model> = channel::Entity::find()
                .filter(channel::Column::Id.is_in(mapped.iter().copied().chain([source_channel_id])))
                .all(db)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect();
            let gate = |id: i64| channels.get(&id).map(|c| channel_tiers::required(c, &tiers));
            mapped
                .into_iter()
                .filter(|t| match (gate(source_channel_id), gate(*t)) {
                    (Some(s), Some(t)) => channel_tiers::may_mirror(s, t),
                    _ => false,
                })
                .collect()
        };
        self.0.insert(source_channel_id, targets.clone());
        Ok(targets)
    }
}

/// Queues the copy of `signal_id` in each target (call in the ingest transaction). Returns how
/// many jobs it queued.
pub async fn queue(
    db: &impl ConnectionTrait,
    signal_id: i64,
    targets: &[i64],
    op: MirrorOp,
    source_at: Option<DateTime<Utc>>,
) -> Result<usize, DbErr> {
    let now = Utc::now();
    for &target in targets {
        let job = MirrorJob {
            signal_id,
            target_channel_id: target,
        };
        match copy_of(db, &job).await? {
            None => {
                mirror_copy::ActiveModel {
                    signal_id: Set(signal_id),
                    target_channel_id: Set(target),
                    state: Set(state::PENDING.into()),
                    message_ids: Set("[]".into()),
                    sent_hash: Set(None),
                    part_hashes: Set(None),
                    last_op: Set(op.as_str().into()),
                    last_error: Set(None),
                    source_at: Set(source_at),
                    accepted_at: Set(now),
                    claimed_at: Set(None),
                    answered_at: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(db)
                .await?;
            }
            Some(copy) => {
                let mut active: mirror_copy::ActiveModel = copy.into();
                active.last_op = Set(op.as_str().into());
                active.source_at = Set(source_at);
                active.accepted_at = Set(now);
                active.claimed_at = Set(None);
                active.answered_at = Set(None);
                active.updated_at = Set(now);
                active.update(db).await?;
            }
        }
        let payload = serde_json::to_value(job).expect("a mirror job serialises");
        jobs::enqueue(db, JobKind::Mirror, Some(&job.unique_key()), &payload, now).await?;
    }
    Ok(targets.len())
}

pub async fn copy_of(db: &impl ConnectionTrait, job: &MirrorJob) -> Result<Option<mirror_copy::Model>, DbErr> {
    mirror_copy::Entity::find()
        .filter(mirror_copy::Column::SignalId.eq(job.signal_id))
        .filter(mirror_copy::Column::TargetChannelId.eq(job.target_channel_id))
        .one(db)
        .await
}

/// The Discord message ids a copy is made of.
pub fn message_ids(copy: &mirror_copy::Model) -> Vec<u64> {
    serde_json::from_str::<Vec<String>>(&copy.message_ids)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Each message's fingerprint as last sent (empty for copies made before they were kept).
pub fn part_hashes(copy: &mirror_copy::Model) -> Vec<String> {
    copy.part_hashes
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default()
}

/// The signal's stored attachments as a copy carries them (in the signal's order), and whether
/// some are still being fetched.
pub async fn files_of(
    db: &impl ConnectionTrait,
    signal: &entity::signal::Model,
    public_url: &url::Url,
) -> Result<(Vec<render::FileRef>, bool), DbErr> {
    let listed: Vec<crate::ingest::attachment::Attachment> =
        serde_json::from_str(&signal.attachments_json).unwrap_or_default();
    let records = crate::attachment_store::records(db, &[signal.id]).await?;
    let mut pending = false;
    let mut files = Vec::new();
    for a in listed {
        let Some(r) = a.id.parse::<i64>().ok().and_then(|id| records.get(&(signal.id, id))) else {
            continue;
        };
        match (r.state.as_str(), &r.sha256) {
            (crate::attachment_store::state::STORED, Some(sha)) => files.push(render::FileRef {
                sha256: sha.clone(),
                filename: a.filename,
                size: r.size.unwrap_or_default().max(0) as u64,
                link: public_url
                    .join(&crate::attachment_store::served_path(signal.id, r.attachment_id))
                    .map_or_else(|_| String::new(), |u| u.to_string()),
            }),
            (crate::attachment_store::state::PENDING, _) => pending = true,
            _ => {}
        }
    }
    Ok((files, pending))
}

/// Changes to a copy, written as the worker goes (each right after Discord's answer).
#[derive(Debug, Default)]
pub struct CopyUpdate {
    pub state: Option<&'static str>,
    pub message_ids: Option<Vec<u64>>,
    pub part_hashes: Option<Vec<String>>,
    pub sent_hash: Option<Option<String>>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub last_error: Option<Option<String>>,
    /// With `answered_at`: the operation that was answered, as the worker found it when it
    /// claimed the job (a newer change queued meanwhile is another operation).
    pub delivered: Option<Delivered>,
}

/// The operation a job applied, with its hops before Discord's answer.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub op: String,
    pub source_at: Option<DateTime<Utc>>,
    pub accepted_at: DateTime<Utc>,
    pub claimed_at: Option<DateTime<Utc>>,
}

impl Delivered {
    /// The operation `copy` was asked for, claimed at `claimed_at`.
    pub fn of(copy: &mirror_copy::Model, claimed_at: DateTime<Utc>) -> Self {
        Self {
            op: copy.last_op.clone(),
            source_at: copy.source_at,
            accepted_at: copy.accepted_at,
            claimed_at: Some(claimed_at),
        }
    }
}

pub async fn update_copy(db: &impl ConnectionTrait, id: i64, change: CopyUpdate) -> Result<(), DbErr> {
    let mut active = mirror_copy::ActiveModel {
        id: Set(id),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    if let Some(s) = change.state {
        active.state = Set(s.into());
    }
    if let Some(ids) = change.message_ids {
        let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
        active.message_ids = Set(serde_json::to_string(&ids).expect("ids serialise"));
    }
    if let Some(p) = change.part_hashes {
        active.part_hashes = Set(Some(serde_json::to_string(&p).expect("hashes serialise")));
    }
    if let Some(h) = change.sent_hash {
        active.sent_hash = Set(h);
    }
    if let Some(t) = change.claimed_at {
        active.claimed_at = Set(Some(t));
    }
    if let Some(t) = change.answered_at {
        active.answered_at = Set(Some(t));
        // Discord answered an operation: one row of the ledger's history.
        let delivered = match change.delivered {
            Some(d) => Some(d),
            None => mirror_copy::Entity::find_by_id(id)
                .one(db)
                .await?
                .map(|c| Delivered::of(&c, c.claimed_at.unwrap_or(t))),
        };
        if let Some(d) = delivered {
            entity::mirror_delivery::ActiveModel {
                copy_id: Set(id),
                op: Set(d.op),
                source_at: Set(d.source_at),
                accepted_at: Set(d.accepted_at),
                claimed_at: Set(d.claimed_at),
                answered_at: Set(t),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    if let Some(e) = change.last_error {
        active.last_error = Set(e);
    }
    active.update(db).await?;
    Ok(())
}
