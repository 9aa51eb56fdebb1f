//! An earlier version of an edited signal, kept when an edit replaced it: the signal's edit
//! history, and what a level change ("SL 3,150 → 3,200") is measured against.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signal_revision")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub signal_id: i64,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    #[sea_orm(column_type = "Text")]
    pub embeds_json: String,
    /// When this version itself was an edit (none for the original post).
    pub edited_at: Option<DateTimeUtc>,
    /// When the next version replaced it.
    pub replaced_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
