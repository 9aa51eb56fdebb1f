//! Threads mirrored as threads: for each source thread and target channel, the thread our bot
//! made in the target. Made once: a worker claims the making (`creating_until`, a lease) before
//! asking Discord, so two copies of messages in one thread never make two threads.

use sea_orm_migration::prelude::*;

use crate::columns::{optional_timestamp, pk, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MirrorThread {
    Table,
    Id,
    SourceThreadId,
    TargetChannelId,
    TargetThreadId,
    CreatingUntil,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MirrorThread::Table)
                    .col(pk(MirrorThread::Id))
                    .col(ColumnDef::new(MirrorThread::SourceThreadId).big_integer().not_null())
                    .col(ColumnDef::new(MirrorThread::TargetChannelId).big_integer().not_null())
                    .col(ColumnDef::new(MirrorThread::TargetThreadId).big_integer().null())
                    .col(optional_timestamp(MirrorThread::CreatingUntil))
                    .col(timestamp(MirrorThread::CreatedAt))
                    .col(timestamp(MirrorThread::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_mirror_thread")
                    .table(MirrorThread::Table)
                    .col(MirrorThread::SourceThreadId)
                    .col(MirrorThread::TargetChannelId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MirrorThread::Table).to_owned())
            .await
    }
}
