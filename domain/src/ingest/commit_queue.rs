//! Group commit for ingest. Feed-log appends commit one at a time (the order followers depend on:
//! a sequence number never becomes visible after a larger one), so one request's transaction —
//! its round trips, the advisory lock on PostgreSQL, the commit's flush — used to be the whole
//! ingest rate. Instead, requests that arrive while a transaction commits wait here, and whoever
//! takes the append gate next applies all of them in one transaction: one commit, one lock and
//! one wake-up for many requests, each still answered on its own. There is still only one
//! appending transaction at a time, so the order guarantee is untouched; an idle system commits
//! a lone request at once, as before.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::oneshot;

use super::event::{Event, Rejection};
use super::store::{self, Ingested};
use crate::connectors::Connector;
use crate::feed::Feed;

/// Items applied in one transaction at most: a burst is committed in steps, so no request
/// waits behind an unbounded transaction.
pub const MAX_ITEMS: usize = 2_000;

/// One request waiting for its turn.
#[derive(Debug)]
pub(crate) struct Request {
    pub connector: Connector,
    pub items: Vec<Result<Event, Rejection>>,
    answer: oneshot::Sender<Result<Ingested, DbErr>>,
}

pub(crate) type Waiting = Arc<Mutex<VecDeque<Request>>>;

/// Queues the request and waits for its answer, committing the queue itself when the append
/// gate comes free first.
pub(crate) async fn submit(
    db: &DatabaseConnection,
    feed: &Feed,
    connector: &Connector,
    items: Vec<Result<Event, Rejection>>,
) -> Result<Ingested, DbErr> {
    let (answer, mut answered) = oneshot::channel();
    lock(&feed.waiting).push_back(Request {
        connector: connector.clone(),
        items,
        answer,
    });
    loop {
        tokio::select! {
            // An answer wins over the gate: the holder before us may have committed our request.
            biased;
            done = &mut answered => {
                return done.unwrap_or_else(|_| Err(DbErr::Custom("the ingest transaction was abandoned".into())));
            }
            gate = feed.append_gate() => {
                let group = take(&feed.waiting);
                if group.is_empty() {
                    // Committed by the holder before us; the answer is waiting.
                    continue;
                }
                let (db, feed) = (db.clone(), feed.clone());
                // Spawned, so a caller that goes away (its client hung up) cannot abandon the
                // other requests half-way through their transaction.
                let committing = tokio::spawn(async move {
                    commit(&db, &feed, group).await;
                    drop(gate);
                });
                if let Err(e) = committing.await {
                    tracing::error!(error = %e, "an ingest transaction panicked");
                }
            }
        }
    }
}

/// Requests from the front of the queue, up to [`MAX_ITEMS`] items (at least one request).
fn take(waiting: &Waiting) -> Vec<Request> {
    let mut queue = lock(waiting);
    let mut items = 0;
    let mut group = Vec::new();
    while let Some(next) = queue.front() {
        if !group.is_empty() && items + next.items.len() > MAX_ITEMS {
            break;
        }
        items += next.items.len();
        group.extend(queue.pop_front());
    }
    group
}

fn lock(waiting: &Waiting) -> std::sync::MutexGuard<'_, VecDeque<Request>> {
    // Only plain pushes and pops happen under this lock: a panic cannot leave it inconsistent.
    waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Applies the group in one transaction. Should that fail, each request is applied again on its
/// own, so a request that cannot be stored fails alone instead of failing its neighbours.
async fn commit(db: &DatabaseConnection, feed: &Feed, mut group: Vec<Request>) {
    if group.len() == 1 {
        return commit_alone(db, feed, group.pop().expect("one request")).await;
    }
    let work = group.iter().map(|r| (r.connector.clone(), r.items.clone())).collect();
    match store::apply(db, feed, work).await {
        Ok(answers) => {
            for (request, done) in group.into_iter().zip(answers) {
                // The caller may have gone away; its request is stored all the same.
                let _ = request.answer.send(Ok(done));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, requests = group.len(), "a grouped ingest transaction failed; applying its requests one by one");
            for request in group {
                commit_alone(db, feed, request).await;
            }
        }
    }
}

async fn commit_alone(db: &DatabaseConnection, feed: &Feed, request: Request) {
    let done = store::apply(db, feed, vec![(request.connector, request.items)]).await;
    // The caller may have gone away; what it sent is stored (or not) all the same.
    let _ = request
        .answer
        .send(done.map(|mut d| d.pop().expect("one answer per request")));
}
