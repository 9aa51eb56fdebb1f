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
    /// granted, revoked, expired, linked, unlinked.
    pub kind: String,
    /// A short word of a known set: payment, admin, import, expiry, signup, proof.
    pub cause: String,
    /// Who acted: an admin's address, `command line`, the storefront event
    /// (`Sell.app order.completed #236`); none for the system's own changes.
    #[sea_orm(column_type = "Text", nullable)]
    pub actor: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub detail: String,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
