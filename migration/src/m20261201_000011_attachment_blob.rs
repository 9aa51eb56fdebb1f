//! Durable attachments: each attachment of a signal, fetched once from its source and kept in
//! the blob store under its SHA-256 — or why it could not be (`unavailable`, with the reason).

use sea_orm_migration::prelude::*;

use crate::columns::{pk, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AttachmentBlob {
    Table,
    Id,
    SignalId,
    AttachmentId,
    SourceUrl,
    State,
    Sha256,
    ContentType,
    Size,
    Error,
    Attempts,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AttachmentBlob::Table)
                    .col(pk(AttachmentBlob::Id))
                    .col(ColumnDef::new(AttachmentBlob::SignalId).big_integer().not_null())
                    .col(ColumnDef::new(AttachmentBlob::AttachmentId).big_integer().not_null())
                    .col(ColumnDef::new(AttachmentBlob::SourceUrl).text().not_null())
                    .col(ColumnDef::new(AttachmentBlob::State).string_len(16).not_null())
                    .col(ColumnDef::new(AttachmentBlob::Sha256).string_len(64).null())
                    .col(ColumnDef::new(AttachmentBlob::ContentType).string_len(127).null())
                    .col(ColumnDef::new(AttachmentBlob::Size).big_integer().null())
                    .col(ColumnDef::new(AttachmentBlob::Error).text().null())
                    .col(ColumnDef::new(AttachmentBlob::Attempts).integer().not_null().default(0))
                    .col(timestamp(AttachmentBlob::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_attachment_blob")
                    .table(AttachmentBlob::Table)
                    .col(AttachmentBlob::SignalId)
                    .col(AttachmentBlob::AttachmentId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AttachmentBlob::Table).to_owned())
            .await
    }
}
