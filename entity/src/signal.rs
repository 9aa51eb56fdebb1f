//! One captured source message in its current state. (`channel_id`, `message_id`) is unique:
//! however often a message is reported in its source channel, it is one signal, and a message id
//! reported in another channel (another connector's) never reaches it. `deleted_at` is a tombstone.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signal")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub message_id: i64,
    pub connector_id: i64,
    pub guild_id: i64,
    pub channel_id: i64,
    pub thread_id: Option<i64>,
    pub author_id: Option<i64>,
    pub author_name: String,
    pub author_avatar: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    #[sea_orm(column_type = "Text")]
    pub embeds_json: String,
    #[sea_orm(column_type = "Text")]
    pub attachments_json: String,
    /// Names of the users and roles the content mentions, as reported with it.
    #[sea_orm(column_type = "Text")]
    pub mentions_json: String,
    /// When Discord says the message was posted (unknown for a delete that arrived first).
    pub posted_at: Option<DateTimeUtc>,
    pub edited_at: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
    /// Content then the embeds' text: what search and the trade parser read (`feed::search`).
    #[sea_orm(column_type = "Text")]
    pub search_text: String,
    /// The trade the text states (`domain::trade`), for filters: "BTC/USDT", "long" / "short".
    pub pair: Option<String>,
    pub side: Option<String>,
    /// Why it counts as deleted when no delete event was seen (a re-check found it gone).
    pub delete_reason: Option<String>,
    pub ingested_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
