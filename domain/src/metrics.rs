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
    /// Scans for due reminders this process finished, reminders it queued, and e-mail
    /// reminders it sent.
    pub reminder_scans: AtomicU64,
    pub reminders_queued: AtomicU64,
    pub reminders_sent: AtomicU64,
    /// Feed-log commit → frames handed to this process's sockets, recent events.
    pub feed_delivery: LatencyWindow,
}

/// Latencies of the last hour (at most [`LatencyWindow::KEEP`] of them), for percentiles.
#[derive(Debug, Default)]
pub struct LatencyWindow(std::sync::Mutex<std::collections::VecDeque<(chrono::DateTime<chrono::Utc>, u32)>>);

/// Count, p50 and p95 in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
}

impl LatencyWindow {
    pub const KEEP: usize = 10_000;
    const SPAN: chrono::Duration = chrono::Duration::hours(1);

    pub fn record(&self, at: chrono::DateTime<chrono::Utc>, took: chrono::Duration) {
        self.record_all(at, std::iter::once(took));
    }

    /// Several latencies measured at `at`, under one lock (a batch of the feed hub).
    pub fn record_all(&self, at: chrono::DateTime<chrono::Utc>, took: impl IntoIterator<Item = chrono::Duration>) {
        let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for t in took {
            if w.len() == Self::KEEP {
                w.pop_front();
            }
            w.push_back((at, t.num_milliseconds().clamp(0, i64::from(u32::MAX)) as u32));
        }
    }

    /// Over the last hour as of `now`; `None` when nothing was recorded in it.
    pub fn summary(&self, now: chrono::DateTime<chrono::Utc>) -> Option<LatencySummary> {
        let mut ms: Vec<u32> = {
            let w = self.0.lock().unwrap_or_else(|p| p.into_inner());
            w.iter()
                .filter(|(at, _)| *at > now - Self::SPAN)
                .map(|(_, ms)| *ms)
                .collect()
        };
        if ms.is_empty() {
            return None;
        }
        ms.sort_unstable();
        let at = |q: f64| u64::from(ms[((ms.len() - 1) as f64 * q).round() as usize]);
        Some(LatencySummary {
            count: ms.len() as u64,
            p50_ms: at(0.5),
            p95_ms: at(0.95),
        })
    }
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
            line(
                "reminder_scans_total",
                "Scans for reminders that came due.",
                &self.reminder_scans,
            ),
            line(
                "reminders_queued_total",
                "Reminders before access ends claimed and queued by this process.",
                &self.reminders_queued,
            ),
            line(
                "reminder_mails_sent_total",
                "Reminder e-mails this process sent.",
                &self.reminders_sent,
            ),
            format!(
                "# HELP signaldesk_password_hashes_total Argon2 computations this process started (hashing and checking passwords).\n# TYPE signaldesk_password_hashes_total counter\nsignaldesk_password_hashes_total {}\n",
                crate::accounts::argon2_runs()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_window_reports_the_last_hour_only() {
        let w = LatencyWindow::default();
        let now = chrono::Utc::now();
        assert_eq!(w.summary(now), None);
        w.record(now - chrono::Duration::minutes(61), chrono::Duration::seconds(9));
        for ms in 1..=100 {
            w.record(now, chrono::Duration::milliseconds(ms));
        }
        assert_eq!(
            w.summary(now),
            Some(LatencySummary {
                count: 100,
                p50_ms: 51,
                p95_ms: 95
            })
        );
    }

    #[test]
    fn latency_window_keeps_a_bounded_number() {
        let w = LatencyWindow::default();
        let now = chrono::Utc::now();
        for _ in 0..LatencyWindow::KEEP + 5 {
            w.record(now, chrono::Duration::milliseconds(3));
        }
        assert_eq!(w.summary(now).unwrap().count, LatencyWindow::KEEP as u64);
    }
}
