//! One grant of paid (or given) time. The customer's access is computed from these rows; a
//! revoked grant stays for the record with `revoked_at` set. `user_id` is empty while a payment
//! waits for an account with its email.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "entitlement_grant")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: Option<i64>,
    pub email: String,
    /// The order line this grant is for: the order id for its first line, `<order id>:<n>` for
    /// line n ≥ 1 (see `domain::entitlements::line_key`). Unique: one grant per line.
    #[sea_orm(unique)]
    pub order_id: Option<String>,
    pub tier_id: i32,
    pub days: i32,
    pub starts_at: DateTimeUtc,
    /// payment or admin.
    pub cause: String,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    pub created_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub revoke_reason: Option<String>,
    /// What the order cost, in minor units of `currency` (paid grants whose body said so).
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tier::Entity",
        from = "Column::TierId",
        to = "super::tier::Column::Id"
    )]
    Tier,
    #[sea_orm(
        belongs_to = "super::user_account::Entity",
        from = "Column::UserId",
        to = "super::user_account::Column::Id"
    )]
    UserAccount,
}

impl Related<super::user_account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserAccount.def()
    }
}

impl Related<super::tier::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tier.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
