//! A Discord role given to every customer whose current tier is `tier_id` (a tier may map to
//! several roles). Every role named here is *managed*: role sync adds it or takes it away. A
//! retired row (taken out of the mapping) is given to nobody but stays managed, so the role
//! is taken from the members who got it from us.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tier_role")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tier_id: i32,
    pub guild_id: i64,
    pub role_id: i64,
    pub created_at: DateTimeUtc,
    pub retired_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
