//! The one job queue every background effect goes through (role sync, mirroring, …): a row per
//! job with its kind, payload, state, attempt count (also the fencing token), lease and schedule.
//! At most one queued job per (kind, unique key).

use sea_orm_migration::prelude::*;

use crate::columns::{optional_timestamp, pk, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Job {
    Table,
    Id,
    Kind,
    UniqueKey,
    Payload,
    Status,
    Attempts,
    MaxAttempts,
    RunAt,
    LeaseUntil,
    LastError,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Job::Table)
                    .col(pk(Job::Id))
                    .col(ColumnDef::new(Job::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(Job::UniqueKey).string_len(200).null())
                    .col(ColumnDef::new(Job::Payload).text().not_null())
                    .col(ColumnDef::new(Job::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Job::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(Job::MaxAttempts).integer().not_null())
                    .col(timestamp(Job::RunAt))
                    .col(optional_timestamp(Job::LeaseUntil))
                    .col(ColumnDef::new(Job::LastError).text().null())
                    .col(timestamp(Job::CreatedAt))
                    .col(timestamp(Job::UpdatedAt))
                    .col(optional_timestamp(Job::FinishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_job_due")
                    .table(Job::Table)
                    .col(Job::Status)
                    .col(Job::RunAt)
                    .to_owned(),
            )
            .await?;
        // Partial: a job may be running while its successor waits queued.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_job_queued_key ON job (kind, unique_key) WHERE status = 'queued' AND unique_key IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Job::Table).to_owned()).await
    }
}
