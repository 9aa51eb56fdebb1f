//! A channel of a discovered guild, with the operator's flags: Source (captured) and Target
//! (mirrored into). `id` is the snowflake; `kind` is Discord's channel type number.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub guild_id: i64,
    pub name: String,
    pub kind: i32,
    pub parent_id: Option<i64>,
    pub position: i32,
    pub is_source: bool,
    pub is_target: bool,
    /// False once the guild's latest channel snapshot no longer lists it.
    pub present: bool,
    /// The lowest tier that opens this channel (`None`: every tier). See `domain::channel_tiers`.
    pub min_tier_id: Option<i32>,
    /// Why the bot's capture cannot read this channel (`None`: nothing wrong seen).
    pub capture_warning: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The tier that opens the channel, when one is set.
    #[sea_orm(
        belongs_to = "super::tier::Entity",
        from = "Column::MinTierId",
        to = "super::tier::Column::Id"
    )]
    MinTier,
}

impl Related<super::tier::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::MinTier.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
