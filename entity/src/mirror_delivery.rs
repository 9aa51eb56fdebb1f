//! One operation a copy went through (create, an update, delete), with the time of each hop:
//! source message → ingest accepted → job claimed → Discord answered.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mirror_delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub copy_id: i64,
    pub op: String,
    pub source_at: Option<DateTimeUtc>,
    pub accepted_at: DateTimeUtc,
    pub claimed_at: Option<DateTimeUtc>,
    pub answered_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
