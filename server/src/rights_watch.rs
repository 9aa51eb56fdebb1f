//! This process's follower of the rights-change log (`domain::rights`): whenever a user's
//! sessions or access change — in this process, another server process or the CLI — the user's
//! id is broadcast to this process's open feed sockets, which re-check the session and the
//! access and close or downgrade themselves. A PostgreSQL `NOTIFY` wakes the follower at once;
//! a short poll catches everything else (SQLite, other processes on SQLite, a lost LISTEN
//! connection), so a revocation reaches every open socket within [`POLL`] plus one re-check.
//! It also keeps the [`FeedRoster`] of open sockets and runs its backstop [`sweep`] every
//! `FEED_RECHECK_SECONDS`, waking the users whose sockets the log failed to wake.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::AppContext;
use tokio::sync::{Notify, broadcast, watch};

use crate::feed_roster::{FeedRoster, sweep};

/// The longest a committed change waits before this process looks at it.
pub const POLL: Duration = Duration::from_millis(100);
/// Far more changes than 30 seconds bring; a full page is read again on the next poll.
const PAGE: u64 = 10_000;
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How long a row stays in the read window: longer than any transaction between recording a
/// change and committing it, so a row that commits late is still seen.
const WINDOW: chrono::Duration = chrono::Duration::seconds(30);

#[derive(Clone)]
pub struct RightsWatch {
    users: broadcast::Sender<i64>,
    wake: Arc<Notify>,
    roster: FeedRoster,
}

impl RightsWatch {
    /// User ids whose rights changed. A lagging receiver must re-check anyway (it may have missed
    /// its own user).
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.users.subscribe()
    }

    /// This process's open feed sockets.
    pub fn roster(&self) -> &FeedRoster {
        &self.roster
    }

    /// A hint that the log grew (another process's NOTIFY).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn spawn(ctx: AppContext, mut stop: watch::Receiver<bool>) -> (Self, tokio::task::JoinHandle<()>) {
        let (users, _) = broadcast::channel(1024);
        let watch = Self {
            users,
            wake: Arc::new(Notify::new()),
            roster: FeedRoster::default(),
        };
        let backstop = tokio::spawn(watch.clone().backstop(ctx.clone(), stop.clone()));
        let me = watch.clone();
        let follow = tokio::spawn(async move {
            // Rows already broadcast, by id, with when they were recorded; rows stay visible to
            // the time-window read for WINDOW, and are broadcast once.
            let mut seen: HashMap<i64, DateTime<Utc>> = HashMap::new();
            let mut from = Utc::now();
            let mut pruned = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = me.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => return,
                }
                let now = Utc::now();
                match domain::rights::since(&ctx.db, from.min(now - WINDOW), PAGE).await {
                    Ok(rows) => {
                        for row in rows {
                            if seen.insert(row.id, row.at).is_none() {
                                // Nobody follows the feed right now: nothing to re-check.
                                let _ = me.users.send(row.user_id);
                            }
                        }
                        from = now;
                        seen.retain(|_, at| *at >= now - WINDOW - WINDOW);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the rights-change log; retrying"),
                }
                if pruned.elapsed() >= PRUNE_EVERY {
                    pruned = tokio::time::Instant::now();
                    if let Err(e) = domain::rights::prune(&ctx.db, now - domain::rights::KEEP).await {
                        tracing::debug!(error = %e, "pruning the rights-change log failed");
                    }
                }
            }
        });
        let task = tokio::spawn(async move {
            let _ = tokio::join!(follow, backstop);
        });
        (watch, task)
    }

    /// Every `FEED_RECHECK_SECONDS`, one batched read of the rights behind all open sockets; the
    /// users whose sockets hold other rights are woken as if the log had named them.
    async fn backstop(self, ctx: AppContext, mut stop: watch::Receiver<bool>) {
        let mut every = tokio::time::interval(ctx.config.feed_recheck);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stop.changed() => return,
            }
            match sweep(&ctx, &self.roster).await {
                Ok(stale) if stale.is_empty() => {}
                Ok(stale) => {
                    // A change committed a moment ago may simply not have been read yet; a
                    // steady count here means changes are written without their log row.
                    tracing::info!(
                        users = stale.len(),
                        "feed backstop: open feeds with changed rights re-check"
                    );
                    for user in stale {
                        let _ = self.users.send(user);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "feed backstop: cannot read the open feeds' rights; retrying"),
            }
        }
    }
}
