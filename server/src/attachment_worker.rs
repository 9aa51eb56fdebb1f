//! Keeps attachments: runs `attachment_fetch` jobs (queued by ingest) in this server process,
//! fetching each attachment once into the blob store this process serves them from. Two fetches
//! run at a time, so one slow source never holds up the rest; the queue's lease and retries make
//! a crash or a failed fetch harmless (the job is claimed again, a stored blob is never fetched
//! twice).

use std::sync::Arc;
use std::time::Duration;

use domain::AppContext;
use domain::attachment_store::{self, fetch::Fetcher};
use domain::blobs::BlobStore;
use domain::jobs::worker::Outcome;
use domain::jobs::{self, JobKind};
use tokio::sync::{Notify, watch};

const CONCURRENCY: usize = 2;

pub fn spawn(ctx: AppContext, blobs: BlobStore, stop: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<usize>> {
    let fetcher = Fetcher::from_config(&ctx.config);
    let settings = jobs::worker::Settings {
        kinds: vec![JobKind::AttachmentFetch],
        lease: chrono::Duration::from_std(ctx.config.job_lease).unwrap_or(chrono::Duration::seconds(60)),
        // Ingest in this process wakes it at once; other processes' ingests wait one poll. The
        // poll stays slow: each claim takes SQLite's write lock, which ingest and the admin's
        // changes need far more.
        poll: Duration::from_secs(2),
    };
    let wake = Arc::new(Notify::new());
    // Every ingest commit in this process may have queued a fetch.
    let mut commits = ctx.feed.subscribe();
    let relay = Arc::clone(&wake);
    let mut relay_stop = stop.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                got = commits.recv() => match got {
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Wakes the idle workers, and leaves a permit for one busy claiming now.
                        relay.notify_waiters();
                        relay.notify_one();
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = relay_stop.changed() => return,
            }
        }
    });
    (0..CONCURRENCY)
        .map(|_| {
            let (ctx, blobs, fetcher, settings, wake, stop) = (
                ctx.clone(),
                blobs.clone(),
                fetcher.clone(),
                settings.clone(),
                Arc::clone(&wake),
                stop.clone(),
            );
            let db = ctx.db.clone();
            let stopping = stop.clone();
            tokio::spawn(jobs::worker::run(db, settings, wake, stop, move |job| {
                let (ctx, blobs, fetcher, mut stopping) =
                    (ctx.clone(), blobs.clone(), fetcher.clone(), stopping.clone());
                async move {
                    // A fetch can take up to ATTACHMENT_FETCH_TIMEOUT: on shutdown it is left for
                    // the next run (or another process) instead of holding the shutdown up.
                    tokio::select! {
                        outcome = attachment_store::run(&ctx.db, &ctx.feed, &blobs, &fetcher, &job) => outcome,
                        _ = stopping.wait_for(|s| *s) => Outcome::Wait {
                            reason: "the server is stopping".into(),
                            after: chrono::Duration::zero(),
                        },
                    }
                }
            }))
        })
        .collect()
}
