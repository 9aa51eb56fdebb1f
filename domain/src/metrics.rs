//! Process-wide counters, exposed at `/metrics` in Prometheus text format.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub webhook_signature_rejections: AtomicU64,
    pub webhook_received: AtomicU64,
    pub webhook_duplicates: AtomicU64,
    pub payment_events_processed: AtomicU64,
    pub payment_events_failed: AtomicU64,
    /// 1 while the payment failure-spike alert is on.
    pub payment_alert: AtomicU64,
    pub recent_rejections: crate::payments::alert::Rejections,
    /// Open feed websockets in this process.
    pub feed_followers: AtomicU64,
    /// Feed websockets closed because the client could not keep up.
    pub feed_slow_clients_dropped: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let line = |name: &str, help: &str, c: &AtomicU64| {
            format!(
                "# HELP signaldesk_{name} {help}\n# TYPE signaldesk_{name} counter\nsignaldesk_{name} {}\n",
                c.load(Ordering::Relaxed)
            )
        };
        [
            line(
                "webhook_signature_rejections_total",
                "Webhook deliveries refused for a missing or wrong signature.",
                &self.webhook_signature_rejections,
            ),
            line(
                "webhook_received_total",
                "Verified webhook deliveries stored.",
                &self.webhook_received,
            ),
            line(
                "webhook_duplicates_total",
                "Verified webhook deliveries that were already stored.",
                &self.webhook_duplicates,
            ),
            line(
                "payment_events_processed_total",
                "Stored payment events processed.",
                &self.payment_events_processed,
            ),
            line(
                "payment_events_failed_total",
                "Payment event processing attempts that failed.",
                &self.payment_events_failed,
            ),
            line(
                "feed_slow_clients_dropped_total",
                "Feed websockets closed because the client could not keep up.",
                &self.feed_slow_clients_dropped,
            ),
            format!(
                "# HELP signaldesk_feed_followers Open feed websockets.\n# TYPE signaldesk_feed_followers gauge\nsignaldesk_feed_followers {}\n",
                self.feed_followers.load(Ordering::Relaxed)
            ),
            format!(
                "# HELP signaldesk_webhook_signature_rejections_recent Signature rejections in the last 15 minutes (never raises the payment alert).\n# TYPE signaldesk_webhook_signature_rejections_recent gauge\nsignaldesk_webhook_signature_rejections_recent {}\n",
                self.recent_rejections.since(chrono::Utc::now() - crate::payments::alert::WINDOW)
            ),
            format!(
                "# HELP signaldesk_payment_alert 1 while webhook processing failures spike.\n# TYPE signaldesk_payment_alert gauge\nsignaldesk_payment_alert {}\n",
                self.payment_alert.load(Ordering::Relaxed)
            ),
        ]
        .concat()
    }
}
