//! Durable attachments. Discord's CDN links expire within about a day, so every attachment the
//! attachment rules would show is fetched once, right after ingest, from the allowed sources
//! (`fetch`), checked by its bytes (`sniff`), and kept in the blob store under its SHA-256
//! (`crate::blobs`). The dashboard links to our own copy, served only to customers who may read
//! the signal; the mirror uploads it. A fetch that fails keeps the signal, marks the attachment
//! `unavailable` with the reason, and is retried with backoff when a retry can help.
//!
//! The fetch runs as an `attachment_fetch` job (one per signal, queued in the ingest
//! transaction), in the server processes: they hold the blob store the files are served from.

pub mod fetch;
pub mod sniff;

use std::collections::HashMap;

use chrono::Utc;
use entity::attachment_blob;
use entity::job::JobKind;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};
use serde::{Deserialize, Serialize};

use crate::blobs::BlobStore;
use crate::feed::Feed;
use crate::feed::attachment_view::{self, Display};
use crate::ingest::attachment::Attachment;
use crate::jobs::{self, Claimed, worker::Outcome};

/// An attachment's state.
pub mod state {
    pub const PENDING: &str = "pending";
    pub const STORED: &str = "stored";
    pub const UNAVAILABLE: &str = "unavailable";
}

/// What an `attachment_fetch` job names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchJob {
    pub signal_id: i64,
}

impl FetchJob {
    pub fn unique_key(&self) -> String {
        format!("signal:{}", self.signal_id)
    }
}

/// Whether the attachment rules let customers have this file at all (blocked ones never get a
/// link, so they are never fetched).
pub fn wanted(a: &Attachment) -> bool {
    attachment_view::display(a) != Display::Blocked
}

