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
    /// The event's channel, so a replay from memory can check it against the channels as they
    /// are now (one may have stopped being a Source, or changed tier, since).
    pub channel_id: i64,
    /// When the change was committed to the feed log.
    pub logged_at: chrono::DateTime<chrono::Utc>,
}

/// Every visible change in the feed-log range `(after, upto]` (rows of channels that are not a
/// source are in the range but have no frame).
#[derive(Debug)]
pub struct Batch {
    pub after: i64,
    pub upto: i64,
    pub frames: Vec<Frame>,
    /// When the read began: frames were built from the channels as they were then.
    pub read_at: tokio::time::Instant,
}

/// The websocket envelope of one event; the only place it is written.
pub fn frame(event: &FeedEvent) -> Frame {
    let text = json!({"type": "event", "seq": event.seq, "op": event.op, "signal": event.signal}).to_string();
    Frame {
        seq: event.seq,
        text: text.into(),
        required: event.required,
        channel_id: event.signal.channel_id.parse().unwrap_or_default(),
        logged_at: event.logged_at,
    }
}

/// Reads the feed-log page after `after`: `None` when nothing was committed past it.
pub async fn read(ctx: &AppContext, after: i64) -> Result<Option<Batch>, sea_orm::DbErr> {
    let read_at = tokio::time::Instant::now();
    let (events, scanned) = view::events_after(&ctx.db, after, PAGE).await?;
    if scanned <= after {
        return Ok(None);
    }
    Ok(Some(Batch {
        after,
        upto: scanned,
        frames: events.iter().map(frame).collect(),
        read_at,
    }))
}

/// Where the hub stands and the batches it sent most recently, contiguous: a follower that
/// connects learns where to start from here, and one resuming from a recent sequence is replayed
/// from here, with no database read (a reconnect storm after a deploy is mostly such resumes).
#[derive(Debug, Default)]
struct Recent {
    /// Everything up to here has been read (and sent, if anyone followed).
    head: i64,
    /// `batches[i].upto == batches[i + 1].after`, the last one ending at `head`.
    batches: std::collections::VecDeque<Arc<Batch>>,
    /// Feed-log rows the batches span.
    rows: i64,
}

/// Feed-log rows of recent batches kept for resuming followers: as far back as a follower may
/// resume at all (further back it is told to reload), so every replay can come from here once
/// the process has been up that long.
pub const RECENT_ROWS: i64 = REPLAY_MAX;
/// A client further behind than this is told to resync (reload its list) instead of being
/// replayed event by event.
pub const REPLAY_MAX: i64 = 5_000;

impl Recent {
    fn advance(&mut self, batch: &Arc<Batch>) {
        if self.batches.back().is_some_and(|b| b.upto != batch.after) {
            self.batches.clear();
            self.rows = 0;
        }
        self.batches.push_back(batch.clone());
        self.rows += batch.upto - batch.after;
        while self.rows > RECENT_ROWS
            && let Some(old) = self.batches.pop_front()
        {
            self.rows -= old.upto - old.after;
        }
        self.head = batch.upto;
    }

    /// Where the hub starts: nothing kept leads here yet.
    fn skip_to(&mut self, head: i64) {
        self.batches.clear();
        self.rows = 0;
        self.head = head;
    }
}

/// Where a new follower starts: the hub's head, and the recent batches after its resume point
/// when they cover all of the gap.
pub struct Start {
    pub head: i64,
    pub replay: Option<Vec<Arc<Batch>>>,
}

#[derive(Clone)]
pub struct FeedHub {
    batches: broadcast::Sender<Arc<Batch>>,
    recent: Arc<std::sync::RwLock<Recent>>,
}

