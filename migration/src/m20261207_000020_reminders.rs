//! Reminders before access ends: one row per reminder sent — (account, the access end it was
//! about, days before, channel) unique, so processes racing to send it insert it once and a
//! restart never sends it again — and each customer's two opt-outs.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Reminder {
    Table,
    Id,
    UserId,
    AccessEnd,
    DaysBefore,
    Channel,
    SentAt,
}

#[derive(DeriveIden)]
enum UserAccount {
    Table,
    Id,
    RemindByEmail,
    RemindByDiscord,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Reminder::Table)
                    .col(
                        ColumnDef::new(Reminder::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Reminder::UserId).big_integer().not_null())
                    .col(
                        ColumnDef::new(Reminder::AccessEnd)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Reminder::DaysBefore).integer().not_null())
                    .col(ColumnDef::new(Reminder::Channel).string_len(16).not_null())
                    .col(ColumnDef::new(Reminder::SentAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Reminder::Table, Reminder::UserId)
                            .to(UserAccount::Table, UserAccount::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_reminder")
                    .table(Reminder::Table)
                    .col(Reminder::UserId)
                    .col(Reminder::AccessEnd)
                    .col(Reminder::DaysBefore)
                    .col(Reminder::Channel)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for column in [UserAccount::RemindByEmail, UserAccount::RemindByDiscord] {
            manager
                .alter_table(
                    Table::alter()
                        .table(UserAccount::Table)
                        .add_column(ColumnDef::new(column).boolean().not_null().default(true))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [UserAccount::RemindByEmail, UserAccount::RemindByDiscord] {
            manager
                .alter_table(Table::alter().table(UserAccount::Table).drop_column(column).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Reminder::Table).to_owned())
            .await
    }
}
