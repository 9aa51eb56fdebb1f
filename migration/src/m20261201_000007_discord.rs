//! Discord, part 1: linked Discord accounts, the tier → role mapping managed in the admin
//! console, single-use OAuth states, and what each bot process reports about itself. Role sync
//! moves onto the shared `job` queue, so the old per-role outbox goes.

use sea_orm_migration::prelude::*;

use crate::columns::{optional_timestamp, pk, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DiscordLink {
    Table,
    UserId,
    DiscordUserId,
    Username,
    LinkedAt,
}

#[derive(DeriveIden)]
enum TierRole {
    Table,
    Id,
    TierId,
    GuildId,
    RoleId,
    CreatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum OauthState {
    Table,
    StateHash,
    SessionId,
    PkceVerifier,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum BotInstance {
    Table,
    Id,
    State,
    Detail,
    BotUser,
    Guilds,
    JobsDone,
    LastJobAt,
    StartedAt,
    SeenAt,
}

#[derive(DeriveIden)]
enum UserAccount {
    Table,
    AccessChangesAt,
}

#[derive(DeriveIden)]
enum RoleSyncJob {
    Table,
    Id,
    UserId,
    GuildId,
    RoleId,
    Action,
    Status,
    Attempts,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DiscordLink::Table)
                    .col(
                        ColumnDef::new(DiscordLink::UserId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    // One Discord account belongs to one customer.
                    .col(
                        ColumnDef::new(DiscordLink::DiscordUserId)
                            .big_integer()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(DiscordLink::Username).string_len(100).not_null())
                    .col(timestamp(DiscordLink::LinkedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TierRole::Table)
                    .col(pk(TierRole::Id))
                    .col(ColumnDef::new(TierRole::TierId).integer().not_null())
                    .col(ColumnDef::new(TierRole::GuildId).big_integer().not_null())
                    .col(ColumnDef::new(TierRole::RoleId).big_integer().not_null())
                    .col(timestamp(TierRole::CreatedAt))
                    // A role taken out of the mapping stays managed (so role sync removes it from
                    // members who got it from us) but is given to nobody.
                    .col(optional_timestamp(TierRole::RetiredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_tier_role")
                    .table(TierRole::Table)
                    .col(TierRole::TierId)
                    .col(TierRole::RoleId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthState::Table)
                    .col(
                        ColumnDef::new(OauthState::StateHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OauthState::SessionId).big_integer().not_null())
                    .col(ColumnDef::new(OauthState::PkceVerifier).string_len(128).not_null())
                    .col(timestamp(OauthState::CreatedAt))
                    .col(timestamp(OauthState::ExpiresAt))
                    .col(optional_timestamp(OauthState::UsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BotInstance::Table)
                    .col(ColumnDef::new(BotInstance::Id).string_len(36).not_null().primary_key())
                    .col(ColumnDef::new(BotInstance::State).string_len(16).not_null())
                    .col(ColumnDef::new(BotInstance::Detail).text().not_null())
                    .col(ColumnDef::new(BotInstance::BotUser).string_len(100).null())
                    .col(ColumnDef::new(BotInstance::Guilds).text().not_null())
                    .col(
                        ColumnDef::new(BotInstance::JobsDone)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(optional_timestamp(BotInstance::LastJobAt))
                    .col(timestamp(BotInstance::StartedAt))
                    .col(timestamp(BotInstance::SeenAt))
                    .to_owned(),
            )
            .await?;
        // The next moment a customer's access changes at all (a tier starts or ends), so the
        // sweep can find step-downs as well as ends — and every one that is due, however long
        // every process was down. Until the server recomputes it, the end of access stands in.
        manager
            .alter_table(
                Table::alter()
                    .table(UserAccount::Table)
                    .add_column(optional_timestamp(UserAccount::AccessChangesAt))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("UPDATE user_account SET access_changes_at = access_ends_at")
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_user_account_access_changes")
                    .table(UserAccount::Table)
                    .col(UserAccount::AccessChangesAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(RoleSyncJob::Table).if_exists().to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_user_account_access_changes")
                    .table(UserAccount::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UserAccount::Table)
                    .drop_column(UserAccount::AccessChangesAt)
                    .to_owned(),
            )
            .await?;
        for t in [
            DiscordLink::Table.into_iden(),
            TierRole::Table.into_iden(),
            OauthState::Table.into_iden(),
            BotInstance::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        // The outbox as migration 4 made it (its rows are not restored: they were moved onto
        // the job queue's semantics, which the old table cannot express).
        manager
            .create_table(
                Table::create()
                    .table(RoleSyncJob::Table)
                    .col(pk(RoleSyncJob::Id))
                    .col(ColumnDef::new(RoleSyncJob::UserId).big_integer().not_null())
                    .col(ColumnDef::new(RoleSyncJob::GuildId).big_integer().not_null())
                    .col(ColumnDef::new(RoleSyncJob::RoleId).big_integer().not_null())
                    .col(ColumnDef::new(RoleSyncJob::Action).string_len(8).not_null())
                    .col(ColumnDef::new(RoleSyncJob::Status).string_len(16).not_null())
                    .col(ColumnDef::new(RoleSyncJob::Attempts).integer().not_null().default(0))
                    .col(timestamp(RoleSyncJob::CreatedAt))
                    .col(timestamp(RoleSyncJob::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_role_sync_job_pending ON role_sync_job (user_id, guild_id, role_id) \
                 WHERE status = 'queued'",
            )
            .await?;
        Ok(())
    }
}
