//! Who may see what, changed: every change to a user's sessions or access appends a row here in
//! the transaction that makes it (and, on PostgreSQL, a `NOTIFY` carrying only the row id, sent
//! at commit). Each server process follows this log and re-checks the open feed sockets of the
//! users it names, so a revocation reaches every process within a poll interval even when it was
//! made by another process or the CLI. Rows are wake-ups, not history: they are pruned.

use chrono::{DateTime, Duration, Utc};
use entity::rights_change::{self, RightsKind};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement,
};

pub use entity::rights_change::RightsKind as Kind;

/// The PostgreSQL channel rights wake-ups go to (payload: the row id, never content).
pub const NOTIFY_CHANNEL: &str = "signaldesk_rights";
/// Rows older than this are deleted: every process has long read them.
pub const KEEP: Duration = Duration::minutes(10);

/// Records that `user_id`'s sessions or access changed. Call inside the transaction that made
/// the change, so the wake-up exists exactly when the change does.
pub async fn changed(db: &impl ConnectionTrait, user_id: i64, kind: RightsKind) -> Result<(), DbErr> {
    let row = rights_change::ActiveModel {
        user_id: Set(user_id),
        kind: Set(kind),
        at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [NOTIFY_CHANNEL.into(), row.id.to_string().into()],
        ))
        .await?;
    }
    Ok(())
}

/// Changes recorded at or after `since`, oldest first, at most `limit`. Followers read by time
/// window rather than "after the last id": ids are handed out before commit, so a row with a
/// smaller id can become visible after a larger one was read.
pub async fn since(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<rights_change::Model>, DbErr> {
    rights_change::Entity::find()
        .filter(rights_change::Column::At.gte(since))
        .order_by_asc(rights_change::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Deletes rows recorded before `before`.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(rights_change::Entity::delete_many()
        .filter(rights_change::Column::At.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}
