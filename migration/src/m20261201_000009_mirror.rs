//! Discord, part 2: the copy of each signal in each mapped target channel — the Discord
//! message ids it is made of (stored one by one as Discord answers, so a retry never posts
//! twice), what was last sent, and the times of each hop for the delivery ledger.

use sea_orm_migration::prelude::*;

use crate::columns::{optional_timestamp, pk, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Job {
    Table,
    Kind,
    UniqueKey,
    Status,
}

#[derive(DeriveIden)]
enum MirrorCopy {
    Table,
    Id,
    SignalId,
    TargetChannelId,
    State,
    MessageIds,
    SentHash,
    LastOp,
    LastError,
    SourceAt,
    AcceptedAt,
    ClaimedAt,
    AnsweredAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MirrorCopy::Table)
                    .col(pk(MirrorCopy::Id))
                    .col(ColumnDef::new(MirrorCopy::SignalId).big_integer().not_null())
                    .col(ColumnDef::new(MirrorCopy::TargetChannelId).big_integer().not_null())
                    .col(ColumnDef::new(MirrorCopy::State).string_len(16).not_null())
                    .col(ColumnDef::new(MirrorCopy::MessageIds).text().not_null())
                    .col(ColumnDef::new(MirrorCopy::SentHash).string_len(64).null())
                    .col(ColumnDef::new(MirrorCopy::LastOp).string_len(16).not_null())
                    .col(ColumnDef::new(MirrorCopy::LastError).text().null())
                    .col(optional_timestamp(MirrorCopy::SourceAt))
                    .col(timestamp(MirrorCopy::AcceptedAt))
                    .col(optional_timestamp(MirrorCopy::ClaimedAt))
                    .col(optional_timestamp(MirrorCopy::AnsweredAt))
                    .col(timestamp(MirrorCopy::CreatedAt))
                    .col(timestamp(MirrorCopy::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_mirror_copy")
                    .table(MirrorCopy::Table)
                    .col(MirrorCopy::SignalId)
                    .col(MirrorCopy::TargetChannelId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The claim looks for a running job of the same key (one job per key at a time).
        manager
            .create_index(
                Index::create()
                    .name("idx_job_key_status")
                    .table(Job::Table)
                    .col(Job::Kind)
                    .col(Job::UniqueKey)
                    .col(Job::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_job_key_status").table(Job::Table).to_owned())
            .await?;
        manager
            .drop_index(Index::drop().name("uq_mirror_copy").table(MirrorCopy::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(MirrorCopy::Table).to_owned())
            .await
    }
}
