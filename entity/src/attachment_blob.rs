//! One attachment of a signal as the blob store holds it: `pending` until fetched, `stored`
//! (with its SHA-256 and the content type its bytes were checked to be), or `unavailable` with
//! the reason.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attachment_blob")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub signal_id: i64,
    /// Discord's attachment id.
    pub attachment_id: i64,
    #[sea_orm(column_type = "Text")]
    pub source_url: String,
    pub state: String,
    pub sha256: Option<String>,
    pub content_type: Option<String>,
    pub size: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub attempts: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
