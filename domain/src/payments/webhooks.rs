//! The webhook inbox (W2, W3): a verified delivery is stored once under a dedupe key derived from
//! store, event, resource id and the body's hash, then answered; processing reads the stored
//! row. A duplicate, concurrent or not, finds the key taken and changes nothing.

use chrono::Utc;
use entity::webhook_event;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub type StoredEvent = webhook_event::Model;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body has no `event` string")]
    NoEvent,
    #[error("the body has no `data.id`")]
    NoResourceId,
}

/// The parts of `{"event", "data": {"id"}, "store"}` the inbox needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub event: String,
    pub resource_id: String,
    pub store: String,
}

pub fn envelope(body: &[u8]) -> Result<Envelope, EnvelopeError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    let event = v["event"]
        .as_str()
        .filter(|e| !e.is_empty() && e.len() <= 64)
        .ok_or(EnvelopeError::NoEvent)?;
    let resource_id = match &v["data"]["id"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) if !s.is_empty() && s.len() <= 64 => s.clone(),
        _ => return Err(EnvelopeError::NoResourceId),
    };
    let store = match &v["store"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.chars().take(64).collect(),
        _ => String::new(),
    };
    Ok(Envelope {
        event: event.to_owned(),
        resource_id,
        store,
    })
}

pub fn dedupe_key(env: &Envelope, body: &[u8]) -> String {
    let body_hash = Sha256::digest(body);
    let mut h = Sha256::new();
    h.update(env.store.as_bytes());
    h.update([0]);
    h.update(env.event.as_bytes());
    h.update([0]);
    h.update(env.resource_id.as_bytes());
    h.update([0]);
    h.update(body_hash);
    hex::encode(h.finalize())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    Stored,
    Duplicate,
}

/// Stores a verified delivery unless its twin is already stored.
pub async fn store(db: &impl ConnectionTrait, env: &Envelope, body: &[u8]) -> Result<Received, DbErr> {
    let now = Utc::now();
    let row = webhook_event::ActiveModel {
        dedupe_key: Set(dedupe_key(env, body)),
        store_id: Set(env.store.clone()),
        event: Set(env.event.clone()),
        resource_id: Set(env.resource_id.clone()),
        body: Set(String::from_utf8_lossy(body).into_owned()),
        status: Set("pending".into()),
        attempts: Set(0),
        last_error: Set(None),
        received_at: Set(now),
        next_attempt_at: Set(now),
        processed_at: Set(None),
        ..Default::default()
    };
    let inserted = webhook_event::Entity::insert(row)
        .on_conflict(
            OnConflict::column(webhook_event::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(if inserted == 1 {
        Received::Stored
    } else {
        Received::Duplicate
    })
}

/// Failed deliveries for the admin inbox, newest first, at most `limit` (indexed by status).
pub async fn failures(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<StoredEvent>, DbErr> {
    use sea_orm::QuerySelect;
    webhook_event::Entity::find()
        .filter(webhook_event::Column::Status.eq("failed"))
        .order_by_desc(webhook_event::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Puts failed events back in the queue; processing is idempotent, so replaying one that
/// already had its effect changes nothing. Returns how many were queued.
pub async fn replay(db: &impl ConnectionTrait, ids: &[i64]) -> Result<u64, DbErr> {
    requeue_failed(db, Some(ids)).await
}

/// Puts every failed event back in the queue, in one statement (however many there are).
pub async fn replay_all(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    requeue_failed(db, None).await
}

async fn requeue_failed(db: &impl ConnectionTrait, ids: Option<&[i64]>) -> Result<u64, DbErr> {
    use sea_orm::sea_query::Expr;
    let mut update = webhook_event::Entity::update_many()
        .col_expr(webhook_event::Column::Status, Expr::value("pending"))
        .col_expr(webhook_event::Column::NextAttemptAt, Expr::value(Utc::now()))
        .filter(webhook_event::Column::Status.eq("failed"));
    if let Some(ids) = ids {
        update = update.filter(webhook_event::Column::Id.is_in(ids.to_vec()));
    }
    Ok(update.exec(db).await?.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dedupe_key_covers_event_resource_store_and_body() {
        let body = br#"{"event":"order.completed","data":{"id":236},"store":1}"#;
        let env = envelope(body).unwrap();
        assert_eq!(
            (env.event.as_str(), env.resource_id.as_str(), env.store.as_str()),
            ("order.completed", "236", "1")
        );
        let other_body = br#"{"event":"order.completed","data":{"id":236,"x":1},"store":1}"#;
        assert_ne!(dedupe_key(&env, body), dedupe_key(&env, other_body));
        assert_eq!(dedupe_key(&env, body), dedupe_key(&env, body));
        assert_eq!(envelope(b"[1]"), Err(EnvelopeError::NoEvent));
        assert_eq!(
            envelope(br#"{"event":"order.completed","data":{}}"#),
            Err(EnvelopeError::NoResourceId)
        );
    }
}
