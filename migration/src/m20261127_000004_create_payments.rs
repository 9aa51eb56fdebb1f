//! Payments and access: access policies (what a Sell.app product buys), every webhook delivery
//! stored before it is processed, the customers payments came from, the grant ledger with its
//! change log, and the role-sync job outbox.

use sea_orm_migration::prelude::*;

use crate::columns::{optional_timestamp, pk, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccessPolicy {
    Table,
    Id,
    ProductId,
    VariantId,
    TierId,
    Days,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookEvent {
    Table,
    Id,
    DedupeKey,
    StoreId,
    Event,
    ResourceId,
    Body,
    Status,
    Attempts,
    LastError,
    ReceivedAt,
    NextAttemptAt,
    ProcessedAt,
}

#[derive(DeriveIden)]
enum PaymentCustomer {
    Table,
    Id,
    Email,
    SellappCustomerId,
    SubscriptionId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EntitlementGrant {
    Table,
    Id,
    UserId,
    Email,
    OrderId,
    TierId,
    Days,
    StartsAt,
    Cause,
    Reason,
    CreatedAt,
    RevokedAt,
    RevokeReason,
}

#[derive(DeriveIden)]
enum AccessChange {
    Table,
    Id,
    UserId,
    Email,
    GrantId,
    Kind,
    Cause,
    Detail,
    At,
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

fn text(col: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).not_null().to_owned()
}

fn optional_text(col: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AccessPolicy::Table)
                    .col(pk(AccessPolicy::Id))
                    .col(text(AccessPolicy::ProductId, 64))
                    // Empty for a product-level policy (NULLs would not collide in a unique index).
                    .col(
                        ColumnDef::new(AccessPolicy::VariantId)
                            .string_len(64)
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new(AccessPolicy::TierId).integer().not_null())
                    .col(ColumnDef::new(AccessPolicy::Days).integer().not_null())
                    .col(timestamp(AccessPolicy::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_access_policy_product_variant")
                    .table(AccessPolicy::Table)
                    .col(AccessPolicy::ProductId)
                    .col(AccessPolicy::VariantId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WebhookEvent::Table)
                    .col(pk(WebhookEvent::Id))
                    .col(
                        ColumnDef::new(WebhookEvent::DedupeKey)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(text(WebhookEvent::StoreId, 64))
                    .col(text(WebhookEvent::Event, 64))
                    .col(text(WebhookEvent::ResourceId, 64))
                    .col(ColumnDef::new(WebhookEvent::Body).text().not_null())
                    .col(text(WebhookEvent::Status, 16))
                    .col(ColumnDef::new(WebhookEvent::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(WebhookEvent::LastError).text().null())
                    .col(timestamp(WebhookEvent::ReceivedAt))
                    .col(timestamp(WebhookEvent::NextAttemptAt))
                    .col(optional_timestamp(WebhookEvent::ProcessedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_event_status")
                    .table(WebhookEvent::Table)
                    .col(WebhookEvent::Status)
                    .col(WebhookEvent::NextAttemptAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PaymentCustomer::Table)
                    .col(pk(PaymentCustomer::Id))
                    .col(text(PaymentCustomer::Email, 254))
                    .col(optional_text(PaymentCustomer::SellappCustomerId, 64))
                    .col(optional_text(PaymentCustomer::SubscriptionId, 64))
                    .col(ColumnDef::new(PaymentCustomer::UserId).big_integer().null())
                    .col(timestamp(PaymentCustomer::CreatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_payment_customer_email", PaymentCustomer::Email),
            ("idx_payment_customer_sellapp", PaymentCustomer::SellappCustomerId),
            ("idx_payment_customer_subscription", PaymentCustomer::SubscriptionId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(PaymentCustomer::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(EntitlementGrant::Table)
                    .col(pk(EntitlementGrant::Id))
                    // Null while the payment waits for an account with this email.
                    .col(ColumnDef::new(EntitlementGrant::UserId).big_integer().null())
                    .col(text(EntitlementGrant::Email, 254))
                    // The Sell.app order; unique, so an order grants once however often it is reported.
                    .col(
                        ColumnDef::new(EntitlementGrant::OrderId)
                            .string_len(64)
                            .null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(EntitlementGrant::TierId).integer().not_null())
                    .col(ColumnDef::new(EntitlementGrant::Days).integer().not_null())
                    .col(timestamp(EntitlementGrant::StartsAt))
                    .col(text(EntitlementGrant::Cause, 16))
                    .col(ColumnDef::new(EntitlementGrant::Reason).text().not_null().default(""))
                    .col(timestamp(EntitlementGrant::CreatedAt))
                    .col(optional_timestamp(EntitlementGrant::RevokedAt))
                    .col(ColumnDef::new(EntitlementGrant::RevokeReason).text().null())
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_entitlement_grant_user", EntitlementGrant::UserId),
            ("idx_entitlement_grant_email", EntitlementGrant::Email),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(EntitlementGrant::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(AccessChange::Table)
                    .col(pk(AccessChange::Id))
                    .col(ColumnDef::new(AccessChange::UserId).big_integer().null())
                    .col(text(AccessChange::Email, 254))
                    .col(ColumnDef::new(AccessChange::GrantId).big_integer().null())
                    .col(text(AccessChange::Kind, 16))
                    .col(text(AccessChange::Cause, 32))
                    .col(ColumnDef::new(AccessChange::Detail).text().not_null().default(""))
                    .col(timestamp(AccessChange::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_access_change_email")
                    .table(AccessChange::Table)
                    .col(AccessChange::Email)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RoleSyncJob::Table)
                    .col(pk(RoleSyncJob::Id))
                    .col(ColumnDef::new(RoleSyncJob::UserId).big_integer().not_null())
                    .col(ColumnDef::new(RoleSyncJob::GuildId).big_integer().not_null())
                    .col(ColumnDef::new(RoleSyncJob::RoleId).big_integer().not_null())
                    .col(text(RoleSyncJob::Action, 8))
                    .col(text(RoleSyncJob::Status, 16))
                    .col(ColumnDef::new(RoleSyncJob::Attempts).integer().not_null().default(0))
                    .col(timestamp(RoleSyncJob::CreatedAt))
                    .col(timestamp(RoleSyncJob::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // J10: at most one queued job per (user, guild, role). A partial unique index, which
        // SQLite and PostgreSQL both support with the same syntax.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_role_sync_job_pending ON role_sync_job (user_id, guild_id, role_id) \
                 WHERE status = 'queued'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RoleSyncJob::Table.into_iden(),
            AccessChange::Table.into_iden(),
            EntitlementGrant::Table.into_iden(),
            PaymentCustomer::Table.into_iden(),
            WebhookEvent::Table.into_iden(),
            AccessPolicy::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
