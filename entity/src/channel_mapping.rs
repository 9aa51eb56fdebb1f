//! Source channel → target channel: where mirroring copies a source channel's signals.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_mapping")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub source_channel_id: i64,
    pub target_channel_id: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
