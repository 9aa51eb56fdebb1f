//! The customer's desk: history and search.
//! - `signal.search_text`: what search and the trade parser read (content, then the embeds'
//!   text), written by ingest; `signal.pair` / `signal.side`: the trade it states, for filters.
//!   Rows stored before this migration are filled in by the server at start-up
//!   (`domain::feed::search::fill_missing`): the rule lives in one place, in Rust.
//! - `signal_revision`: each earlier version of an edited signal, for its edit history.
//! - The database's own text index over `search_text`: an FTS5 table kept by triggers on
//!   SQLite; a generated `tsvector` column with a GIN index on PostgreSQL. Both split words at
//!   anything not a letter or digit ("BTC/USDT" is "btc" and "usdt").

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::columns::{optional_timestamp, pk, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Signal {
    Table,
    Id,
    SearchText,
    Pair,
    Side,
}

#[derive(DeriveIden)]
enum SignalRevision {
    Table,
    Id,
    SignalId,
    Content,
    EmbedsJson,
    EditedAt,
    ReplacedAt,
}

const SQLITE_UP: &[&str] = &[
    // `prefix`: every word is searched as a prefix ("btc" finds "BTCUSDT"); indexes of the
    // first 2 to 4 characters answer those without merging every longer word's list.
    "CREATE VIRTUAL TABLE signal_fts USING fts5(search_text, content='signal', content_rowid='id', \
     tokenize='unicode61 remove_diacritics 2', prefix='2 3 4')",
    "CREATE TRIGGER signal_fts_insert AFTER INSERT ON signal BEGIN \
     INSERT INTO signal_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER signal_fts_delete AFTER DELETE ON signal BEGIN \
     INSERT INTO signal_fts(signal_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER signal_fts_update AFTER UPDATE OF search_text ON signal BEGIN \
     INSERT INTO signal_fts(signal_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text); \
     INSERT INTO signal_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO signal_fts(signal_fts) VALUES ('rebuild')",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS signal_fts_update",
    "DROP TRIGGER IF EXISTS signal_fts_delete",
    "DROP TRIGGER IF EXISTS signal_fts_insert",
    "DROP TABLE IF EXISTS signal_fts",
];

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE signal ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS \
     (to_tsvector('simple', regexp_replace(search_text, '[^[:alnum:]]+', ' ', 'g'))) STORED",
    "CREATE INDEX idx_signal_search_tsv ON signal USING GIN (search_tsv)",
];

const POSTGRES_DOWN: &[&str] = &["ALTER TABLE signal DROP COLUMN IF EXISTS search_tsv"];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    for sql in statements {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            ColumnDef::new(Signal::SearchText)
                .text()
                .not_null()
                .default("")
                .to_owned(),
            ColumnDef::new(Signal::Pair).string().null().to_owned(),
            ColumnDef::new(Signal::Side).string().null().to_owned(),
        ] {
            let mut col = col;
            manager
                .alter_table(Table::alter().table(Signal::Table).add_column(&mut col).to_owned())
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_signal_pair")
                    .table(Signal::Table)
                    .col(Signal::Pair)
                    .col(Signal::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SignalRevision::Table)
                    .col(pk(SignalRevision::Id))
                    .col(ColumnDef::new(SignalRevision::SignalId).big_integer().not_null())
                    .col(ColumnDef::new(SignalRevision::Content).text().not_null())
                    .col(ColumnDef::new(SignalRevision::EmbedsJson).text().not_null())
                    .col(optional_timestamp(SignalRevision::EditedAt))
                    .col(timestamp(SignalRevision::ReplacedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_signal_revision_signal")
                    .table(SignalRevision::Table)
                    .col(SignalRevision::SignalId)
                    .col(SignalRevision::Id)
                    .to_owned(),
            )
            .await?;
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => run(manager, SQLITE_UP).await,
            _ => run(manager, POSTGRES_UP).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DatabaseBackend::Sqlite => run(manager, SQLITE_DOWN).await?,
            _ => run(manager, POSTGRES_DOWN).await?,
        }
        manager
            .drop_table(Table::drop().table(SignalRevision::Table).to_owned())
            .await?;
        manager
            .drop_index(Index::drop().name("idx_signal_pair").table(Signal::Table).to_owned())
            .await?;
        for col in [Signal::Side, Signal::Pair, Signal::SearchText] {
            manager
                .alter_table(Table::alter().table(Signal::Table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}
