//! `/rpc/admin/overview`: how the business is doing, for the `/admin` front page — customers with
//! access by tier, 30 days of revenue, purchases, renewals, expiries and signals, the mirror's
//! delivery latency, queue health and open alerts.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Days the overview covers, today included.
pub const DAYS: u32 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DayRow {
    /// `2026-12-06`.
    pub day: String,
    pub revenue_minor: i64,
    /// `12.50 USD` (or `−12.50 USD` on a day refunds outweighed sales).
    pub revenue: String,
    pub first_purchases: u64,
    pub renewals: u64,
    pub expiries: u64,
    pub signals: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OverviewView {
    pub active_by_tier: Vec<(String, u64)>,
    /// The charted currency; empty before any payment recorded an amount.
    pub currency: String,
    /// `net 40.00 EUR` for each other currency seen in the window.
    pub other_currencies: Vec<String>,
    /// The window's net revenue in `currency`.
    pub revenue_total: String,
    pub days: Vec<DayRow>,
    /// Dashboard delivery in this server process, last hour: (events, p50 ms, p95 ms) from the
    /// feed-log commit to the frames handed to every open feed; `None` when none was delivered.
    pub dashboard: Option<(u64, u64, u64)>,
    /// Mirror operations answered in the last hour: (operation, count, p50 ms, p95 ms).
    pub mirror: Vec<(String, u64, u64, u64)>,
    /// Per job kind: (kind, queued, dead, oldest due wait in seconds).
    pub queues: Vec<(String, u64, u64, Option<i64>)>,
    /// What needs the operator now.
    pub alerts: Vec<String>,
}

#[server(prefix = "/rpc/admin", endpoint = "overview")]
pub async fn business_overview() -> Result<OverviewView, AppError> {
    let ctx = crate::auth::admin_context().await?;
    let unavailable = |e| crate::error::unavailable("reading the overview", e);
    let now = chrono::Utc::now();
    let o = domain::overview::at(&ctx.db, &ctx.tiers, now, DAYS)
        .await
        .map_err(unavailable)?;
    let currency = o.currency.clone().unwrap_or_default();
    let days = o
        .days
        .iter()
        .map(|d| DayRow {
            day: d.day.to_string(),
            revenue_minor: d.revenue_minor,
            revenue: domain::entitlements::format_amount(d.revenue_minor, &currency),
            first_purchases: d.first_purchases,
            renewals: d.renewals,
            expiries: d.expiries,
            signals: d.signals,
        })
        .collect();
    let mirror = domain::mirror::ledger::latency(&ctx.db, now)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|l| (l.op, l.count, l.p50_ms, l.p95_ms))
        .collect();
    let kinds = domain::jobs::overview::summary(&ctx.db, now)
        .await
        .map_err(unavailable)?;
    let mut alerts = Vec::new();
    if let Some(spike) = domain::payments::alert::check(&ctx.db, ctx.config.payment_alert_threshold, now)
        .await
        .map_err(unavailable)?
    {
        alerts.push(format!("Payment alert: {spike}. Check the webhook inbox."));
    }
    for k in &kinds {
        if k.dead > 0 {
            alerts.push(format!("{} dead {:?} job(s): see Queues.", k.dead, k.kind));
        }
        if k.oldest_due.is_some_and(|w| w > chrono::Duration::minutes(5)) {
            alerts.push(format!(
                "{:?} jobs are waiting more than 5 minutes: is a bot running?",
                k.kind
            ));
        }
    }
    Ok(OverviewView {
        active_by_tier: o.active_by_tier,
        other_currencies: o
            .other_currencies
            .iter()
            .map(|(c, net)| format!("net {}", domain::entitlements::format_amount(*net, c)))
            .collect(),
        revenue_total: domain::entitlements::format_amount(o.days.iter().map(|d| d.revenue_minor).sum(), &currency),
        currency,
        days,
        dashboard: ctx
            .metrics
            .feed_delivery
            .summary(now)
            .map(|l| (l.count, l.p50_ms, l.p95_ms)),
        mirror,
        queues: kinds
            .into_iter()
            .map(|k| {
                (
                    format!("{:?}", k.kind),
                    k.queued,
                    k.dead,
                    k.oldest_due.map(|w| w.num_seconds()),
                )
            })
            .collect(),
        alerts,
    })
}
