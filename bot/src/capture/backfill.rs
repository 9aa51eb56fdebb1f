//! Reading what the live stream missed. After every new session (and on a periodic sweep, a net
//! under anything a dispatch failed to store) each Source channel and each known thread under
//! one is read with `GET /channels/{id}/messages?after=<cursor>`, oldest first, a page at a time
//! through the process's rate limiter, and ingested as creates — ingest is idempotent, so the
//! overlap with live events costs nothing. The cursor moves only after a page is stored. After a
//! new session's backfill the newest messages are re-checked: what we hold as live but Discord no
//! longer has was deleted while nobody listened.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use domain::capture::discord::{self, Converted, Place};
use domain::capture::{self, cursor, recheck};

use super::handler::Shared;
use crate::discord_api::{ApiError, Page, codes};

const PAGE: u8 = 100;

/// One reader of a channel's history at a time. A new session's backfill and the periodic sweep
/// may come due together; both would read the same pages from the same cursor and spend the
/// rate limit twice (measured: 150 page reads instead of 100 for 10,000 messages). The second
/// waits, then reads from where the first moved the cursor.
#[derive(Default)]
pub struct Readers(Mutex<HashMap<u64, Arc<tokio::sync::Mutex<()>>>>);

impl Readers {
    async fn reading(&self, channel: u64) -> tokio::sync::OwnedMutexGuard<()> {
        let lane = self.0.lock().unwrap().entry(channel).or_default().clone();
        lane.lock_owned().await
    }
}

/// Backfills every Source channel (and known thread) of `guild`; `recheck` after a new session.
pub async fn guild(s: &Shared, guild: u64, recheck: bool) {
    for (id, place) in s.sources.of_guild(guild) {
        match channel(s, id, place).await {
            Ok(read) => {
                tracing::debug!(channel = id, read, "backfilled");
                if recheck
                    && s.settings.recheck_messages > 0
                    && let Err(e) = recheck_channel(s, id, place).await
                {
                    tracing::warn!(channel = id, error = %e, "re-check failed");
                }
            }
            Err(e) => tracing::warn!(channel = id, error = %e, "backfill failed; the next sweep tries again"),
        }
    }
}

/// A REST read that sits out rate limits (the limiter said how long) and records whether the
/// bot may read the channel at all.
async fn read(
    s: &Shared,
    id: u64,
    place: Place,
    page: Page,
    limit: u8,
) -> Result<Option<Vec<serde_json::Value>>, String> {
    loop {
        match s.api.messages(id, page, limit).await {
            Ok(page) => {
                if place.thread_id.is_none() {
                    let _ = capture::set_channel_warning(&s.db, id as i64, None).await;
                }
                return Ok(Some(page));
            }
            Err(ApiError::RateLimited(wait)) => tokio::time::sleep(wait.max(Duration::from_millis(50))).await,
            Err(ApiError::Refused { code, .. })
                if code == codes::MISSING_ACCESS || code == codes::MISSING_PERMISSIONS =>
            {
                let channel = place.channel_id as i64;
                let _ = capture::set_channel_warning(&s.db, channel, Some(capture::CANNOT_READ)).await;
                return Ok(None);
            }
            Err(ApiError::Refused { code, .. }) if code == codes::UNKNOWN_CHANNEL => return Ok(None),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn id_of(m: &serde_json::Value) -> u64 {
    m["id"].as_str().and_then(|i| i.parse().ok()).unwrap_or(0)
}

/// Reads and stores everything after the cursor; returns how many messages it read. A channel
/// without a cursor (flagged Source before the capture kept cursors, or a thread first seen
/// now) starts from a minute ago, never from its whole history: that would post old signals to
/// customers as if new.
pub async fn channel(s: &Shared, id: u64, place: Place) -> Result<usize, String> {
    let _reading = s.readers.reading(id).await;
    let mut after = match cursor::of(&s.db, id as i64).await.map_err(|e| e.to_string())? {
        Some(c) => c as u64,
        None => {
            cursor::start(&s.db, id as i64, Utc::now())
                .await
                .map_err(|e| e.to_string())?;
            recheck::snowflake_at(Utc::now() - cursor::START_MARGIN) as u64
        }
    };
    let mut total = 0;
    loop {
        let Some(page) = read(s, id, place, Page::After(after), PAGE).await? else {
            return Ok(total);
        };
        let events: Vec<serde_json::Value> = page
            .iter()
            .filter_map(|m| match s.created(m, place) {
                Converted::Event(e) => Some(e),
                _ => None,
            })
            .collect();
        total += events.len();
        s.ingest(events, None).await?;
        let full = page.len() == usize::from(PAGE);
        if let Some(newest) = page.iter().map(id_of).max() {
            cursor::advance(&s.db, id as i64, newest as i64, !full)
                .await
                .map_err(|e| e.to_string())?;
            after = newest;
        }
        if !full {
            return Ok(total);
        }
    }
}

/// Re-reads the channel's newest messages (up to `recheck_messages`, a page of 100 at a time):
/// each is ingested as an update (an edit made while capture was down wins by its timestamp),
/// and what we hold as live in the span read but Discord no longer has is marked deleted.
async fn recheck_channel(s: &Shared, id: u64, place: Place) -> Result<(), String> {
    let asked = s.settings.recheck_messages;
    let read_at = Utc::now();
    let mut read_back: Vec<serde_json::Value> = Vec::new();
    let mut before: Option<u64> = None;
    while read_back.len() < asked {
        let limit = (asked - read_back.len()).min(usize::from(PAGE)) as u8;
        let Some(page) = read(s, id, place, before.map_or(Page::Newest, Page::Before), limit).await? else {
            return Ok(());
        };
        let short = page.len() < usize::from(limit);
        before = page.iter().map(id_of).min();
        read_back.extend(page);
        if short {
            break;
        }
    }
    let present: Vec<i64> = read_back.iter().map(|m| id_of(m) as i64).collect();
    let span = recheck::Span::of(&present, asked, read_at);
    let live = recheck::live_ids(&s.db, place.channel_id as i64, place.thread_id.map(|t| t as i64), span)
        .await
        .map_err(|e| e.to_string())?;
    // Edits of messages we hold (never an import of history we do not hold).
    let held: std::collections::HashSet<i64> = live.iter().copied().collect();
    let updates: Vec<serde_json::Value> = read_back
        .iter()
        .filter(|m| held.contains(&(id_of(m) as i64)))
        .filter_map(|m| match s.created(m, place) {
            Converted::Event(mut e) => {
                e["type"] = "message_update".into();
                Some(e)
            }
            _ => None,
        })
        .collect();
    s.ingest(updates, None).await?;
    let gone = recheck::vanished(&live, &present, span);
    if gone.is_empty() {
        return Ok(());
    }
    tracing::info!(
        channel = id,
        gone = gone.len(),
        "re-check: messages deleted while capture was down"
    );
    let ids: Vec<u64> = gone.iter().map(|g| *g as u64).collect();
    let events = ids
        .chunks(domain::ingest::event::BULK_DELETE_MAX)
        .map(|c| discord::deleted(place, c, read_at))
        .collect();
    s.ingest(events, Some(recheck::REASON)).await.map(|_| ())
}

/// Reads every Source channel of every guild the session recorded after its cursor.
pub async fn sweep(s: &Shared) {
    if let Some(c) = s.connector().await {
        s.sources.refresh(&s.db, &c, Duration::ZERO).await;
    }
    for g in s.guild_ids() {
        guild(s, g, false).await;
    }
}
