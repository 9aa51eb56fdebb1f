//! A person who signs in: a customer or an admin. `pid` is the public id; `id` never leaves the server.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_account")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub pid: String,
    /// Normalised: trimmed and lower-cased, so uniqueness is case-insensitive.
    #[sea_orm(unique)]
    pub email: String,
    /// PHC string (argon2id with its parameters and salt).
    pub password_hash: String,
    /// "customer" or "admin".
    pub role: String,
    pub created_at: DateTimeUtc,
    pub last_seen_at: Option<DateTimeUtc>,
    pub password_changed_at: DateTimeUtc,
    /// When the owner proved the address is theirs (a verification or reset link); paid time
    /// bought with this address reaches the account only after that.
    pub email_verified_at: Option<DateTimeUtc>,
    /// When the customer's access ends, as the ledger says after the latest change (kept by
    /// `domain::entitlements`, so expiries are found by an indexed query, not a table scan).
    pub access_ends_at: Option<DateTimeUtc>,
    /// The next moment the customer's access changes (a tier starts or ends): the sweep's index.
    pub access_changes_at: Option<DateTimeUtc>,
    /// Reminders before access ends by e-mail / by Discord direct message (each can be
    /// turned off on `/account` or by the link in the reminder itself).
    pub remind_by_email: bool,
    pub remind_by_discord: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
    #[sea_orm(has_many = "super::entitlement_grant::Entity")]
    Grant,
}

impl Related<super::entitlement_grant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Grant.def()
    }
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
