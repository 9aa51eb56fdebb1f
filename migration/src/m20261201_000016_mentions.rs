//! `signal.mentions_json`: the names of the users and roles a message mentions, as the source
//! reported them when it was posted or edited (`{"users":{"id":"name"},"roles":{"id":"name"}}`),
//! so the desk shows `@alice` where Discord would, not `<@123>`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Signal {
    Table,
    MentionsJson,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Signal::Table)
                    .add_column(ColumnDef::new(Signal::MentionsJson).text().not_null().default("{}"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Signal::Table)
                    .drop_column(Signal::MentionsJson)
                    .to_owned(),
            )
            .await
    }
}
