//! Signal capture: connectors (collectors with hashed tokens), what they discovered (guilds,
//! channels with Source/Target flags), mappings, discovery requests, the signals themselves,
//! their threads, and the feed log every accepted change appends to.
//!
//! Discord snowflakes are stored as 64-bit integers: they fit (Discord ids stay below 2^63 until
//! 2084) and sort like the ids they are.

use sea_orm_migration::prelude::*;

use crate::columns::{optional_timestamp, pk, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Connector {
    Table,
    Id,
    Pid,
    Name,
    TokenHash,
    PreviousTokenHash,
    PreviousTokenExpiresAt,
    Enabled,
    Forwarding,
    CreatedAt,
    LastSeenAt,
    Version,
    StartedAt,
}

#[derive(DeriveIden)]
enum Guild {
    Table,
    Id,
    ConnectorId,
    Name,
    Icon,
    Present,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Channel {
    Table,
    Id,
    GuildId,
    Name,
    Kind,
    ParentId,
    Position,
    IsSource,
    IsTarget,
    Present,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ChannelMapping {
    Table,
    Id,
    SourceChannelId,
    TargetChannelId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DiscoveryRequest {
    Table,
    Id,
    ConnectorId,
    GuildId,
    Status,
    RequestedAt,
    AnsweredAt,
}

#[derive(DeriveIden)]
enum SignalThread {
    Table,
    Id,
    GuildId,
    ChannelId,
    Name,
    Archived,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Signal {
    Table,
    Id,
    MessageId,
    ConnectorId,
    GuildId,
    ChannelId,
    ThreadId,
    AuthorId,
    AuthorName,
    AuthorAvatar,
    Content,
    EmbedsJson,
    AttachmentsJson,
    PostedAt,
    EditedAt,
    DeletedAt,
    IngestedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FeedLog {
    Table,
    Seq,
    SignalId,
    ThreadId,
    ConnectorId,
    Op,
    CreatedAt,
}

/// A Discord snowflake used as the row's key.
fn snowflake_pk(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().primary_key().to_owned()
}

fn snowflake(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

fn flag(col: impl IntoIden, default: bool) -> ColumnDef {
    ColumnDef::new(col).boolean().not_null().default(default).to_owned()
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: &[&str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut idx = Index::create();
    idx.name(name).table(table);
    for col in cols {
        idx.col(Alias::new(*col));
    }
    if unique {
        idx.unique();
    }
    manager.create_index(idx.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Connector::Table)
                    .col(pk(Connector::Id))
                    .col(ColumnDef::new(Connector::Pid).string_len(36).not_null().unique_key())
                    .col(ColumnDef::new(Connector::Name).string_len(80).not_null())
                    .col(
                        ColumnDef::new(Connector::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Connector::PreviousTokenHash).string_len(64).null())
                    .col(optional_timestamp(Connector::PreviousTokenExpiresAt))
                    .col(flag(Connector::Enabled, true))
                    .col(flag(Connector::Forwarding, false))
                    .col(timestamp(Connector::CreatedAt))
                    .col(optional_timestamp(Connector::LastSeenAt))
                    .col(ColumnDef::new(Connector::Version).string_len(64).null())
                    .col(optional_timestamp(Connector::StartedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_connector_previous_token",
            Connector::Table,
            &["previous_token_hash"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Guild::Table)
                    .col(snowflake_pk(Guild::Id))
                    .col(ColumnDef::new(Guild::ConnectorId).big_integer().not_null())
                    .col(ColumnDef::new(Guild::Name).string_len(100).not_null())
                    .col(ColumnDef::new(Guild::Icon).string_len(64).null())
                    .col(flag(Guild::Present, true))
                    .col(timestamp(Guild::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Guild::Table, Guild::ConnectorId)
                            .to(Connector::Table, Connector::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Channel::Table)
                    .col(snowflake_pk(Channel::Id))
                    .col(snowflake(Channel::GuildId))
                    .col(ColumnDef::new(Channel::Name).string_len(100).not_null())
                    .col(ColumnDef::new(Channel::Kind).integer().not_null())
                    .col(ColumnDef::new(Channel::ParentId).big_integer().null())
                    .col(ColumnDef::new(Channel::Position).integer().not_null().default(0))
                    .col(flag(Channel::IsSource, false))
                    .col(flag(Channel::IsTarget, false))
                    .col(flag(Channel::Present, true))
                    .col(timestamp(Channel::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Channel::Table, Channel::GuildId)
                            .to(Guild::Table, Guild::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_channel_guild",
            Channel::Table,
            &["guild_id", "position"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChannelMapping::Table)
                    .col(pk(ChannelMapping::Id))
                    .col(snowflake(ChannelMapping::SourceChannelId))
                    .col(snowflake(ChannelMapping::TargetChannelId))
                    .col(timestamp(ChannelMapping::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ChannelMapping::Table, ChannelMapping::SourceChannelId)
                            .to(Channel::Table, Channel::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ChannelMapping::Table, ChannelMapping::TargetChannelId)
                            .to(Channel::Table, Channel::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "uq_channel_mapping_pair",
            ChannelMapping::Table,
            &["source_channel_id", "target_channel_id"],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(DiscoveryRequest::Table)
                    .col(pk(DiscoveryRequest::Id))
                    .col(ColumnDef::new(DiscoveryRequest::ConnectorId).big_integer().not_null())
                    .col(snowflake(DiscoveryRequest::GuildId))
                    .col(ColumnDef::new(DiscoveryRequest::Status).string_len(16).not_null())
                    .col(timestamp(DiscoveryRequest::RequestedAt))
                    .col(optional_timestamp(DiscoveryRequest::AnsweredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DiscoveryRequest::Table, DiscoveryRequest::ConnectorId)
                            .to(Connector::Table, Connector::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_discovery_request_pending",
            DiscoveryRequest::Table,
            &["connector_id", "status"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SignalThread::Table)
                    .col(snowflake_pk(SignalThread::Id))
                    .col(snowflake(SignalThread::GuildId))
                    .col(snowflake(SignalThread::ChannelId))
                    .col(ColumnDef::new(SignalThread::Name).string_len(100).not_null())
                    .col(flag(SignalThread::Archived, false))
                    .col(optional_timestamp(SignalThread::CreatedAt))
                    .col(timestamp(SignalThread::UpdatedAt))
                    .col(optional_timestamp(SignalThread::DeletedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Signal::Table)
                    .col(pk(Signal::Id))
                    .col(ColumnDef::new(Signal::MessageId).big_integer().not_null().unique_key())
                    .col(ColumnDef::new(Signal::ConnectorId).big_integer().not_null())
                    .col(snowflake(Signal::GuildId))
                    .col(snowflake(Signal::ChannelId))
                    .col(ColumnDef::new(Signal::ThreadId).big_integer().null())
                    .col(ColumnDef::new(Signal::AuthorId).big_integer().null())
                    .col(
                        ColumnDef::new(Signal::AuthorName)
                            .string_len(100)
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new(Signal::AuthorAvatar).string_len(2048).null())
                    .col(ColumnDef::new(Signal::Content).text().not_null().default(""))
                    .col(ColumnDef::new(Signal::EmbedsJson).text().not_null().default("[]"))
                    .col(ColumnDef::new(Signal::AttachmentsJson).text().not_null().default("[]"))
                    .col(optional_timestamp(Signal::PostedAt))
                    .col(optional_timestamp(Signal::EditedAt))
                    .col(optional_timestamp(Signal::DeletedAt))
                    .col(timestamp(Signal::IngestedAt))
                    .col(timestamp(Signal::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Signal::Table, Signal::ConnectorId)
                            .to(Connector::Table, Connector::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_signal_channel",
            Signal::Table,
            &["channel_id", "message_id"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(FeedLog::Table)
                    .col(pk(FeedLog::Seq))
                    .col(ColumnDef::new(FeedLog::SignalId).big_integer().null())
                    .col(ColumnDef::new(FeedLog::ThreadId).big_integer().null())
                    .col(ColumnDef::new(FeedLog::ConnectorId).big_integer().not_null())
                    .col(ColumnDef::new(FeedLog::Op).string_len(24).not_null())
                    .col(timestamp(FeedLog::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(FeedLog::Table, FeedLog::SignalId)
                            .to(Signal::Table, Signal::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_feed_log_connector",
            FeedLog::Table,
            &["connector_id", "seq"],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            FeedLog::Table.into_iden(),
            Signal::Table.into_iden(),
            SignalThread::Table.into_iden(),
            DiscoveryRequest::Table.into_iden(),
            ChannelMapping::Table.into_iden(),
            Channel::Table.into_iden(),
            Guild::Table.into_iden(),
            Connector::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
