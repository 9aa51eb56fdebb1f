//! The payment processor: works through stored webhook events. Woken at once when a webhook is
//! stored in this process, and polls every few seconds anyway, so events stored by another
//! process, left by a crash, or due for a retry are never stranded.

use std::time::Duration;

use domain::AppContext;
use domain::metrics::Metrics;
use tokio::sync::watch;

const POLL: Duration = Duration::from_secs(5);
/// How often the reconciliation pass runs (when `SELLAPP_API_KEY` is set).
const RECONCILE_EVERY: Duration = Duration::from_secs(3600);

pub fn spawn(ctx: AppContext, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let api = ctx
            .config
            .sellapp_api_key
            .clone()
            .map(|key| domain::payments::reconcile::SellappApi::new(ctx.config.sellapp_api_url.clone(), key));
        let roles = domain::role_sync::RoleGuild::from_config(&ctx.config);
        let mut last_reconcile: Option<tokio::time::Instant> = None;
        match domain::entitlements::backfill_access_ends(&ctx.db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                customers = n,
                "stored the end of access for customers from before it was kept"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot fill in the stored end of access"),
        }
        loop {
            check_alert(&ctx).await;
            let now = chrono::Utc::now();
            // Every change that came due, however long ago (an outage of any length included).
            match domain::entitlements::record_expiries(&ctx.db, roles.as_ref(), now).await {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(customers = n, "access changes recorded (ends, tier steps)");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot record expiries; retrying"),
            }
            if let Some(api) = &api
                && last_reconcile.is_none_or(|t| t.elapsed() >= RECONCILE_EVERY)
            {
                last_reconcile = Some(tokio::time::Instant::now());
                if let Err(e) = domain::payments::reconcile::run(&ctx.db, api, roles.as_ref()).await {
                    tracing::error!(error = %e, "reconciliation failed");
                }
            }
            match domain::payments::processing::process_due(&ctx.db, roles.as_ref()).await {
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

/// Raises (once, at error level) or clears the payment failure-spike alert.
async fn check_alert(ctx: &AppContext) {
    use std::sync::atomic::Ordering;
    let threshold = ctx.config.payment_alert_threshold;
    match domain::payments::alert::check(&ctx.db, threshold, chrono::Utc::now()).await {
        Ok(Some(spike)) => {
            if ctx.metrics.payment_alert.swap(1, Ordering::Relaxed) == 0 {
                tracing::error!(%spike, threshold, "payment alert: webhook failures are spiking");
            }
        }
        Ok(None) => {
            if ctx.metrics.payment_alert.swap(0, Ordering::Relaxed) == 1 {
                tracing::info!("payment alert cleared");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot check the payment alert"),
    }
}
