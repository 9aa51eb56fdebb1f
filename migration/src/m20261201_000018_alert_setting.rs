//! `alert_setting`: how a customer wants to hear of new signals — browser notifications, a sound,
//! and for which channels (none listed: all). One row per account, made on the first save.

use sea_orm_migration::prelude::*;

use crate::columns::timestamp;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AlertSetting {
    Table,
    UserId,
    Notify,
    Sound,
    ChannelsJson,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AlertSetting::Table)
                    .col(
                        ColumnDef::new(AlertSetting::UserId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AlertSetting::Notify).boolean().not_null().default(false))
                    .col(ColumnDef::new(AlertSetting::Sound).boolean().not_null().default(false))
                    .col(
                        ColumnDef::new(AlertSetting::ChannelsJson)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .col(timestamp(AlertSetting::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AlertSetting::Table).to_owned())
            .await
    }
}
