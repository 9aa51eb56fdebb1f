//! A worker loop over the queue: claim one due job of its kinds, run it while a heartbeat keeps
//! its lease, record the outcome (fenced), repeat. Between jobs it waits for a wake-up (a
//! NOTIFY relayed through `wake`, or an enqueue in this process) or the bounded poll, so a lost
//! LISTEN connection only delays work by one poll (J7). When `stop` turns true it claims nothing
//! more and returns once the job in hand is finished (J9); a job cut off anyway (the process is
//! killed) is claimed again when its lease runs out (J2).

use std::future::Future;
use std::sync::Arc;

use chrono::Duration;
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, watch};

use super::{Claimed, JobError, JobKind};

/// What running a job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Try again later: after `after` when the failure said when (a 429's `retry_after`).
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// No retry can help (a configuration fault): dead at once, with the reason for the admin.
    Dead(String),
    /// Nothing failed, but the job cannot run yet (a member who left the guild): look again
    /// after `after` without spending an attempt.
    Wait {
        reason: String,
        after: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub kinds: Vec<JobKind>,
    pub lease: Duration,
    /// The longest a due job waits when no wake-up comes.
    pub poll: std::time::Duration,
}

/// Runs until `stop` turns true; returns how many jobs it finished.
pub async fn run<F, Fut>(
    db: DatabaseConnection,
    settings: Settings,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    handle: F,
) -> usize
where
    F: Fn(Claimed) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut finished = 0;
    while !*stop.borrow() {
        let claimed = match super::claim(&db, &settings.kinds, 1, settings.lease).await {
            Ok(mut c) => c.pop(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim jobs; retrying");
                None
            }
        };
        let Some(job) = claimed else {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(settings.poll) => {}
                _ = stop.changed() => {}
            }
            continue;
        };
        let outcome = with_heartbeat(&db, &job, settings.lease, handle(job.clone())).await;
        let recorded = match &outcome {
            Outcome::Done => super::complete(&db, &job).await,
            Outcome::Retry { error, after } => super::fail(&db, &job, error, *after).await.map(|_| ()),
            Outcome::Dead(reason) => super::bury(&db, &job, reason).await,
            Outcome::Wait { reason, after } => super::postpone(&db, &job, reason, *after).await,
        };
        match recorded {
            Ok(()) => finished += 1,
            // Our lease was lost while we worked: the job belongs to its new claim now.
            Err(JobError::Stale(id)) => tracing::warn!(job = id, "job outcome dropped: the claim was stale"),
            Err(JobError::Db(e)) => {
                tracing::warn!(job = job.id(), error = %e, "cannot record a job's outcome; its lease will run out and it runs again")
            }
        }
    }
    finished
}

/// Runs `work` while renewing the job's lease every third of it.
async fn with_heartbeat(
    db: &DatabaseConnection,
    job: &Claimed,
    lease: Duration,
    work: impl Future<Output = Outcome>,
) -> Outcome {
    let every = (lease / 3).to_std().unwrap_or(std::time::Duration::from_secs(1));
    let mut beat = tokio::time::interval(every);
    beat.tick().await;
    tokio::pin!(work);
    loop {
        tokio::select! {
            outcome = &mut work => return outcome,
            _ = beat.tick() => {
                if let Err(e) = super::heartbeat(db, job, lease).await {
                    tracing::warn!(job = job.id(), error = %e, "job heartbeat failed");
                }
            }
        }
    }
}
