//! Runs a `mirror` job: bring one signal's copy in one target channel in line with the signal
//! as it is now — post it, edit it (adding or removing follow-up messages), or delete every
//! message of it. Each Discord message id is recorded right after Discord's answer, under the
//! job's current claim; every post carries a nonce Discord enforces, so the retry of a post
//! whose answer was lost (a crash, a timeout) gets the same message back, never a second one.
//!
//! A copy a moderator deleted in the target channel (10008 when we edit its first message)
//! stays deleted: the moderator removed it on purpose, and putting it back would fight them.
//! Its follow-up messages go too, and later edits leave it alone (state `removed`). A deleted
//! follow-up alone is posted again, since the copy would otherwise be incomplete.

use chrono::Utc;
use domain::blobs::BlobStore;
use domain::jobs::worker::Outcome;
use domain::jobs::{self, Claimed};
use domain::mirror::render::{self, Source};
use domain::mirror::{self, CopyUpdate, Delivered, MirrorJob, state};
use entity::{mirror_copy, signal};
use sea_orm::{DatabaseConnection, EntityTrait};

use crate::discord_api::{ApiError, DiscordApi, Upload, codes};

/// What a mirror job needs besides the database and Discord: the stored attachments it uploads,
/// and our origin for links to files too large to upload.
#[derive(Clone)]
pub struct Files {
    pub blobs: BlobStore,
    pub public_url: url::Url,
}

/// How long a copy waits for its attachments to be stored before going out without the ones
/// still missing (the server fetches them; it may be down).
const FILES_WAIT: chrono::Duration = chrono::Duration::seconds(60);

