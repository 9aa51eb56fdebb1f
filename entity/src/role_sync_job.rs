//! Outbox of Discord role changes (grant or revoke one role of one member), enqueued in the
//! same transaction as the access change that needs it. Executed by the bot.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "role_sync_job")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub guild_id: i64,
    pub role_id: i64,
    /// grant or revoke.
    pub action: String,
    /// queued, running, done, dead.
    pub status: String,
    pub attempts: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
