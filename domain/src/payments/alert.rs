//! The failure-spike alert: too many webhook *processing failures* in a short window means
//! something is wrong on our side or Sell.app's (a product without a policy, a changed format).
//! Logged at error level, exported as a metric, shown as a banner in the admin console.
//!
//! Rejected signatures are counted apart and never raise the alert by themselves: anyone on the
//! internet can send a badly signed request, and must not be able to page the operator or hide a
//! real alert in noise. They get their own notice (a rotated secret not configured here shows up
//! as a steady stream of them) and their own metric.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use entity::webhook_event;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter};

pub const WINDOW: Duration = Duration::minutes(15);
/// One bucket per minute of the window, plus the minute in progress.
const BUCKETS: usize = 16;

/// Signature rejections of this process per minute over the last [`WINDOW`]: fixed memory and
/// no lock, whatever the rate (they are never stored, so they are counted here).
#[derive(Debug, Default)]
pub struct Rejections {
    minutes: [AtomicI64; BUCKETS],
    counts: [AtomicU64; BUCKETS],
}

impl Rejections {
    pub fn record(&self, at: DateTime<Utc>) {
        let minute = at.timestamp().div_euclid(60);
        let i = minute.rem_euclid(BUCKETS as i64) as usize;
        let seen = self.minutes[i].load(Ordering::Acquire);
        // The first to reach a new minute resets its bucket; the others just count in it.
        if seen != minute
            && self.minutes[i]
                .compare_exchange(seen, minute, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.counts[i].store(0, Ordering::Release);
        }
        self.counts[i].fetch_add(1, Ordering::AcqRel);
    }

    /// Rejections in the minutes from `from` on.
    pub fn since(&self, from: DateTime<Utc>) -> u64 {
        let first = from.timestamp().div_euclid(60);
        (0..BUCKETS)
            .filter(|&i| self.minutes[i].load(Ordering::Acquire) >= first)
            .map(|i| self.counts[i].load(Ordering::Acquire))
            .sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spike {
    pub failures: u64,
}

impl std::fmt::Display for Spike {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} failed payment event(s) in the last {} minutes",
            self.failures,
            WINDOW.num_minutes()
        )
    }
}

/// The spike, if processing failures in the window reach `threshold`.
pub async fn check(db: &impl ConnectionTrait, threshold: u64, now: DateTime<Utc>) -> Result<Option<Spike>, DbErr> {
    let failures = webhook_event::Entity::find()
        .filter(webhook_event::Column::Status.eq("failed"))
        .filter(webhook_event::Column::ReceivedAt.gte(now - WINDOW))
        .count(db)
        .await?;
    Ok((failures >= threshold).then_some(Spike { failures }))
}

/// The notice about rejected signatures, when they reach `threshold` in the window.
pub fn rejection_notice(rejections: &Rejections, threshold: u64, now: DateTime<Utc>) -> Option<String> {
    let n = rejections.since(now - WINDOW);
    (n >= threshold).then(|| {
        format!(
            "{n} webhook deliveries with a wrong or missing signature in the last {} minutes. If Sell.app's webhook secret was rotated, add the new one to SELLAPP_WEBHOOK_SECRETS; otherwise someone is sending forged webhooks (they were refused).",
            WINDOW.num_minutes()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_counted_per_minute_in_fixed_memory_and_age_out() {
        let r = Rejections::default();
        let t0: DateTime<Utc> = "2026-12-01T10:00:30Z".parse().unwrap();
        for _ in 0..100_000 {
            r.record(t0);
        }
        r.record(t0 + Duration::minutes(5));
        assert_eq!(r.since(t0 - WINDOW), 100_001);
        assert_eq!(r.since(t0 + Duration::minutes(1)), 1);
        // Sixteen minutes on, the first minute's bucket is reused and its count forgotten.
        r.record(t0 + Duration::minutes(16));
        assert_eq!(r.since(t0 + Duration::minutes(16) - WINDOW), 2);
        assert_eq!(std::mem::size_of::<Rejections>(), BUCKETS * 16);
    }
}
