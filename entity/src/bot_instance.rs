//! What one bot process last said about itself (for the admin console): its state, the bot user
//! it runs as, the guilds it sees, the jobs it finished.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bot_instance")]
pub struct Model {
    /// A random id per process start.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `idle` (not configured), `connected`, `error`, `stopped`.
    pub state: String,
    /// Why it is in that state, in words.
    #[sea_orm(column_type = "Text")]
    pub detail: String,
    pub bot_user: Option<String>,
    /// JSON array of `{id, name}`.
    #[sea_orm(column_type = "Text")]
    pub guilds: String,
    pub jobs_done: i64,
    pub last_job_at: Option<DateTimeUtc>,
    pub started_at: DateTimeUtc,
    pub seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
