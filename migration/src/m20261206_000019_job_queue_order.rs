//! The job claim walks queued jobs in the order it takes them (`run_at`, then `id`) and stops at
//! its limit: with `(status, run_at, id)` the index gives that order, so a claim costs the jobs
//! it takes, not the whole backlog (an unreachable CDN once left thousands of attachment fetches
//! due, and every claim sorted all of them). It replaces `(status, run_at)`, its prefix.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Job {
    Table,
    Status,
    RunAt,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_job_queue")
                    .table(Job::Table)
                    .col(Job::Status)
                    .col(Job::RunAt)
                    .col(Job::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name("idx_job_due").table(Job::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
        manager
            .drop_index(Index::drop().name("idx_job_queue").table(Job::Table).to_owned())
            .await
    }
}
