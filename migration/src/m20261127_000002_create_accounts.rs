//! Accounts, their server-side sessions (only token hashes stored), and failed sign-ins kept
//! for throttling. Throttling state lives in the database so every server process sees it.

use sea_orm_migration::prelude::*;

use crate::columns::timestamp;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserAccount {
    Table,
    Id,
    Pid,
    Email,
    PasswordHash,
    Role,
    CreatedAt,
    LastSeenAt,
    PasswordChangedAt,
}

#[derive(DeriveIden)]
enum Session {
    Table,
    Id,
    Pid,
    TokenHash,
    UserId,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    UserAgent,
    RevokedAt,
}

#[derive(DeriveIden)]
enum SignInFailure {
    Table,
    Id,
    Scope,
    Subject,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserAccount::Table)
                    .col(
                        ColumnDef::new(UserAccount::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(UserAccount::Pid).string_len(36).not_null().unique_key())
                    .col(
                        ColumnDef::new(UserAccount::Email)
                            .string_len(254)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(UserAccount::PasswordHash).string_len(255).not_null())
                    .col(
                        ColumnDef::new(UserAccount::Role)
                            .string_len(16)
                            .not_null()
                            .default("customer"),
                    )
                    .col(timestamp(UserAccount::CreatedAt))
                    .col(
                        ColumnDef::new(UserAccount::LastSeenAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(timestamp(UserAccount::PasswordChangedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Session::Table)
                    .col(
                        ColumnDef::new(Session::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Session::Pid).string_len(36).not_null().unique_key())
                    .col(
                        ColumnDef::new(Session::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Session::UserId).big_integer().not_null())
                    .col(timestamp(Session::CreatedAt))
                    .col(timestamp(Session::LastSeenAt))
                    .col(timestamp(Session::ExpiresAt))
                    .col(
                        ColumnDef::new(Session::UserAgent)
                            .string_len(255)
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new(Session::RevokedAt).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Session::Table, Session::UserId)
                            .to(UserAccount::Table, UserAccount::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_session_user")
                    .table(Session::Table)
                    .col(Session::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SignInFailure::Table)
                    .col(
                        ColumnDef::new(SignInFailure::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SignInFailure::Scope).string_len(16).not_null())
                    .col(ColumnDef::new(SignInFailure::Subject).string_len(254).not_null())
                    .col(timestamp(SignInFailure::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sign_in_failure_subject")
                    .table(SignInFailure::Table)
                    .col(SignInFailure::Scope)
                    .col(SignInFailure::Subject)
                    .col(SignInFailure::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SignInFailure::Table.into_iden(),
            Session::Table.into_iden(),
            UserAccount::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
