//! W5, reconciliation: webhooks can be lost, so a pass over Sell.app's invoices API finds paid
//! orders that never granted and refunded, voided or disputed orders that still grant, and
//! repairs them through the same rules as the webhook path. Every repair is recorded on the
//! customer's access timeline with the cause `reconciliation …`.

use std::time::Duration;

use entity::entitlement_grant;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde_json::Value;
use url::Url;

use super::order::Order;
use super::processing::{self, Outcome, ProcessError};
use crate::role_sync::RoleGuild;
use crate::secret::Secret;

const PAGE_SIZE: u32 = 100;
const MAX_TRIES: u32 = 6;
/// A `Retry-After` longer than this is not waited out inside one pass.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("the Sell.app API refused the key (401): check SELLAPP_API_KEY")]
    BadKey,
    #[error("the Sell.app API kept failing: {0}")]
    Unavailable(String),
    #[error("the Sell.app API answered something unreadable: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub invoices_seen: usize,
    pub granted: Vec<String>,
    pub revoked: Vec<String>,
    /// Orders that needed a repair but could not get one (e.g. no policy), with why.
    pub failed: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} invoices checked; granted {:?}; revoked {:?}; could not repair {:?}",
            self.invoices_seen, self.granted, self.revoked, self.failed
        )
    }
}

pub struct SellappApi {
    base: Url,
    key: Secret<String>,
    http: reqwest::Client,
}

impl SellappApi {
    pub fn new(base: Url, key: Secret<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a TLS-capable HTTP client");
        Self { base, key, http }
    }

    /// One page of invoices, newest first. Retries 408/409/429/5xx and network errors with
    /// backoff, honouring `Retry-After`; a 401 is final.
    async fn invoices(&self, page: u32) -> Result<(Vec<Value>, u32, u32), ReconcileError> {
        let url = format!("{}/v2/invoices", self.base.as_str().trim_end_matches('/'));
        let mut delay = Duration::from_millis(500);
        let mut last = String::new();
        for _ in 0..MAX_TRIES {
            let res = self
                .http
                .get(&url)
                .bearer_auth(self.key.expose())
                .query(&[
                    ("limit", PAGE_SIZE.to_string()),
                    ("page", page.to_string()),
                    ("sort", "-created_at".into()),
                ])
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => {
                    let body: Value = r.json().await.map_err(|e| ReconcileError::Unreadable(e.to_string()))?;
                    let data = body["data"]
                        .as_array()
                        .cloned()
                        .ok_or(ReconcileError::Unreadable("no data array".into()))?;
                    let current = body["meta"]["current_page"].as_u64().unwrap_or(u64::from(page)) as u32;
                    let last_page = body["meta"]["last_page"].as_u64().unwrap_or(u64::from(current)) as u32;
                    return Ok((data, current, last_page));
                }
                Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => return Err(ReconcileError::BadKey),
                Ok(r) if matches!(r.status().as_u16(), 408 | 409 | 429) || r.status().is_server_error() => {
                    let wait = r
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .map(|s| Duration::from_secs_f64(s.max(0.0)).min(MAX_RETRY_AFTER))
                        .unwrap_or(delay);
                    last = format!("{} on page {page}", r.status());
                    tracing::warn!(status = %r.status(), wait_ms = wait.as_millis() as u64, "Sell.app API asked us to retry");
                    tokio::time::sleep(wait).await;
                }
                Ok(r) => return Err(ReconcileError::Unavailable(format!("{} on page {page}", r.status()))),
                Err(e) => {
                    last = e.to_string();
                    tokio::time::sleep(delay).await;
                }
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        Err(ReconcileError::Unavailable(last))
    }
}

/// Walks every invoice page and repairs what the ledger is missing.
pub async fn run(
    db: &DatabaseConnection,
    api: &SellappApi,
    roles: Option<&RoleGuild>,
) -> Result<Report, ReconcileError> {
    let mut report = Report::default();
    let mut page = 1;
    loop {
        let (invoices, current, last_page) = api.invoices(page).await?;
        for invoice in &invoices {
            report.invoices_seen += 1;
            let Some(order) = Order::from_json(invoice) else {
                continue;
            };
            repair(db, &order, roles, &mut report).await?;
        }
        if invoices.is_empty() || current >= last_page {
            break;
        }
        page = current + 1;
    }
    tracing::info!(%report, "reconciliation finished");
    Ok(report)
}

async fn repair(
    db: &DatabaseConnection,
    order: &Order,
    roles: Option<&RoleGuild>,
    report: &mut Report,
) -> Result<(), DbErr> {
    let grant = entitlement_grant::Entity::find()
        .filter(entitlement_grant::Column::OrderId.eq(order.id.as_str()))
        .one(db)
        .await?;
    let event = if order.is_taken_back() && grant.as_ref().is_some_and(|g| g.revoked_at.is_none()) {
        "order.refunded"
    } else if order.is_paid() && grant.is_none() {
        "order.completed"
    } else {
        return Ok(());
    };
    let txn = crate::database::begin_write(db).await?;
    let outcome = processing::apply_order(&txn, event, order, format!("Sell.app reconciliation #{}", order.id)).await;
    if let (Some(map), Ok(Outcome::Granted(Some(user)) | Outcome::Revoked(Some(user)))) = (roles, &outcome) {
        crate::role_sync::sync_user(&txn, map, *user).await?;
    }
    match outcome {
        Ok(Outcome::Granted(_)) => {
            txn.commit().await?;
            report.granted.push(order.id.clone());
        }
        Ok(Outcome::Revoked(_)) => {
            txn.commit().await?;
            report.revoked.push(order.id.clone());
        }
        Ok(_) => txn.commit().await?,
        Err(ProcessError::Db(e)) => return Err(e),
        Err(e) => {
            txn.rollback().await?;
            tracing::warn!(order = %order.id, error = %e, "reconciliation could not repair an order");
            report.failed.push(format!("#{}: {e}", order.id));
        }
    }
    Ok(())
}
