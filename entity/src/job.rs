//! One background job: what to do (`kind` + JSON `payload`), its state, attempts and lease.

use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum JobKind {
    #[sea_orm(string_value = "role_sync")]
    RoleSync,
    #[sea_orm(string_value = "mirror")]
    Mirror,
    /// Compares every linked customer's roles in Discord with the ledger (dry run or repair).
    #[sea_orm(string_value = "role_drift")]
    RoleDrift,
    /// Fetches a signal's attachments into the blob store (the server runs these).
    #[sea_orm(string_value = "attachment_fetch")]
    AttachmentFetch,
    /// Mails one reminder before a customer's access ends (the server runs these).
    #[sea_orm(string_value = "reminder_mail")]
    ReminderMail,
    /// Sends one reminder as a Discord direct message (the bot runs these).
    #[sea_orm(string_value = "reminder_dm")]
    ReminderDm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum JobStatus {
    /// Waiting for `run_at`.
    #[sea_orm(string_value = "queued")]
    Queued,
    /// Claimed by a worker until `lease_until` (then claimable again).
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "done")]
    Done,
    /// Gave up: out of attempts, or a fault no retry can fix. Shown in admin.
    #[sea_orm(string_value = "dead")]
    Dead,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: JobKind,
    pub unique_key: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub status: JobStatus,
    /// Claims so far; the claim's number is its fencing token.
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTimeUtc,
    pub lease_until: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// When a worker last claimed it (claim latency = this − `run_at` of that attempt).
    pub claimed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
