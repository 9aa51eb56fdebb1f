//! Closing the holes an outside review found: the rights-change log (one row whenever a user's
//! sessions or access change, so every server process re-checks that user's open feed sockets;
//! rows are wake-ups, pruned after minutes), and the audit of guilds an admin moved from one
//! connector to another (a connector acts only on the guilds it owns), and what a paid grant
//! cost (amount in minor units and currency, shown on the customer's timeline), and proof of
//! e-mail ownership: when an account's address was verified, and the single-use tokens sent by
//! mail (verification, password reset), stored as hashes.

use sea_orm_migration::prelude::*;

use crate::columns::{optional_timestamp, pk, timestamp};

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
enum UserAccount {
    Table,
    EmailVerifiedAt,
    AccessEndsAt,
}

#[derive(DeriveIden)]
enum EmailToken {
    Table,
    Id,
    UserId,
    Purpose,
    TokenHash,
    Email,
    CreatedAt,
    ExpiresAt,
    UsedAt,
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
        manager
            .alter_table(
                Table::alter()
                    .table(UserAccount::Table)
                    .add_column(optional_timestamp(UserAccount::EmailVerifiedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UserAccount::Table)
                    .add_column(optional_timestamp(UserAccount::AccessEndsAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_user_account_access_ends")
                    .table(UserAccount::Table)
                    .col(UserAccount::AccessEndsAt)
                    .to_owned(),
            )
            .await?;
        // One "expired" entry per customer and end: processes racing to record the same expiry
        // collide on this index. Duplicates an earlier race left are removed first.
        let db = manager.get_connection();
        db.execute_unprepared(
            "DELETE FROM access_change WHERE kind = 'expired' AND id NOT IN \
             (SELECT MIN(id) FROM access_change WHERE kind = 'expired' GROUP BY user_id, detail)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX uq_access_change_expiry ON access_change (user_id, detail) WHERE kind = 'expired'",
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(EmailToken::Table)
                    .col(pk(EmailToken::Id))
                    .col(ColumnDef::new(EmailToken::UserId).big_integer().not_null())
                    .col(ColumnDef::new(EmailToken::Purpose).string_len(16).not_null())
                    .col(
                        ColumnDef::new(EmailToken::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(EmailToken::Email).string_len(254).not_null())
                    .col(timestamp(EmailToken::CreatedAt))
                    .col(timestamp(EmailToken::ExpiresAt))
                    .col(optional_timestamp(EmailToken::UsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_email_token_user")
                    .table(EmailToken::Table)
                    .col(EmailToken::UserId)
                    .col(EmailToken::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EmailToken::Table).to_owned())
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX uq_access_change_expiry")
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_user_account_access_ends")
                    .table(UserAccount::Table)
                    .to_owned(),
            )
            .await?;
        for col in [UserAccount::AccessEndsAt, UserAccount::EmailVerifiedAt] {
            manager
                .alter_table(Table::alter().table(UserAccount::Table).drop_column(col).to_owned())
                .await?;
        }
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
