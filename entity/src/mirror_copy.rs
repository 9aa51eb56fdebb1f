//! The copy of one signal in one target channel: the Discord messages it is made of, and the
//! times of the latest operation's hops (source → accepted → claimed → Discord answered).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mirror_copy")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub signal_id: i64,
    pub target_channel_id: i64,
    /// `pending` (queued or being made), `live`, `deleted`, `removed` (a moderator deleted it
    /// in Discord: left alone), `failed` (dead job).
    pub state: String,
    /// JSON array of the copy's Discord message ids (strings), in order.
    #[sea_orm(column_type = "Text")]
    pub message_ids: String,
    /// SHA-256 of what the copy's messages say now (what was last sent).
    pub sent_hash: Option<String>,
    /// JSON array: each message's fingerprint (`render::OutMessage::fingerprint`), in order.
    #[sea_orm(column_type = "Text", nullable)]
    pub part_hashes: Option<String>,
    /// `create`, `update` or `delete`: the latest operation asked for.
    pub last_op: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// When the source message was posted (or edited, or deleted) in Discord.
    pub source_at: Option<DateTimeUtc>,
    /// When ingest accepted the latest change.
    pub accepted_at: DateTimeUtc,
    /// When a worker claimed the job for it.
    pub claimed_at: Option<DateTimeUtc>,
    /// When Discord answered the last call that applied it.
    pub answered_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
