//! A signal is known by its source channel and message id together, no longer by the message
//! id alone. Message ids were looked up across every connector, so connector B could report a
//! delete of id X in its own channel first and A's later create of X in A's guild was ignored as
//! "stored under another channel". Now a message id reported in one channel never reaches a
//! signal of another.
//!
//! PostgreSQL drops the column's unique constraint. SQLite cannot drop a column constraint, so
//! the table is rebuilt from its own stored definition (minus that `UNIQUE`), and its indexes and
//! triggers (the search index's) are made again from theirs. No table refers to `signal` by a
//! foreign key, so nothing else moves.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const UNIQUE_COLUMN: &str = "\"message_id\" integer NOT NULL UNIQUE";
const PLAIN_COLUMN: &str = "\"message_id\" integer NOT NULL";

async fn exec(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager.get_connection().execute_unprepared(sql).await.map(|_| ())
}

/// Rebuilds SQLite's `signal` with its definition changed by `edit`, keeping rows, ids,
/// indexes and triggers.
async fn rebuild_sqlite(manager: &SchemaManager<'_>, edit: impl Fn(&str) -> Option<String>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let rows = db
        .query_all_raw(Statement::from_string(
            DatabaseBackend::Sqlite,
            "SELECT type, sql FROM sqlite_master WHERE tbl_name = 'signal' AND sql IS NOT NULL",
        ))
        .await?;
    let mut table = None;
    let mut others = Vec::new();
    for row in rows {
        let kind: String = row.try_get("", "type")?;
        let sql: String = row.try_get("", "sql")?;
        if kind == "table" {
            table = Some(sql);
        } else {
            others.push(sql);
        }
    }
    let table = table.ok_or_else(|| DbErr::Migration("no signal table to rebuild".into()))?;
    let changed = edit(&table).ok_or_else(|| {
        DbErr::Migration(format!(
            "the signal table's definition is not the one this migration knows: {table}"
        ))
    })?;
    let staged = changed.replacen("\"signal\"", "\"signal_rebuild\"", 1);
    exec(manager, &staged).await?;
    exec(manager, "INSERT INTO signal_rebuild SELECT * FROM signal").await?;
    exec(manager, "DROP TABLE signal").await?;
    exec(manager, "ALTER TABLE signal_rebuild RENAME TO signal").await?;
    for sql in others {
        exec(manager, &sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// The rebuild must run on one connection, all or nothing: SQLite migrations otherwise run
    /// statement by statement on whichever pooled connection is free.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => {
                rebuild_sqlite(manager, |sql| {
                    sql.contains(UNIQUE_COLUMN)
                        .then(|| sql.replacen(UNIQUE_COLUMN, PLAIN_COLUMN, 1))
                })
                .await?
            }
            _ => exec(manager, "ALTER TABLE signal DROP CONSTRAINT signal_message_id_key").await?,
        }
        // The old plain index on the same columns becomes the unique one.
        exec(manager, "DROP INDEX idx_signal_channel").await?;
        exec(
            manager,
            "CREATE UNIQUE INDEX uq_signal_channel_message ON signal (channel_id, message_id)",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(manager, "DROP INDEX uq_signal_channel_message").await?;
        exec(
            manager,
            "CREATE INDEX idx_signal_channel ON signal (channel_id, message_id)",
        )
        .await?;
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => {
                rebuild_sqlite(manager, |sql| {
                    (sql.contains(PLAIN_COLUMN) && !sql.contains(UNIQUE_COLUMN))
                        .then(|| sql.replacen(PLAIN_COLUMN, UNIQUE_COLUMN, 1))
                })
                .await
            }
            _ => {
                exec(
                    manager,
                    "ALTER TABLE signal ADD CONSTRAINT signal_message_id_key UNIQUE (message_id)",
                )
                .await
            }
        }
    }
}
