//! A collector that reports what happens in the source Discord server. Only token hashes are
//! stored; during a rotation the previous hash keeps working until `previous_token_expires_at`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connector")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub pid: String,
    pub name: String,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub previous_token_hash: Option<String>,
    pub previous_token_expires_at: Option<DateTimeUtc>,
    pub enabled: bool,
    /// Whether this connector's signals are mirrored into mapped target channels.
    pub forwarding: bool,
    pub created_at: DateTimeUtc,
    pub last_seen_at: Option<DateTimeUtc>,
    pub version: Option<String>,
    /// When the connector last said hello (its process started).
    pub started_at: Option<DateTimeUtc>,
    /// `api` (a collector posting to the ingest API) or `discord_bot` (our bot on the gateway).
    pub kind: String,
    /// A problem only the operator can fix, shown on /admin/connectors (e.g. a missing intent).
    pub alert: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
