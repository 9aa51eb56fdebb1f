//! Turning stored webhook events into ledger changes (W2, W4). Each event is processed in one
//! transaction that also marks it processed, so a crash leaves it pending and it is processed
//! again after restart; every effect is idempotent (one grant per order, a revoke of a revoked
//! order does nothing), so processing twice is harmless. Failures are recorded with attempt
//! count and last error, retried with backoff, and can be replayed from the admin inbox.

use chrono::{Duration, Utc};
use entity::{payment_customer, webhook_event};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::Value;

use super::order::Order;
use super::policies;
use super::webhooks::StoredEvent;
use crate::entitlements::{self, NewGrant};
use crate::role_sync::RoleGuild;

/// Automatic retries stop here; the event waits in the failure inbox for a replay.
pub const MAX_ATTEMPTS: i32 = 5;
const BATCH: u64 = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Time granted; the account it went to, if there is one yet.
    Granted(Option<i64>),
    Revoked(Option<i64>),
    /// Already had its effect (a repeat of an order that was granted or taken back).
    NoChange,
    Ignored(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("no policy for product {product} (variant {variant}): add one, then replay")]
    NoPolicy { product: String, variant: String },
    #[error("the order has no {0}")]
    Missing(&'static str),
    #[error("the body is not a Sell.app order: {0}")]
    Unreadable(String),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Processed {
    pub done: usize,
    pub failed: usize,
}

/// Processes every event that is due: pending ones, and failed ones whose retry time came.
pub async fn process_due(db: &DatabaseConnection, roles: Option<&RoleGuild>) -> Result<Processed, DbErr> {
    let now = Utc::now();
    let due = webhook_event::Entity::find()
        .filter(
            Condition::any().add(webhook_event::Column::Status.eq("pending")).add(
                Condition::all()
                    .add(webhook_event::Column::Status.eq("failed"))
                    .add(webhook_event::Column::Attempts.lt(MAX_ATTEMPTS))
                    .add(webhook_event::Column::NextAttemptAt.lte(now)),
            ),
        )
        .order_by_asc(webhook_event::Column::Id)
        .limit(BATCH)
        .all(db)
        .await?;
    let mut counts = Processed::default();
    for event in due {
        if process_one(db, &event, roles).await? {
            counts.done += 1;
        } else {
            counts.failed += 1;
        }
    }
    Ok(counts)
}

/// Processes one stored event; returns whether it succeeded (failures are recorded on the row).
pub async fn process_one(
    db: &DatabaseConnection,
    event: &StoredEvent,
    roles: Option<&RoleGuild>,
) -> Result<bool, DbErr> {
    let txn = crate::database::begin_write(db).await?;
    // A write first: on SQLite the transaction takes the write lock now (waiting for it)
    // rather than failing to upgrade from a read later.
    webhook_event::Entity::update_many()
        .col_expr(
            webhook_event::Column::Attempts,
            Expr::col(webhook_event::Column::Attempts).add(1),
        )
        .filter(webhook_event::Column::Id.eq(event.id))
        .exec(&txn)
        .await?;
    match apply(&txn, event).await {
        Ok(outcome) => {
            if let (Some(map), Outcome::Granted(Some(user)) | Outcome::Revoked(Some(user))) = (roles, &outcome) {
                crate::role_sync::sync_user(&txn, map, *user).await?;
            }
            let (status, note) = match &outcome {
                Outcome::Ignored(why) => ("ignored", Some(why.clone())),
                _ => ("processed", None),
            };
            webhook_event::Entity::update_many()
                .col_expr(webhook_event::Column::Status, Expr::value(status))
                .col_expr(webhook_event::Column::LastError, Expr::value(note))
                .col_expr(webhook_event::Column::ProcessedAt, Expr::value(Some(Utc::now())))
                .filter(webhook_event::Column::Id.eq(event.id))
                .exec(&txn)
                .await?;
            txn.commit().await?;
            tracing::info!(event = %event.event, resource = %event.resource_id, ?outcome, "payment event processed");
            Ok(true)
        }
        Err(e) => {
            txn.rollback().await?;
            let attempts = event.attempts + 1;
            let backoff = Duration::seconds(30 * (1_i64 << attempts.clamp(0, 10)));
            tracing::warn!(event = %event.event, resource = %event.resource_id, attempts, error = %e, "payment event failed");
            webhook_event::Entity::update_many()
                .col_expr(webhook_event::Column::Status, Expr::value("failed"))
                .col_expr(webhook_event::Column::Attempts, Expr::value(attempts))
                .col_expr(webhook_event::Column::LastError, Expr::value(Some(e.to_string())))
                .col_expr(webhook_event::Column::NextAttemptAt, Expr::value(Utc::now() + backoff))
                .filter(webhook_event::Column::Id.eq(event.id))
                .exec(db)
                .await?;
            Ok(false)
        }
    }
}

const GRANTING: &[&str] = &["order.completed", "order.paid"];
const TAKING_BACK: &[&str] = &["order.disputed", "order.refunded", "order.voided", "order.reversed"];

async fn apply(db: &impl ConnectionTrait, event: &StoredEvent) -> Result<Outcome, ProcessError> {
    if !event.event.starts_with("order.") {
        return Ok(Outcome::Ignored(format!("{} does not change access", event.event)));
    }
    let body: Value = serde_json::from_str(&event.body).map_err(|e| ProcessError::Unreadable(e.to_string()))?;
    let order = Order::from_json(&body["data"]).ok_or(ProcessError::Unreadable("no order id".into()))?;
    let actor = format!("Sell.app {} #{}", event.event, order.id);
    apply_order(db, &event.event, &order, actor).await
}

/// What an order means for access, whether it came as a webhook or from reconciliation
/// (`event` is then the webhook event it stands in for). `actor` names it on the timeline.
pub async fn apply_order(
    db: &impl ConnectionTrait,
    event: &str,
    order: &Order,
    actor: String,
) -> Result<Outcome, ProcessError> {
    let email = order.email.clone().unwrap_or_default();
    if TAKING_BACK.contains(&event) || order.is_taken_back() {
        let reason = format!(
            "Sell.app {} ({})",
            event,
            order.status.as_deref().unwrap_or("no status")
        );
        let revoked = entitlements::revoke_order(db, &order.id, &email, &reason, &actor).await?;
        return Ok(match revoked {
            Some(g) => Outcome::Revoked(g.user_id),
            None => Outcome::NoChange,
        });
    }
    if !GRANTING.contains(&event) {
        // W4: e.g. a late order.created after order.completed must not regress anything.
        return Ok(Outcome::Ignored(format!("{event} does not change access")));
    }
    // Only a status in the paid list grants: an order.completed without one is not proof of payment
    // (reconciliation reads the invoice's real status later).
    if !order.is_paid() {
        return Ok(Outcome::Ignored(match order.status.as_deref() {
            Some(status) => format!("order status {status} is not paid"),
            None => "the order carries no status; only a paid status grants access".into(),
        }));
    }
    if order.lines.is_empty() {
        return Err(ProcessError::Missing("product id"));
    }
    // Every line's policy first: an order with a line nobody priced grants nothing until the
    // operator adds the policy and replays (never a part of what was bought).
    let mut terms = Vec::with_capacity(order.lines.len());
    for line in &order.lines {
        let policy = policies::resolve(db, &line.product_id, line.variant_id.as_deref())
            .await?
            .ok_or_else(|| ProcessError::NoPolicy {
                product: line.product_id.clone(),
                variant: line.variant_id.clone().unwrap_or_else(|| "none".into()),
            })?;
        terms.push((policy, line.quantity));
    }
    if email.is_empty() {
        return Err(ProcessError::Missing("customer email"));
    }
    // Granted before, or taken back before it was paid: the first line's key says so.
    if !entitlements::order_lines(db, &order.id).await?.is_empty() {
        return Ok(Outcome::NoChange);
    }
    let user_id = identify(db, order, &email).await?;
    let mut granted = None;
    for (line, (policy, quantity)) in terms.into_iter().enumerate() {
        let first = line == 0;
        let g = entitlements::grant(
            db,
            NewGrant {
                user_id,
                email: email.clone(),
                order_id: Some(entitlements::line_key(&order.id, line)),
                tier_id: policy.tier_id,
                days: policy.days * quantity,
                starts_at: Utc::now(),
                cause: crate::entitlements::GrantCause::Payment,
                reason: format!("Sell.app order #{}", order.id),
                actor: Some(actor.clone()),
                // The order's total is recorded once, on its first line.
                amount_minor: order.amount_minor.filter(|_| first),
                currency: order.currency.clone().filter(|_| first),
            },
        )
        .await?;
        granted = granted.or(g);
    }
    Ok(match granted {
        Some(g) => Outcome::Granted(g.user_id),
        None => Outcome::NoChange,
    })
}

/// Which account paid: the Sell.app customer id or subscription id we linked before, then the
/// email. The first match is remembered.
async fn identify(db: &impl ConnectionTrait, order: &Order, email: &str) -> Result<Option<i64>, DbErr> {
    let mut known = None;
    if let Some(cid) = &order.customer_id {
        known = payment_customer::Entity::find()
            .filter(payment_customer::Column::SellappCustomerId.eq(cid.as_str()))
            .one(db)
            .await?;
    }
    if known.is_none()
        && let Some(sid) = &order.subscription_id
    {
        known = payment_customer::Entity::find()
            .filter(payment_customer::Column::SubscriptionId.eq(sid.as_str()))
            .one(db)
            .await?;
    }
    if known.is_none() {
        known = payment_customer::Entity::find()
            .filter(payment_customer::Column::Email.eq(email))
            .one(db)
            .await?;
    }
    if let Some(user) = known.as_ref().and_then(|k| k.user_id) {
        return Ok(Some(user));
    }
    // Only an account that proved it owns the address receives what was paid with it.
    let account = crate::accounts::proven_owner(db, email).await?;
    match known {
        Some(k) => {
            let mut active: payment_customer::ActiveModel = k.clone().into();
            active.user_id = Set(account);
            if k.sellapp_customer_id.is_none() {
                active.sellapp_customer_id = Set(order.customer_id.clone());
            }
            if k.subscription_id.is_none() {
                active.subscription_id = Set(order.subscription_id.clone());
            }
            active.update(db).await?;
        }
        None => {
            payment_customer::ActiveModel {
                email: Set(email.to_owned()),
                sellapp_customer_id: Set(order.customer_id.clone()),
                subscription_id: Set(order.subscription_id.clone()),
                user_id: Set(account),
                created_at: Set(Utc::now()),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    Ok(account)
}

/// An account proved it owns `email` (verified, or made by the operator): link payments made
/// with that address before, and claim the time they bought.
pub async fn link_account(db: &impl ConnectionTrait, user_id: i64, email: &str) -> Result<u64, DbErr> {
    payment_customer::Entity::update_many()
        .col_expr(payment_customer::Column::UserId, Expr::value(Some(user_id)))
        .filter(payment_customer::Column::Email.eq(email))
        .filter(payment_customer::Column::UserId.is_null())
        .exec(db)
        .await?;
    entitlements::claim_pending(db, user_id, email).await
}
