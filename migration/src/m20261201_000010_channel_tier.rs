//! Channels by tier: the lowest tier that opens a channel. On a Source channel it says who may
//! read its signals (dashboard and feed); on a Target channel it is the operator's word for who
//! can read that channel in the customers' server, so a mapping never copies a pro channel's
//! signals where basic customers read them. NULL: every tier (the default).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Channel {
    Table,
    MinTierId,
}

/// The seeded tier descriptions named channels in fixed text ("the advanced channels", "every
/// channel"); which channels a tier opens is now data, listed next to the description. Only a
/// description still as seeded is replaced.
const DESCRIPTIONS: [(&str, &str, &str); 3] = [
    (
        "basic",
        "Every signal from the core channels, live on the web dashboard.",
        "Signals live on the web dashboard and in the customers' Discord server, edits and deletions as they happen.",
    ),
    (
        "advanced",
        "Everything in Basic plus the advanced channels and a Discord mirror.",
        "Everything in Basic, plus the channels that open at Advanced.",
    ),
    (
        "pro",
        "Every channel, the Discord mirror and priority role sync.",
        "Everything in Advanced, plus the channels that open at Pro.",
    ),
];

#[derive(DeriveIden)]
enum Tier {
    Table,
    Slug,
    Description,
}

async fn describe(manager: &SchemaManager<'_>, forward: bool) -> Result<(), DbErr> {
    for (slug, old, new) in DESCRIPTIONS {
        let (from, to) = if forward { (old, new) } else { (new, old) };
        let update = Query::update()
            .table(Tier::Table)
            .value(Tier::Description, to)
            .and_where(Expr::col(Tier::Slug).eq(slug))
            .and_where(Expr::col(Tier::Description).eq(from))
            .to_owned();
        manager.exec_stmt(update).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Channel::Table)
                    .add_column(ColumnDef::new(Channel::MinTierId).integer().null())
                    .to_owned(),
            )
            .await?;
        describe(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        describe(manager, false).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Channel::Table)
                    .drop_column(Channel::MinTierId)
                    .to_owned(),
            )
            .await
    }
}
