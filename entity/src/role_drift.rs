//! One role-drift sweep: who it was for, whether it only reported (dry run) or also queued the
//! repairs, and what it found.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "role_drift")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub guild_id: i64,
    pub dry_run: bool,
    /// The admin's e-mail, or `hourly`.
    pub requested_by: String,
    /// `queued`, `running`, `done`, `failed`.
    pub state: String,
    /// Linked customers compared.
    pub checked: i32,
    /// Of them, those whose roles differ from the ledger.
    pub drifted: i32,
    /// JSON array of `domain::role_drift::Entry`.
    #[sea_orm(column_type = "Text")]
    pub entries: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