/// Records the signal's attachments as pending and queues their fetch (call in the ingest
/// transaction). Attachments already known keep their state: an edit does not fetch again.
pub async fn queue(db: &impl ConnectionTrait, signal_id: i64, attachments: &[Attachment]) -> Result<bool, DbErr> {
    let now = Utc::now();
    let rows: Vec<attachment_blob::ActiveModel> = attachments
        .iter()
        .filter(|a| wanted(a))
        .filter_map(|a| {
            Some(attachment_blob::ActiveModel {
                signal_id: Set(signal_id),
                attachment_id: Set(a.id.parse().ok()?),
                source_url: Set(a.url.clone()),
                state: Set(state::PENDING.into()),
                attempts: Set(0),
                updated_at: Set(now),
                ..Default::default()
            })
        })
        .collect();
    if rows.is_empty() {
        return Ok(false);
    }
    attachment_blob::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([attachment_blob::Column::SignalId, attachment_blob::Column::AttachmentId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let job = FetchJob { signal_id };
    let payload = serde_json::to_value(job).expect("a fetch job serialises");
    jobs::enqueue(db, JobKind::AttachmentFetch, Some(&job.unique_key()), &payload, now).await?;
    Ok(true)
}

/// The records of these signals' attachments, by (signal, attachment id).
pub async fn records(
    db: &impl ConnectionTrait,
    signal_ids: &[i64],
) -> Result<HashMap<(i64, i64), attachment_blob::Model>, DbErr> {
    if signal_ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(attachment_blob::Entity::find()
        .filter(attachment_blob::Column::SignalId.is_in(signal_ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| ((r.signal_id, r.attachment_id), r))
        .collect())
}

/// Where the dashboard gets a stored attachment: our own origin, authorised per request.
pub fn served_path(signal_id: i64, attachment_id: i64) -> String {
    format!("/attachments/{signal_id}/{attachment_id}")
}

/// Fetches every attachment of the job's signal not stored yet. Refusals (markup, a lying type,
/// too large, a redirect off the allowlist) are final; failures a retry can fix retry the job.
pub async fn run(
    db: &DatabaseConnection,
    feed: &Feed,
    blobs: &BlobStore,
    fetcher: &fetch::Fetcher,
    job: &Claimed,
) -> Outcome {
    let Ok(FetchJob { signal_id }) = serde_json::from_str::<FetchJob>(&job.job.payload) else {
        return Outcome::Dead("unreadable attachment_fetch payload".into());
    };
    match fetch_signal(db, feed, blobs, fetcher, signal_id).await {
        Ok(None) => Outcome::Done,
        Ok(Some(error)) => Outcome::Retry { error, after: None },
        Err(e) => Outcome::Retry {
            error: format!("database: {e}"),
            after: None,
        },
    }
}

/// `Ok(Some(reason))`: something may work on a retry.
async fn fetch_signal(
    db: &DatabaseConnection,
    feed: &Feed,
    blobs: &BlobStore,
    fetcher: &fetch::Fetcher,
    signal_id: i64,
) -> Result<Option<String>, DbErr> {
    let Some(signal) = entity::signal::Entity::find_by_id(signal_id).one(db).await? else {
        return Ok(None);
    };
    if signal.deleted_at.is_some() {
        return Ok(None);
    }
    let attachments: Vec<Attachment> = serde_json::from_str(&signal.attachments_json).unwrap_or_default();
    let todo = attachment_blob::Entity::find()
        .filter(attachment_blob::Column::SignalId.eq(signal_id))
        .filter(attachment_blob::Column::State.ne(state::STORED))
        .all(db)
        .await?;
    let mut retry = None;
    let mut changed = false;
    let mut stored_any = false;
    for row in todo {
        // Refused for good earlier: not fetched again.
        if row.state == state::UNAVAILABLE && row.error.as_deref().is_some_and(|e| e.starts_with("refused")) {
            continue;
        }
        let Some(a) = attachments.iter().find(|a| a.id == row.attachment_id.to_string()) else {
            continue;
        };
        let mut active: attachment_blob::ActiveModel = row.clone().into();
        active.attempts = Set(row.attempts + 1);
        active.updated_at = Set(Utc::now());
        match fetcher.fetch(a).await {
            Ok(f) => {
                let size = f.bytes.len() as i64;
                match blobs.put(f.bytes).await {
                    Ok(sha) => {
                        active.state = Set(state::STORED.into());
                        active.sha256 = Set(Some(sha));
                        active.content_type = Set(Some(f.stored.content_type().into()));
                        active.size = Set(Some(size));
                        active.error = Set(None);
                        changed = true;
                        stored_any = true;
                    }
                    Err(e) => {
                        tracing::warn!(signal_id, error = %e, "cannot write an attachment to the blob store");
                        active.state = Set(state::UNAVAILABLE.into());
                        active.error = Set(Some(format!("failed: {e}")));
                        retry = Some(e.to_string());
                    }
                }
            }
            Err(e) => {
                tracing::info!(signal_id, attachment = row.attachment_id, error = %e, "attachment not stored");
                // A refusal is final: the dashboard learns it now. A failure shows as unavailable
                // until a retry stores it (then the dashboard and the mirror catch up).
                match e {
                    fetch::FetchError::Failed(_) => retry = Some(e.to_string()),
                    fetch::FetchError::Refused(_) => changed = true,
                }
                active.state = Set(state::UNAVAILABLE.into());
                active.error = Set(Some(e.to_string()));
            }
        }
        active.update(db).await?;
    }
    if changed {
        announce(db, feed, &signal).await?;
    }
    if stored_any {
        // A copy already made in Discord gets the file too: its job runs again. (A copy still
        // waiting reads the stored files when its job runs.)
        let targets: Vec<i64> = entity::mirror_copy::Entity::find()
            .filter(entity::mirror_copy::Column::SignalId.eq(signal.id))
            .filter(entity::mirror_copy::Column::State.eq(crate::mirror::state::LIVE))
            .all(db)
            .await?
            .into_iter()
            .map(|c| c.target_channel_id)
            .collect();
        if !targets.is_empty() {
            let txn = crate::database::begin_write(db).await?;
            crate::mirror::queue(
                &txn,
                signal.id,
                &targets,
                crate::mirror::MirrorOp::Update,
                signal.edited_at,
            )
            .await?;
            txn.commit().await?;
        }
    }
    Ok(retry)
}

/// Tells the live feed the signal changed (its attachments became available or unavailable), so
/// open dashboards show our copy without a reload.
async fn announce(db: &DatabaseConnection, feed: &Feed, signal: &entity::signal::Model) -> Result<(), DbErr> {
    let _order = feed.append_gate().await;
    let txn = crate::database::begin_write(db).await?;
    Feed::lock_in_transaction(&txn).await?;
    let seq = Feed::log(
        &txn,
        signal.connector_id,
        "message_updated",
        Some(signal.id),
        signal.thread_id,
    )
    .await?;
    Feed::notify_in_transaction(&txn, seq).await?;
    txn.commit().await?;
    feed.committed(seq);
    Ok(())
}

/// Why a stored attachment is not served to someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No access right now.
    NoAccess,
    /// The signal's channel is not a Source their tier opens.
    ChannelClosed,
    /// No such signal or attachment, deleted at source, or not stored.
    NotFound,
}

/// A stored attachment someone may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Servable {
    pub sha256: String,
    /// The type its bytes were checked to be (an image), or `application/octet-stream`.
    pub content_type: String,
    pub filename: String,
}

/// Whether `user_id` may have this attachment now — the same rules as reading the signal on the
/// dashboard: access at this moment, a Source channel their tier opens, not deleted at source.
pub async fn servable(
    db: &impl ConnectionTrait,
    user_id: i64,
    signal_id: i64,
    attachment_id: i64,
) -> Result<Result<Servable, Refusal>, DbErr> {
    let Some(access) = crate::entitlements::access_at(db, user_id, Utc::now()).await? else {
        return Ok(Err(Refusal::NoAccess));
    };
    let Some(signal) = entity::signal::Entity::find_by_id(signal_id)
        .one(db)
        .await?
        .filter(|s| s.deleted_at.is_none())
    else {
        return Ok(Err(Refusal::NotFound));
    };
    let tiers = crate::entitlements::tiers(db).await?;
    let channel = entity::channel::Entity::find_by_id(signal.channel_id).one(db).await?;
    let readable = channel.is_some_and(|c| {
        c.is_source && crate::channel_tiers::opens(crate::channel_tiers::required(&c, &tiers), access.tier.rank)
    });
    if !readable {
        return Ok(Err(Refusal::ChannelClosed));
    }
    let record = attachment_blob::Entity::find()
        .filter(attachment_blob::Column::SignalId.eq(signal_id))
        .filter(attachment_blob::Column::AttachmentId.eq(attachment_id))
        .filter(attachment_blob::Column::State.eq(state::STORED))
        .one(db)
        .await?;
    let attachments: Vec<Attachment> = serde_json::from_str(&signal.attachments_json).unwrap_or_default();
    let meta = attachments.into_iter().find(|a| a.id == attachment_id.to_string());
    Ok(match (record, meta) {
        (Some(r), Some(meta)) => Ok(Servable {
            sha256: r.sha256.unwrap_or_default(),
            content_type: r.content_type.unwrap_or_else(|| "application/octet-stream".into()),
            filename: meta.filename,
        }),
        _ => Err(Refusal::NotFound),
    })
}
