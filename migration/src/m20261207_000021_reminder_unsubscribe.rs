//! Each reminder carries the SHA-256 of its own unsubscribe token (the link in that mail or
//! direct message), so one click on it turns that channel's reminders off without signing in,
//! and the token itself is never stored.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Reminder {
    Table,
    UnsubscribeHash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Reminder::Table)
                    .add_column(ColumnDef::new(Reminder::UnsubscribeHash).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_reminder_unsubscribe")
                    .table(Reminder::Table)
                    .col(Reminder::UnsubscribeHash)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("uq_reminder_unsubscribe")
                    .table(Reminder::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Reminder::Table)
                    .drop_column(Reminder::UnsubscribeHash)
                    .to_owned(),
            )
            .await
    }
}
