//! A single-use token sent by mail (verification, password reset or a sign-in link); only its
//! SHA-256 is kept.

use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Purpose {
    #[sea_orm(string_value = "verify")]
    Verify,
    #[sea_orm(string_value = "reset")]
    Reset,
    /// A one-time sign-in, mailed when the account's budget of wrong passwords is spent.
    #[sea_orm(string_value = "signin")]
    SignIn,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_token")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub purpose: Purpose,
    #[sea_orm(unique)]
    pub token_hash: String,
    /// The address the mail went to (a token proves control of exactly this address).
    pub email: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