enum Failure {
    Api(ApiError),
    Db(String),
    /// Our claim was taken over: stop without touching anything more.
    Lost,
    /// Something the copy needs is on its way (its attachments being stored, its thread being
    /// made by another worker).
    Waiting(&'static str),
    /// A stored attachment cannot be read from the blob store.
    Blob(String),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl From<sea_orm::DbErr> for Failure {
    fn from(e: sea_orm::DbErr) -> Self {
        Failure::Db(e.to_string())
    }
}

pub async fn run(db: &DatabaseConnection, api: &DiscordApi, files: &Files, claimed: &Claimed) -> Outcome {
    let job: MirrorJob = match serde_json::from_str(&claimed.job.payload) {
        Ok(j) => j,
        Err(e) => return Outcome::Dead(format!("unreadable mirror job: {e}")),
    };
    match converge(db, api, files, claimed, &job).await {
        Ok(()) => Outcome::Done,
        Err(Failure::Waiting(reason)) => Outcome::Wait {
            reason: reason.into(),
            after: chrono::Duration::milliseconds(500),
        },
        Err(Failure::Blob(e)) => Outcome::Retry {
            error: format!("blob store: {e}"),
            after: None,
        },
        Err(Failure::Lost) => Outcome::Retry {
            error: "the job was claimed again while this worker held it".into(),
            after: None,
        },
        Err(Failure::Db(e)) => Outcome::Retry {
            error: format!("database: {e}"),
            after: None,
        },
        Err(Failure::Api(e)) => classify(e),
    }
}

/// Lost access to the target channel is a configuration fault (dead at once, the error names
/// the fix); the rest is what role sync does with Discord's answers.
fn classify(e: ApiError) -> Outcome {
    match e {
        ApiError::Refused { code, message, .. }
            if matches!(
                code,
                codes::MISSING_PERMISSIONS | codes::MISSING_ACCESS | codes::UNKNOWN_CHANNEL
            ) =>
        {
            Outcome::Dead(format!(
                "Discord: {message} ({code}). Fix: the bot lost access to the target channel — give it View Channel, Send Messages, Embed Links and Attach Files there (or remove the mapping on /admin/channels), then press Retry."
            ))
        }
        other => crate::role_sync::classify(other),
    }
}

/// Records a change to the copy, only while the claim is still ours.
async fn record(db: &DatabaseConnection, claimed: &Claimed, copy: i64, change: CopyUpdate) -> Result<(), Failure> {
    let txn = domain::database::begin_write(db).await?;
    if jobs::still_held(&txn, claimed).await.is_err() {
        return Err(Failure::Lost);
    }
    mirror::update_copy(&txn, copy, change).await?;
    txn.commit().await?;
    Ok(())
}

async fn converge(
    db: &DatabaseConnection,
    api: &DiscordApi,
    files: &Files,
    claimed: &Claimed,
    job: &MirrorJob,
) -> Result<(), Failure> {
    let Some(copy) = mirror::copy_of(db, job).await? else {
        return Ok(());
    };
    let Some(signal) = signal::Entity::find_by_id(job.signal_id).one(db).await? else {
        return Ok(());
    };
    let claimed_at = claimed.job.claimed_at.unwrap_or_else(Utc::now);
    record(
        db,
        claimed,
        copy.id,
        CopyUpdate {
            claimed_at: Some(claimed_at),
            ..Default::default()
        },
    )
    .await?;
    let mut ids = mirror::message_ids(&copy);

    if signal.deleted_at.is_some() || copy.state == state::REMOVED {
        // Its messages are where they were made: the target, or the thread made there.
        let channel = match signal.thread_id {
            Some(t) if !ids.is_empty() => mirror::thread::made_for(db, t, job.target_channel_id)
                .await?
                .unwrap_or(job.target_channel_id) as u64,
            _ => job.target_channel_id as u64,
        };
        return delete_all(
            db,
            api,
            claimed,
            &copy,
            channel,
            &mut ids,
            if copy.state == state::REMOVED {
                state::REMOVED
            } else {
                state::DELETED
            },
        )
        .await;
    }

    let (stored, pending) = mirror::files_of(db, &signal, &files.public_url).await?;
    if pending && Utc::now() - signal.updated_at < FILES_WAIT {
        return Err(Failure::Waiting("waiting for the signal's attachments to be stored"));
    }
    let embeds: Vec<serde_json::Value> = serde_json::from_str(&signal.embeds_json).unwrap_or_default();
    let parts = render::copy(&Source {
        files: &stored,
        author_name: &signal.author_name,
        author_id: signal.author_id,
        author_avatar: signal.author_avatar.as_deref(),
        posted_at: signal.posted_at,
        content: &signal.content,
        embeds: &embeds,
    });
    let hash = render::hash(&parts);
    if !ids.is_empty() && copy.sent_hash.as_deref() == Some(hash.as_str()) && ids.len() == parts.len() {
        // Already says this (a repeated or coalesced job).
        return record(db, claimed, copy.id, answered(&copy, claimed, state::LIVE)).await;
    }
    let target = channel_for(db, api, &signal, job).await?;
    let mut sent = mirror::part_hashes(&copy);
    sent.resize(ids.len(), String::new());
    for (i, part) in parts.iter().enumerate() {
        let fingerprint = part.fingerprint();
        if let Some(&existing) = ids.get(i) {
            if sent[i] == fingerprint {
                // This message already says this: no call.
                continue;
            }
            if render::is_file_message(&fingerprint) || render::is_file_message(&sent[i]) {
                // Uploads cannot be edited into other files: this message goes, the new one is
                // posted in its place (recorded in between, so a crash leaves no stray copy).
                match api.delete_message(target, existing).await {
                    Ok(())
                    | Err(ApiError::Refused {
                        code: codes::UNKNOWN_MESSAGE,
                        ..
                    }) => {}
                    Err(e) => return Err(e.into()),
                }
                ids.truncate(i);
                sent.truncate(i);
                record(
                    db,
                    claimed,
                    copy.id,
                    CopyUpdate {
                        message_ids: Some(ids.clone()),
                        part_hashes: Some(sent.clone()),
                        ..Default::default()
                    },
                )
                .await?;
                // Later messages follow this one: they go too and are posted again after it.
                trim(db, api, claimed, &copy, target, &mut ids, i).await?;
            } else {
                match api.edit_message(target, existing, &part.body(None)).await {
                    Ok(()) => {
                        sent[i] = fingerprint;
                        record_parts(db, claimed, copy.id, &ids, &sent).await?;
                        continue;
                    }
                    Err(ApiError::Refused {
                        code: codes::UNKNOWN_MESSAGE,
                        ..
                    }) if i == 0 => {
                        // A moderator deleted the copy: it stays deleted (see the module's note).
                        ids.remove(0);
                        return delete_all(db, api, claimed, &copy, target, &mut ids, state::REMOVED).await;
                    }
                    Err(ApiError::Refused {
                        code: codes::UNKNOWN_MESSAGE,
                        ..
                    }) => {
                        ids[i] = post(api, files, job, target, i, part, &fingerprint).await?;
                        sent[i] = fingerprint;
                        record_parts(db, claimed, copy.id, &ids, &sent).await?;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let id = post(api, files, job, target, i, part, &fingerprint).await?;
        ids.push(id);
        sent.truncate(i);
        sent.push(fingerprint);
        record_parts(db, claimed, copy.id, &ids, &sent).await?;
    }
    // Follow-ups the new version no longer needs.
    trim(db, api, claimed, &copy, target, &mut ids, parts.len()).await?;
    sent.truncate(ids.len());
    record(
        db,
        claimed,
        copy.id,
        CopyUpdate {
            message_ids: Some(ids),
            part_hashes: Some(sent),
            sent_hash: Some(Some(hash)),
            ..answered(&copy, claimed, state::LIVE)
        },
    )
    .await
}

/// The Discord channel the copy lives in: the target, or — for a message in a source thread —
/// the thread made for it in the target, made now if this is the first copy that needs it.
async fn channel_for(
    db: &DatabaseConnection,
    api: &DiscordApi,
    signal: &signal::Model,
    job: &MirrorJob,
) -> Result<u64, Failure> {
    use domain::mirror::thread::{self, Slot};
    let Some(source_thread) = signal.thread_id else {
        return Ok(job.target_channel_id as u64);
    };
    match thread::slot(db, source_thread, job.target_channel_id).await? {
        Slot::Ready(t) => Ok(t as u64),
        Slot::Wait => Err(Failure::Waiting("waiting for another worker to make the thread")),
        Slot::Make(row) => {
            let name = entity::signal_thread::Entity::find_by_id(source_thread)
                .one(db)
                .await?
                .map(|t| t.name)
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| "Thread".into());
            let name: String = name.chars().take(100).collect();
            match api.create_thread(job.target_channel_id as u64, &name).await {
                Ok(id) => {
                    thread::made(db, row, id as i64).await?;
                    Ok(id)
                }
                Err(e) => {
                    // Let the next attempt (ours or another worker's) make it without waiting.
                    thread::release(db, row).await?;
                    Err(e.into())
                }
            }
        }
    }
}

/// The record of an operation Discord has answered: the copy's new state, no error, and the
/// ledger's row for the operation as the job found it when it claimed it.
fn answered(copy: &mirror_copy::Model, claimed: &Claimed, state: &'static str) -> CopyUpdate {
    CopyUpdate {
        state: Some(state),
        answered_at: Some(Utc::now()),
        delivered: Some(Delivered::of(copy, claimed.job.claimed_at.unwrap_or_else(Utc::now))),
        last_error: Some(None),
        ..Default::default()
    }
}

/// Records the copy's messages and what each says, right after Discord's answer.
async fn record_parts(
    db: &DatabaseConnection,
    claimed: &Claimed,
    copy: i64,
    ids: &[u64],
    sent: &[String],
) -> Result<(), Failure> {
    record(
        db,
        claimed,
        copy,
        CopyUpdate {
            message_ids: Some(ids.to_vec()),
            part_hashes: Some(sent.to_vec()),
            ..Default::default()
        },
    )
    .await
}

/// Posts part `i` of the copy — with its uploads, read from the blob store — under its nonce,
/// so a retry after a lost answer gets the same message back.
async fn post(
    api: &DiscordApi,
    files: &Files,
    job: &MirrorJob,
    target: u64,
    i: usize,
    part: &render::OutMessage,
    fingerprint: &str,
) -> Result<u64, Failure> {
    if part.files.is_empty() {
        let nonce = render::nonce(job.signal_id, job.target_channel_id, i);
        return Ok(api.create_message(target, &part.body(Some(&nonce))).await?);
    }
    let mut uploads = Vec::with_capacity(part.files.len());
    for f in &part.files {
        let data = match files.blobs.get(&f.sha256).await {
            Ok(Some(b)) => b.to_vec(),
            Ok(None) => return Err(Failure::Blob(format!("{} is missing from the blob store", f.sha256))),
            Err(e) => return Err(Failure::Blob(e.to_string())),
        };
        uploads.push(Upload {
            filename: f.filename.clone(),
            data,
        });
    }
    let nonce = render::file_nonce(job.signal_id, job.target_channel_id, i, fingerprint);
    Ok(api
        .create_message_with_files(target, &part.body(Some(&nonce)), uploads)
        .await?)
}

/// Deletes every message of the copy, then records its end state.
async fn delete_all(
    db: &DatabaseConnection,
    api: &DiscordApi,
    claimed: &Claimed,
    copy: &mirror_copy::Model,
    channel: u64,
    ids: &mut Vec<u64>,
    end: &'static str,
) -> Result<(), Failure> {
    trim(db, api, claimed, copy, channel, ids, 0).await?;
    record(
        db,
        claimed,
        copy.id,
        CopyUpdate {
            sent_hash: Some(None),
            ..answered(copy, claimed, end)
        },
    )
    .await
}

/// Deletes the copy's messages beyond the first `keep`, newest first, recording what is left
/// after each (a message already gone — a moderator, or our own earlier attempt — counts as
/// deleted).
async fn trim(
    db: &DatabaseConnection,
    api: &DiscordApi,
    claimed: &Claimed,
    copy: &mirror_copy::Model,
    channel: u64,
    ids: &mut Vec<u64>,
    keep: usize,
) -> Result<(), Failure> {
    let target = channel;
    while ids.len() > keep {
        let last = *ids.last().expect("longer than keep");
        match api.delete_message(target, last).await {
            Ok(())
            | Err(ApiError::Refused {
                code: codes::UNKNOWN_MESSAGE,
                ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
        ids.pop();
        record(
            db,
            claimed,
            copy.id,
            CopyUpdate {
                message_ids: Some(ids.clone()),
                ..Default::default()
            },
        )
        .await?;
    }
    Ok(())
}
