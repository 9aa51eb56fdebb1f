//! One reader of the feed log per process, fanning out to every websocket follower.
//!
//! When ingest commits (a wake-up from this process or, on PostgreSQL, from another one through
//! the feed listener), the hub reads what changed once, serialises each event once, and
//! broadcasts the frames as one shared [`Batch`]. Followers only copy the shared bytes to their
//! socket: one event costs one query and one serialisation whatever the number of clients
//! (each connection reading the log itself made it N of each — see `docs/benchmarks.md`).
//!
//! Batches carry the feed-log range they cover, `(after, upto]`, so a follower can tell that it
//! missed one (it subscribed late, or fell more than [`CAPACITY`] batches behind while its socket
//! was slow) and read that gap from the feed log itself. Nothing is lost, and the hub never waits
//! for anyone: the broadcast ring is bounded and shared, a lagging receiver just skips ahead.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use domain::AppContext;
use domain::feed::view::{self, FeedEvent};
use serde_json::json;
use tokio::sync::{broadcast, watch};

/// Batches kept for followers that are momentarily behind.
pub const CAPACITY: usize = 256;
/// Feed-log rows read per query.
pub const PAGE: u64 = 500;
const RETRY: Duration = Duration::from_millis(200);

/// One serialised event, the same bytes for every follower.
#[derive(Debug, Clone)]
pub struct Frame {
    pub seq: i64,
    pub text: Utf8Bytes,
    /// The rank the event's channel asks for: each follower checks it against its own tier.
    pub required: Option<i32>,
}

/// Every visible change in the feed-log range `(after, upto]` (rows of channels that are not a
/// source are in the range but have no frame).
#[derive(Debug)]
pub struct Batch {
    pub after: i64,
    pub upto: i64,
    pub frames: Vec<Frame>,
}

/// The websocket envelope of one event; the only place it is written.
pub fn frame(event: &FeedEvent) -> Frame {
    let text = json!({"type": "event", "seq": event.seq, "op": event.op, "signal": event.signal}).to_string();
    Frame {
        seq: event.seq,
        text: text.into(),
        required: event.required,
    }
}

/// Reads the feed-log page after `after`: `None` when nothing was committed past it.
pub async fn read(ctx: &AppContext, after: i64) -> Result<Option<Batch>, sea_orm::DbErr> {
    let (events, scanned) = view::events_after(&ctx.db, after, PAGE).await?;
    if scanned <= after {
        return Ok(None);
    }
    Ok(Some(Batch {
        after,
        upto: scanned,
        frames: events.iter().map(frame).collect(),
    }))
}

#[derive(Clone)]
pub struct FeedHub {
    batches: broadcast::Sender<Arc<Batch>>,
}

impl FeedHub {
    /// Subscribe *before* reading where the feed stands, so no batch falls in between.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        self.batches.subscribe()
    }

    /// Starts the reader; it stops when `stop` turns true.
    pub fn spawn(ctx: AppContext, mut stop: watch::Receiver<bool>) -> (Self, tokio::task::JoinHandle<()>) {
        let (batches, _) = broadcast::channel(CAPACITY);
        let hub = Self { batches };
        let sender = hub.batches.clone();
        // Subscribed here, not in the task, so a commit right after start-up still wakes it.
        let mut wake = ctx.feed.subscribe();
        let task = tokio::spawn(async move {
            let mut last = loop {
                match view::head(&ctx.db).await {
                    Ok(h) => break h,
                    Err(e) => {
                        tracing::warn!(error = %e, "feed hub cannot read the feed head; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(RETRY) => {}
                            _ = stop.changed() => return,
                        }
                    }
                }
            };
            let mut behind = false;
            loop {
                if !behind {
                    tokio::select! {
                        woke = wake.recv() => match woke {
                            Ok(seq) if seq <= last => continue,
                            // Nobody follows: only remember where the feed stands. A follower
                            // subscribing now reads the log up to at least `seq` itself.
                            Ok(seq) if sender.receiver_count() == 0 => {
                                last = seq;
                                continue;
                            }
                            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                        _ = stop.changed() => return,
                    }
                }
                match read(&ctx, last).await {
                    Ok(Some(batch)) => {
                        last = batch.upto;
                        // A full page may have more behind it.
                        behind = batch.upto - batch.after >= PAGE as i64;
                        // No receiver is fine: nobody follows right now.
                        let _ = sender.send(Arc::new(batch));
                    }
                    Ok(None) => behind = false,
                    Err(e) => {
                        tracing::warn!(error = %e, "feed hub cannot read the feed log; retrying");
                        behind = true;
                        tokio::select! {
                            _ = tokio::time::sleep(RETRY) => {}
                            _ = stop.changed() => return,
                        }
                    }
                }
            }
        });
        (hub, task)
    }
}
