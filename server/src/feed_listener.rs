//! Cross-process wake-ups on PostgreSQL: each server process holds one `LISTEN` connection and
//! turns notifications (sequence numbers only) into wake-ups of its own feed followers, who then
//! read what changed from the feed log. Notifications are only hints (J7): after the listener
//! (re)connects, and every few seconds regardless, the process compares the feed head with what
//! it last saw and wakes its followers if anything was committed meanwhile. The same connection
//! listens for rights changes (revocations) and wakes this process's [`RightsWatch`].
//!
//! SQLite has no cross-process notification, yet the bot process appends to the feed when it
//! captures from the gateway: there a change of the database's write-ahead log
//! ([`domain::sqlite_wal`]) makes the process read the head of the feed log (one primary-key
//! read), and the head is also polled every [`SQLITE_SAFETY_POLL`] in case a change was missed.
//! Where the log cannot be watched the head is polled every [`SQLITE_POLL`], which then bounds
//! what a captured signal waits before customers see it.

use std::time::Duration;

use domain::config::DatabaseTarget;
use domain::feed::view;
use domain::sqlite_wal::WalChanges;
use domain::{AppContext, Backend};
use sea_orm::sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::rights_watch::RightsWatch;

const POLL: Duration = Duration::from_secs(2);
const RECONNECT: Duration = Duration::from_secs(1);
pub const SQLITE_POLL: Duration = Duration::from_millis(25);
pub const SQLITE_SAFETY_POLL: Duration = Duration::from_secs(1);
const SQLITE_SETTLE: Duration = Duration::from_millis(5);

pub fn spawn(
    ctx: AppContext,
    rights: RightsWatch,
    mut stop: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    if Backend::of(&ctx.db) != Backend::Postgres {
        return Some(tokio::spawn(follow_sqlite(ctx, stop)));
    }
    Some(tokio::spawn(async move {
        let mut seen = view::head(&ctx.db).await.unwrap_or(0);
        loop {
            let pool = ctx.db.get_postgres_connection_pool().clone();
            let listener = async {
                let mut l = PgListener::connect_with(&pool).await?;
                l.listen_all([domain::feed::NOTIFY_CHANNEL, domain::rights::NOTIFY_CHANNEL])
                    .await?;
                Ok::<_, sea_orm::sqlx::Error>(l)
            }
            .await;
            let mut listener = match listener {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "feed listener cannot LISTEN; polling until it can");
                    wake_if_advanced(&ctx, &mut seen).await;
                    tokio::select! {
                        _ = tokio::time::sleep(RECONNECT) => continue,
                        _ = stop.changed() => return,
                    }
                }
            };
            // Whatever committed while we were not listening.
            wake_if_advanced(&ctx, &mut seen).await;
            let mut poll = tokio::time::interval(POLL);
            loop {
                tokio::select! {
                    n = listener.try_recv() => match n {
                        Ok(Some(n)) if n.channel() == domain::rights::NOTIFY_CHANNEL => rights.wake(),
                        Ok(Some(n)) => {
                            if let Ok(seq) = n.payload().parse::<i64>() {
                                seen = seen.max(seq);
                                ctx.feed.committed(seq);
                            }
                        }
                        // Connection lost: the next try_recv reconnects; catch up meanwhile.
                        Ok(None) => {
                            wake_if_advanced(&ctx, &mut seen).await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "feed listener lost its connection; reconnecting");
                            break;
                        }
                    },
                    _ = poll.tick() => {
                        wake_if_advanced(&ctx, &mut seen).await;
                    }
                    _ = stop.changed() => return,
                }
            }
        }
    }))
}

async fn follow_sqlite(ctx: AppContext, mut stop: watch::Receiver<bool>) {
    let mut seen = view::head(&ctx.db).await.unwrap_or(0);
    let mut log = match &ctx.config.database {
        DatabaseTarget::Sqlite { path } => WalChanges::watch(path)
            .inspect_err(|e| tracing::warn!(error = %e, "cannot watch the SQLite log; polling the feed instead"))
            .ok(),
        DatabaseTarget::Postgres { .. } => None,
    };
    let every = |log: &Option<WalChanges>| {
        let mut poll = tokio::time::interval(if log.is_some() { SQLITE_SAFETY_POLL } else { SQLITE_POLL });
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll
    };
    let mut poll = every(&log);
    // The log is written before the commit becomes visible (SQLite then updates its shared
    // index): a read right after the write may still see the old head, so look once more.
    let mut settle: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            watching = async { log.as_mut()?.changed().await.then_some(()) }, if log.is_some() => {
                if watching.is_none() {
                    log = None;
                    poll = every(&log);
                }
                if !wake_if_advanced(&ctx, &mut seen).await {
                    settle = Some(tokio::time::Instant::now() + SQLITE_SETTLE);
                }
            }
            _ = async { tokio::time::sleep_until(settle.unwrap_or_else(tokio::time::Instant::now)).await }, if settle.is_some() => {
                settle = None;
                wake_if_advanced(&ctx, &mut seen).await;
            }
            _ = poll.tick() => { wake_if_advanced(&ctx, &mut seen).await; }
            _ = stop.changed() => return,
        }
    }
}

/// Wakes this process's followers if the feed advanced; says whether it did.
async fn wake_if_advanced(ctx: &AppContext, seen: &mut i64) -> bool {
    if let Ok(head) = view::head(&ctx.db).await
        && head > *seen
    {
        *seen = head;
        ctx.feed.committed(head);
        return true;
    }
    false
}
