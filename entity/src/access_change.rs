//! The customer's access timeline: every grant, revocation and expiry with its cause.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_change")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: Option<i64>,
    pub email: String,
    pub grant_id: Option<i64>,
    /// granted, revoked, expired, linked.
    pub kind: String,
    /// payment event (e.g. `order.completed #236`), `admin <email>`, `expiry`, `signup`.
    pub cause: String,
    #[sea_orm(column_type = "Text")]
    pub detail: String,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
