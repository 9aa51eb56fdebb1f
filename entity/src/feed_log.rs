//! One row per accepted change, in commit order: `seq` only grows, and a reader that has seen
//! `seq = n` finds every later change at `seq > n`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "feed_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub signal_id: Option<i64>,
    pub thread_id: Option<i64>,
    pub connector_id: i64,
    /// message_created, message_updated, message_deleted, thread_created, thread_updated, thread_deleted.
    pub op: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
