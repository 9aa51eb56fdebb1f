//! Capture through our own bot on the Discord gateway.
//! - `connector.kind`: `api` (a collector posting to the ingest API) or `discord_bot` (built in:
//!   the bot process captures in-process). `connector.alert`: one problem the operator must fix
//!   (the bot lacks the Message Content intent), shown once on /admin/connectors.
//! - `channel.capture_warning`: why a source channel is not being captured (the bot cannot read it).
//! - `capture_cursor`: per source channel, the newest message id seen, where a backfill resumes.
//! - `capture_lease`: which bot process holds the gateway capture (one at a time).
//! - `signal.delete_reason`: why a message counts as deleted when nobody saw it deleted (the
//!   re-check after an outage found it gone from Discord).

use sea_orm_migration::prelude::*;

use crate::columns::{optional_timestamp, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Connector {
    Table,
    Kind,
    Alert,
}

#[derive(DeriveIden)]
enum Channel {
    Table,
    CaptureWarning,
}

#[derive(DeriveIden)]
enum Signal {
    Table,
    DeleteReason,
}

#[derive(DeriveIden)]
enum CaptureCursor {
    Table,
    ChannelId,
    NewestMessageId,
    BackfilledAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CaptureLease {
    Table,
    Name,
    Holder,
    LeaseUntil,
    AcquiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Connector::Table)
                    .add_column(ColumnDef::new(Connector::Kind).string().not_null().default("api"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Connector::Table)
                    .add_column(ColumnDef::new(Connector::Alert).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Channel::Table)
                    .add_column(ColumnDef::new(Channel::CaptureWarning).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Signal::Table)
                    .add_column(ColumnDef::new(Signal::DeleteReason).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CaptureCursor::Table)
                    .col(
                        ColumnDef::new(CaptureCursor::ChannelId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CaptureCursor::NewestMessageId).big_integer().not_null())
                    .col(optional_timestamp(CaptureCursor::BackfilledAt))
                    .col(timestamp(CaptureCursor::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CaptureLease::Table)
                    .col(ColumnDef::new(CaptureLease::Name).string().not_null().primary_key())
                    .col(ColumnDef::new(CaptureLease::Holder).string().not_null())
                    .col(timestamp(CaptureLease::LeaseUntil))
                    .col(timestamp(CaptureLease::AcquiredAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CaptureLease::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CaptureCursor::Table).to_owned())
            .await?;
        for (table, col) in [
            (Signal::Table.into_iden(), Signal::DeleteReason.into_iden()),
            (Channel::Table.into_iden(), Channel::CaptureWarning.into_iden()),
            (Connector::Table.into_iden(), Connector::Alert.into_iden()),
            (Connector::Table.into_iden(), Connector::Kind.into_iden()),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}
