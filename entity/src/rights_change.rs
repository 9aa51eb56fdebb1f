//! A change to a user's sessions or access that open sockets must re-check (a wake-up row).

use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum RightsKind {
    /// Sessions were revoked (sign-out, sign out everywhere, password change, demotion).
    #[sea_orm(string_value = "sessions")]
    Sessions,
    /// Access was granted, extended, taken back or linked.
    #[sea_orm(string_value = "access")]
    Access,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rights_change")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub kind: RightsKind,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
