//! Closing the holes an outside review found: the rights-change log (one row whenever a user's
//! sessions or access change, so every server process re-checks that user's open feed sockets;
//! rows are wake-ups, pruned after minutes), and the audit of guilds an admin moved from one
//! connector to another (a connector acts only on the guilds it owns), and what a paid grant
//! cost (amount in minor units and currency, shown on the customer's timeline).

use sea_orm_migration::prelude::*;

use crate::columns::{pk, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RightsChange {
    Table,
    Id,
    UserId,
    Kind,
    At,
}

#[derive(DeriveIden)]
enum EntitlementGrant {
    Table,
    AmountMinor,
    Currency,
}

#[derive(DeriveIden)]
enum GuildReassignment {
    Table,
    Id,
    GuildId,
    FromConnectorId,
    ToConnectorId,
    Reason,
    ByEmail,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RightsChange::Table)
                    .col(pk(RightsChange::Id))
                    .col(ColumnDef::new(RightsChange::UserId).big_integer().not_null())
                    .col(ColumnDef::new(RightsChange::Kind).string_len(16).not_null())
                    .col(timestamp(RightsChange::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_rights_change_at")
                    .table(RightsChange::Table)
                    .col(RightsChange::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GuildReassignment::Table)
                    .col(pk(GuildReassignment::Id))
                    .col(ColumnDef::new(GuildReassignment::GuildId).big_integer().not_null())
                    .col(
                        ColumnDef::new(GuildReassignment::FromConnectorId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(GuildReassignment::ToConnectorId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(GuildReassignment::Reason).string_len(500).not_null())
                    .col(ColumnDef::new(GuildReassignment::ByEmail).string_len(254).not_null())
                    .col(timestamp(GuildReassignment::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_guild_reassignment_guild")
                    .table(GuildReassignment::Table)
                    .col(GuildReassignment::GuildId)
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for col in [
            ColumnDef::new(EntitlementGrant::AmountMinor)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(EntitlementGrant::Currency)
                .string_len(3)
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(Table::alter().table(EntitlementGrant::Table).add_column(col).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [EntitlementGrant::AmountMinor, EntitlementGrant::Currency] {
            manager
                .alter_table(
                    Table::alter()
                        .table(EntitlementGrant::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(GuildReassignment::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RightsChange::Table).to_owned())
            .await
    }
}
