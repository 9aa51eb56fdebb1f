//! The failure-spike alert: too many webhook processing failures or signature rejections in a
//! short window means something is wrong (a rotated secret not configured here, a product
//! without a policy, Sell.app changing its format). Logged at error level, exported as a metric,
//! and shown as a banner in the admin console.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use entity::webhook_event;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter};

pub const WINDOW: Duration = Duration::minutes(15);

/// Recent signature rejections of this process (they are never stored, so they are kept here).
#[derive(Debug, Default)]
pub struct Rejections(Mutex<VecDeque<DateTime<Utc>>>);

impl Rejections {
    pub fn record(&self, at: DateTime<Utc>) {
        let mut q = self.0.lock().expect("rejections lock");
        q.push_back(at);
        while q.front().is_some_and(|t| *t < at - WINDOW) {
            q.pop_front();
        }
    }

    pub fn since(&self, from: DateTime<Utc>) -> u64 {
        self.0
            .lock()
            .expect("rejections lock")
            .iter()
            .filter(|t| **t >= from)
            .count() as u64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spike {
    pub failures: u64,
    pub rejections: u64,
}

impl std::fmt::Display for Spike {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} failed payment event(s) and {} rejected webhook signature(s) in the last {} minutes",
            self.failures,
            self.rejections,
            WINDOW.num_minutes()
        )
    }
}

/// The spike, if failures plus rejections in the window reach `threshold`.
pub async fn check(
    db: &impl ConnectionTrait,
    rejections: &Rejections,
    threshold: u64,
    now: DateTime<Utc>,
) -> Result<Option<Spike>, DbErr> {
    let from = now - WINDOW;
    let failures = webhook_event::Entity::find()
        .filter(webhook_event::Column::Status.eq("failed"))
        .filter(webhook_event::Column::ReceivedAt.gte(from))
        .count(db)
        .await?;
    let spike = Spike {
        failures,
        rejections: rejections.since(from),
    };
    Ok((spike.failures + spike.rejections >= threshold).then_some(spike))
}
