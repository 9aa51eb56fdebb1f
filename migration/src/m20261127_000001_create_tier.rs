//! The tiers customers can buy. Seeded with the three the operator sells today;
//! access policies (payments) will point at these rows.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tier {
    Table,
    Id,
    Slug,
    Name,
    Rank,
    Description,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tier::Table)
                    .col(
                        ColumnDef::new(Tier::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Tier::Slug).string_len(32).not_null().unique_key())
                    .col(ColumnDef::new(Tier::Name).string_len(64).not_null())
                    .col(ColumnDef::new(Tier::Rank).integer().not_null().unique_key())
                    .col(ColumnDef::new(Tier::Description).text().not_null())
                    .col(
                        ColumnDef::new(Tier::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .to_owned(),
            )
            .await?;

        let seed = [
            (
                "basic",
                "Basic",
                1,
                "Every signal from the core channels, live on the web dashboard.",
            ),
            (
                "advanced",
                "Advanced",
                2,
                "Everything in Basic plus the advanced channels and a Discord mirror.",
            ),
            (
                "pro",
                "Pro",
                3,
                "Every channel, the Discord mirror and priority role sync.",
            ),
        ];
        let mut insert = Query::insert();
        insert
            .into_table(Tier::Table)
            .columns([Tier::Slug, Tier::Name, Tier::Rank, Tier::Description]);
        for (slug, name, rank, description) in seed {
            insert.values_panic([slug.into(), name.into(), rank.into(), description.into()]);
        }
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Tier::Table).to_owned()).await
    }
}
