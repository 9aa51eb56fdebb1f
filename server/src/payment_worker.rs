//! The payment processor: works through stored webhook events. Woken at once when a webhook is
//! stored in this process, and polls every few seconds anyway, so events stored by another
//! process, left by a crash, or due for a retry are never stranded.

use std::time::Duration;

use domain::AppContext;
use domain::metrics::Metrics;
use tokio::sync::watch;

const POLL: Duration = Duration::from_secs(5);

pub fn spawn(ctx: AppContext, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match domain::payments::processing::process_due(&ctx.db).await {
                Ok(p) => {
                    Metrics::add(&ctx.metrics.payment_events_processed, p.done as u64);
                    Metrics::add(&ctx.metrics.payment_events_failed, p.failed as u64);
                    // A full batch may mean more are waiting: go again at once.
                    if p.done + p.failed > 0 {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "payment processor cannot read the inbox; retrying"),
            }
            tokio::select! {
                _ = ctx.payment_events.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    })
}
