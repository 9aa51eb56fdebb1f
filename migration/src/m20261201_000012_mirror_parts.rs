//! Mirroring files: each message of a copy gets a fingerprint of what it says, so an edit
//! touches only the messages that change, and a message of uploads (which Discord cannot edit
//! into other files) is posted again only when its files change.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MirrorCopy {
    Table,
    PartHashes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(MirrorCopy::Table)
                    .add_column(ColumnDef::new(MirrorCopy::PartHashes).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(MirrorCopy::Table)
                    .drop_column(MirrorCopy::PartHashes)
                    .to_owned(),
            )
            .await
    }
}
