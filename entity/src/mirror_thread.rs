//! The thread our bot made in a target channel for a source thread (`target_thread_id` once
//! Discord answered; `creating_until` while a worker holds the making).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mirror_thread")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub source_thread_id: i64,
    pub target_channel_id: i64,
    pub target_thread_id: Option<i64>,
    pub creating_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
