//! Capture latency: from the moment Discord says a message was posted (its timestamp, which is
//! its snowflake's time) to the moment ingest accepted it (`signal.ingested_at`). Over the last
//! hour, per connector; what a backfill brought in late counts too — that is how late customers
//! saw it.

use chrono::{DateTime, Duration, Utc};
use entity::signal;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

pub const WINDOW: Duration = Duration::hours(1);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

/// The value at quantile `q` (nearest rank) of sorted `ms`.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// p50/p95 of the given latencies (milliseconds); `None` without samples.
pub fn summarise(mut ms: Vec<f64>) -> Option<Latency> {
    if ms.is_empty() {
        return None;
    }
    ms.sort_by(f64::total_cmp);
    Some(Latency {
        samples: ms.len(),
        p50_ms: quantile(&ms, 0.50),
        p95_ms: quantile(&ms, 0.95),
    })
}

/// The connector's capture latency over the hour before `now`.
pub async fn last_hour(
    db: &impl ConnectionTrait,
    connector_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<Latency>, DbErr> {
    let rows: Vec<(Option<DateTime<Utc>>, DateTime<Utc>)> = signal::Entity::find()
        .select_only()
        .column(signal::Column::PostedAt)
        .column(signal::Column::IngestedAt)
        .filter(signal::Column::ConnectorId.eq(connector_id))
        .filter(signal::Column::IngestedAt.gt(now - WINDOW))
        .filter(signal::Column::PostedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    Ok(summarise(
        rows.into_iter()
            .filter_map(|(posted, ingested)| {
                posted.map(|p| (ingested - p).num_microseconds().unwrap_or(0) as f64 / 1000.0)
            })
            .map(|ms| ms.max(0.0))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(summarise(vec![]), None);
        let l = summarise((1..=100).map(f64::from).rev().collect()).unwrap();
        assert_eq!((l.samples, l.p50_ms, l.p95_ms), (100, 50.0, 95.0));
        let one = summarise(vec![7.0]).unwrap();
        assert_eq!((one.p50_ms, one.p95_ms), (7.0, 7.0));
    }
}
