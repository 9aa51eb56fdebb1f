//! A customer's alert settings (`domain::alerts`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_setting")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    /// Browser notifications for new signals.
    pub notify: bool,
    /// A short sound for new signals.
    pub sound: bool,
    /// The channel ids alerts are for, as a JSON list; empty: every channel.
    #[sea_orm(column_type = "Text")]
    pub channels_json: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
