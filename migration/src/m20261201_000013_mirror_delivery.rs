//! The delivery ledger's history: one row per operation a copy went through (create, each
//! update, delete) with the time of each hop, so every operation counts in the latency figures —
//! not only each copy's latest.

use sea_orm_migration::prelude::*;

use crate::columns::{optional_timestamp, pk, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MirrorDelivery {
    Table,
    Id,
    CopyId,
    Op,
    SourceAt,
    AcceptedAt,
    ClaimedAt,
    AnsweredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MirrorDelivery::Table)
                    .col(pk(MirrorDelivery::Id))
                    .col(ColumnDef::new(MirrorDelivery::CopyId).big_integer().not_null())
                    .col(ColumnDef::new(MirrorDelivery::Op).string_len(16).not_null())
                    .col(optional_timestamp(MirrorDelivery::SourceAt))
                    .col(timestamp(MirrorDelivery::AcceptedAt))
                    .col(optional_timestamp(MirrorDelivery::ClaimedAt))
                    .col(timestamp(MirrorDelivery::AnsweredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_mirror_delivery_answered")
                    .table(MirrorDelivery::Table)
                    .col(MirrorDelivery::AnsweredAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_mirror_delivery_copy")
                    .table(MirrorDelivery::Table)
                    .col(MirrorDelivery::CopyId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MirrorDelivery::Table).to_owned())
            .await
    }
}
