//! Discord, part 1 (finished): role-drift reports (what a sweep found: who would gain or lose
//! which role), and when each job was last claimed, for the queues page's claim-latency chart.

use sea_orm_migration::prelude::*;

use crate::columns::{optional_timestamp, pk, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RoleDrift {
    Table,
    Id,
    GuildId,
    DryRun,
    RequestedBy,
    State,
    Checked,
    Drifted,
    Entries,
    Error,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum Job {
    Table,
    ClaimedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RoleDrift::Table)
                    .col(pk(RoleDrift::Id))
                    .col(ColumnDef::new(RoleDrift::GuildId).big_integer().not_null())
                    .col(ColumnDef::new(RoleDrift::DryRun).boolean().not_null())
                    .col(ColumnDef::new(RoleDrift::RequestedBy).string_len(320).not_null())
                    .col(ColumnDef::new(RoleDrift::State).string_len(16).not_null())
                    .col(ColumnDef::new(RoleDrift::Checked).integer().not_null().default(0))
                    .col(ColumnDef::new(RoleDrift::Drifted).integer().not_null().default(0))
                    .col(ColumnDef::new(RoleDrift::Entries).text().not_null())
                    .col(ColumnDef::new(RoleDrift::Error).text().null())
                    .col(timestamp(RoleDrift::CreatedAt))
                    .col(optional_timestamp(RoleDrift::FinishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_role_drift_guild")
                    .table(RoleDrift::Table)
                    .col(RoleDrift::GuildId)
                    .col(RoleDrift::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Job::Table)
                    .add_column(optional_timestamp(Job::ClaimedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Job::Table).drop_column(Job::ClaimedAt).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_role_drift_guild")
                    .table(RoleDrift::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(RoleDrift::Table).to_owned())
            .await
    }
}