impl FeedHub {
    /// Subscribe *before* asking where to start ([`FeedHub::start`]), so no batch falls in
    /// between.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        self.batches.subscribe()
    }

    /// Where a follower resuming after `after` (or starting now) begins. Batches are recorded
    /// and sent under the same lock, so every batch past `head` reaches a receiver subscribed
    /// before this call.
    pub fn start(&self, after: Option<i64>) -> Start {
        let recent = self.recent.read().unwrap_or_else(|p| p.into_inner());
        let replay = after.and_then(|a| {
            let first = recent.batches.front()?;
            (a >= first.after && a < recent.head)
                .then(|| recent.batches.iter().filter(|b| b.upto > a).cloned().collect())
        });
        Start {
            head: recent.head,
            replay,
        }
    }

    /// Records and sends a batch, atomically for [`FeedHub::start`].
    fn publish(&self, batch: Batch) {
        let batch = Arc::new(batch);
        let mut recent = self.recent.write().unwrap_or_else(|p| p.into_inner());
        recent.advance(&batch);
        // No receiver is fine: nobody follows right now.
        let _ = self.batches.send(batch);
    }

    fn skip_to(&self, head: i64) {
        self.recent.write().unwrap_or_else(|p| p.into_inner()).skip_to(head);
    }

    /// Starts the reader; it stops when `stop` turns true.
    pub fn spawn(ctx: AppContext, mut stop: watch::Receiver<bool>) -> (Self, tokio::task::JoinHandle<()>) {
        let (batches, _) = broadcast::channel(CAPACITY);
        let hub = Self {
            batches,
            recent: Default::default(),
        };
        let me = hub.clone();
        // Subscribed here, not in the task, so a commit right after start-up still wakes it.
        let mut wake = ctx.feed.subscribe();
        let task = tokio::spawn(async move {
            let mut last = loop {
                match view::head(&ctx.db).await {
                    Ok(h) => {
                        me.skip_to(h);
                        break h;
                    }
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
                        // Read even when nobody follows: the batches kept in memory are what
                        // serves the replays of a reconnect storm.
                        woke = wake.recv() => match woke {
                            Ok(seq) if seq <= last => continue,
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
                        // Commit → handed to every socket of this process: the server's share of
                        // a dashboard's delivery latency (the overview shows it).
                        let now = chrono::Utc::now();
                        ctx.metrics
                            .feed_delivery
                            .record_all(now, batch.frames.iter().map(|f| now - f.logged_at));
                        me.publish(batch);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(after: i64, upto: i64) -> Batch {
        Batch {
            after,
            upto,
            frames: Vec::new(),
            read_at: tokio::time::Instant::now(),
        }
    }

    fn hub() -> FeedHub {
        FeedHub {
            batches: broadcast::channel(CAPACITY).0,
            recent: Default::default(),
        }
    }

    fn spans(start: &Start) -> Option<Vec<(i64, i64)>> {
        start
            .replay
            .as_ref()
            .map(|r| r.iter().map(|b| (b.after, b.upto)).collect())
    }

    #[test]
    fn a_recent_gap_is_replayed_from_memory_and_an_older_one_is_not() {
        let hub = hub();
        hub.skip_to(10);
        hub.publish(batch(10, 12));
        hub.publish(batch(12, 20));
        let start = hub.start(Some(13));
        assert_eq!(start.head, 20);
        assert_eq!(spans(&start), Some(vec![(12, 20)]), "from the batch holding 14");
        assert_eq!(spans(&hub.start(Some(10))), Some(vec![(10, 12), (12, 20)]));
        assert_eq!(spans(&hub.start(Some(9))), None, "before what the hub kept: the log");
        assert_eq!(spans(&hub.start(Some(20))), None, "nothing to replay");
        assert_eq!(spans(&hub.start(None)), None);
    }

    #[test]
    fn memory_stays_contiguous_and_bounded() {
        let hub = hub();
        hub.skip_to(0);
        hub.publish(batch(0, 5));
        // The hub moved on without reading (nobody followed): 5..8 was never kept.
        hub.skip_to(8);
        hub.publish(batch(8, 9));
        assert_eq!(spans(&hub.start(Some(4))), None, "a hole is never replayed over");
        assert_eq!(spans(&hub.start(Some(8))), Some(vec![(8, 9)]));

        for after in (9..9 + RECENT_ROWS * 2).step_by(100) {
            hub.publish(batch(after, after + 100));
        }
        let recent = hub.recent.read().unwrap();
        assert!(recent.rows <= RECENT_ROWS, "{} rows kept", recent.rows);
        assert_eq!(
            recent.rows,
            recent.batches.iter().map(|b| b.upto - b.after).sum::<i64>()
        );
        assert_eq!(recent.head, 9 + RECENT_ROWS * 2);
    }
}
