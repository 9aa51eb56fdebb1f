//! A reminder sent before a customer's access ends: which end it was about, how many days
//! before, by which channel (`email` or `discord`). Unique on those four, so it is sent once.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reminder")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub access_end: DateTimeUtc,
    pub days_before: i32,
    pub channel: String,
    /// When a process claimed it (and queued its job); then when it was sent.
    pub sent_at: DateTimeUtc,
    /// SHA-256 of the unsubscribe token in the message as sent (set when it is sent).
    pub unsubscribe_hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
