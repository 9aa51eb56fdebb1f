//! The change notifier. Ingest appends to the feed log and, once its transaction commits, wakes
//! whoever follows the feed: subscribers in this process through a broadcast channel, and other
//! processes through PostgreSQL `NOTIFY` (sent inside the transaction, so PostgreSQL delivers it
//! only at commit; the payload is the sequence number, never content). A wake-up is only a hint:
//! followers read what changed from the feed log.

pub mod attachment_view;
pub mod search;
pub mod view;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use tokio::sync::{Mutex, OwnedMutexGuard, broadcast};

/// What the feed websocket accepts from a browser. Clients only ever send close and pong frames:
/// small buffers keep an idle connection cheap (the read buffer is allocated for every socket:
/// 1 KiB instead of 4 took the server from 11.3 to 7.9 KiB per idle client at 10,000), and no
/// client can make the server hold a large message (tungstenite's default would be 64 MiB). A
/// larger frame, up to `max_incoming`, is still read, in more than one read.
#[derive(Debug, Clone, Copy)]
pub struct ClientLimits {
    pub read_buffer: usize,
    pub max_incoming: usize,
}

pub const CLIENT_LIMITS: ClientLimits = ClientLimits {
    read_buffer: 1024,
    max_incoming: 16 * 1024,
};

/// The PostgreSQL channel feed wake-ups go to.
pub const NOTIFY_CHANNEL: &str = "signaldesk_feed";
/// Advisory lock key that orders feed-log appends across processes on PostgreSQL
/// (ASCII "sdfeed").
pub const APPEND_LOCK_KEY: i64 = 0x7364_6665_6564;

#[derive(Clone, Debug)]
pub struct Feed {
    wake: broadcast::Sender<i64>,
    append: Arc<Mutex<()>>,
    /// Ingest requests waiting for the append gate, committed together by whoever takes it next.
    pub(crate) waiting: crate::ingest::commit_queue::Waiting,
    commits: Arc<Commits>,
}

/// Ingest commits in this process: more requests than transactions means the commit queue is
/// grouping requests under load (`/metrics` shows both).
#[derive(Debug, Default)]
pub struct Commits {
    pub requests: AtomicU64,
    pub transactions: AtomicU64,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed {
    pub fn new() -> Self {
        let (wake, _) = broadcast::channel(1024);
        Self {
            wake,
            append: Arc::new(Mutex::new(())),
            waiting: Default::default(),
            commits: Default::default(),
        }
    }

    /// Receives the latest committed sequence number after each ingest commit in this process.
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.wake.subscribe()
    }

    /// Orders appends: sequence numbers must become visible in the order they were handed out,
    /// or a follower that read up to `n` could later find a smaller `n - 1` committed and miss it.
    /// In this process a mutex does it (and spares SQLite's busy-wait); across PostgreSQL
    /// processes a transaction-scoped advisory lock, taken by [`Feed::lock_in_transaction`].
    pub(crate) async fn append_gate(&self) -> OwnedMutexGuard<()> {
        self.append.clone().lock_owned().await
    }

    pub(crate) async fn lock_in_transaction(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [APPEND_LOCK_KEY.into()],
            ))
            .await?;
        }
        Ok(())
    }

    /// Queues the cross-process wake-up inside the transaction (delivered at commit).
    pub(crate) async fn notify_in_transaction(txn: &impl ConnectionTrait, seq: i64) -> Result<(), DbErr> {
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [NOTIFY_CHANNEL.into(), seq.to_string().into()],
            ))
            .await?;
        }
        Ok(())
    }

    /// Appends one change to the feed log (inside the transaction that holds the append lock);
    /// returns its sequence number.
    pub(crate) async fn log(
        txn: &impl ConnectionTrait,
        connector_id: i64,
        op: &str,
        signal_id: Option<i64>,
        thread_id: Option<i64>,
    ) -> Result<i64, DbErr> {
        use sea_orm::{ActiveModelTrait, Set};
        let row = entity::feed_log::ActiveModel {
            signal_id: Set(signal_id),
            thread_id: Set(thread_id),
            connector_id: Set(connector_id),
            op: Set(op.to_owned()),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        Ok(row.seq)
    }

    pub fn commits(&self) -> &Commits {
        &self.commits
    }

    /// Counts a committed ingest transaction and the requests it held.
    pub(crate) fn count_commit(&self, requests: usize) {
        self.commits.requests.fetch_add(requests as u64, Ordering::Relaxed);
        self.commits.transactions.fetch_add(1, Ordering::Relaxed);
    }

    /// Wakes this process's followers; call after commit (or when another process committed).
    pub fn committed(&self, seq: i64) {
        // No subscriber is fine: nobody is following yet.
        let _ = self.wake.send(seq);
    }
}
