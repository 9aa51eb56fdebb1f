//! Role drift: the roles members actually hold in the customers' server, compared with what the
//! ledger says they should hold. Someone may hand out or take away a tier role by hand, a job may
//! have been discarded, a member may have left and come back. A sweep (hourly, and on demand
//! from `/admin/discord`) reads every linked customer's roles through the bot and records who
//! would gain or lose which role; a dry run stops there, a repair also queues role sync for each
//! drifted customer in the same transaction as the report.

use chrono::{DateTime, Duration, Utc};
use entity::job::JobKind;
use entity::{discord_link, role_drift, user_account};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};

use crate::jobs;
use crate::role_sync::{self, RoleGuild, RoleSyncJob};

/// How often the bot sweeps on its own.
pub const EVERY: Duration = Duration::hours(1);
/// Who requested the scheduled sweep.
pub const HOURLY: &str = "hourly";

/// What a `role_drift` job names. A scheduled sweep has no report yet: the worker opens one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftJob {
    pub guild_id: i64,
    pub dry_run: bool,
    pub report_id: Option<i64>,
}

/// One linked customer whose roles differ from the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub user_id: i64,
    pub email: String,
    pub discord_user_id: i64,
    pub discord_username: String,
    /// Roles the ledger gives that the member lacks.
    pub gain: Vec<i64>,
    /// Managed roles the member holds that the ledger does not give.
    pub lose: Vec<i64>,
    /// Why it cannot be repaired now, if so (e.g. not a member of the server).
    pub note: Option<String>,
}

/// One linked customer, as the sweep sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    pub user_id: i64,
    pub email: String,
    pub discord_user_id: i64,
    pub discord_username: String,
}

impl Linked {
    pub fn job(&self, guild_id: i64) -> RoleSyncJob {
        RoleSyncJob {
            user_id: self.user_id,
            discord_user_id: self.discord_user_id,
            guild_id,
        }
    }
}

/// Opens a report and queues its sweep (one transaction: the caller's). A sweep of the same
/// kind already waiting or running is returned instead of a second one.
pub async fn request(
    db: &impl ConnectionTrait,
    guild: &RoleGuild,
    dry_run: bool,
    requested_by: &str,
) -> Result<i64, DbErr> {
    if let Some(open) = role_drift::Entity::find()
        .filter(role_drift::Column::GuildId.eq(guild.guild_id))
        .filter(role_drift::Column::DryRun.eq(dry_run))
        .filter(role_drift::Column::State.is_in(["queued", "running"]))
        .one(db)
        .await?
    {
        return Ok(open.id);
    }
    let id = open(db, guild.guild_id, dry_run, requested_by, "queued").await?;
    let job = DriftJob {
        guild_id: guild.guild_id,
        dry_run,
        report_id: Some(id),
    };
    let key = format!("guild:{}/report:{id}", guild.guild_id);
    enqueue(db, &job, &key, Utc::now()).await?;
    Ok(id)
}

/// Queues the next scheduled sweep (a repair) at `at`; one waiting at most, the earliest kept.
pub async fn schedule(db: &impl ConnectionTrait, guild: &RoleGuild, at: DateTime<Utc>) -> Result<i64, DbErr> {
    let job = DriftJob {
        guild_id: guild.guild_id,
        dry_run: false,
        report_id: None,
    };
    enqueue(db, &job, &format!("guild:{}/{HOURLY}", guild.guild_id), at).await
}

async fn enqueue(db: &impl ConnectionTrait, job: &DriftJob, key: &str, at: DateTime<Utc>) -> Result<i64, DbErr> {
    let payload = serde_json::to_value(job).expect("a drift job serialises");
    jobs::enqueue(db, JobKind::RoleDrift, Some(key), &payload, at).await
}

async fn open(
    db: &impl ConnectionTrait,
    guild_id: i64,
    dry_run: bool,
    requested_by: &str,
    state: &str,
) -> Result<i64, DbErr> {
    let row = role_drift::ActiveModel {
        guild_id: Set(guild_id),
        dry_run: Set(dry_run),
        requested_by: Set(requested_by.to_owned()),
        state: Set(state.to_owned()),
        checked: Set(0),
        drifted: Set(0),
        entries: Set("[]".into()),
        error: Set(None),
        created_at: Set(Utc::now()),
        finished_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(row.id)
}

/// The worker starts a sweep: its report (opened now for a scheduled one) is running.
pub async fn begin(db: &impl ConnectionTrait, job: &DriftJob) -> Result<i64, DbErr> {
    let Some(id) = job.report_id else {
        return open(db, job.guild_id, job.dry_run, HOURLY, "running").await;
    };
    set_state(db, id, "running", None).await?;
    Ok(id)
}

async fn set_state(db: &impl ConnectionTrait, id: i64, state: &str, error: Option<String>) -> Result<(), DbErr> {
    let done = matches!(state, "done" | "failed");
    role_drift::ActiveModel {
        id: Set(id),
        state: Set(state.to_owned()),
        error: Set(error),
        finished_at: Set(done.then(Utc::now)),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// Every linked customer, by customer id.
pub async fn linked(db: &impl ConnectionTrait) -> Result<Vec<Linked>, DbErr> {
    let links = discord_link::Entity::find()
        .order_by_asc(discord_link::Column::UserId)
        .all(db)
        .await?;
    let emails: std::collections::HashMap<i64, String> = user_account::Entity::find()
        .filter(user_account::Column::Id.is_in(links.iter().map(|l| l.user_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    Ok(links
        .into_iter()
        .map(|l| Linked {
            email: emails.get(&l.user_id).cloned().unwrap_or_default(),
            user_id: l.user_id,
            discord_user_id: l.discord_user_id,
            discord_username: l.username,
        })
        .collect())
}

/// Records what the sweep found (call in one transaction); a repair also queues role sync for
/// every drifted customer who is in the server.
pub async fn finish(
    db: &impl ConnectionTrait,
    id: i64,
    job: &DriftJob,
    checked: usize,
    entries: &[Entry],
) -> Result<usize, DbErr> {
    role_drift::ActiveModel {
        id: Set(id),
        state: Set("done".into()),
        checked: Set(checked as i32),
        drifted: Set(entries.len() as i32),
        entries: Set(serde_json::to_string(entries).expect("entries serialise")),
        finished_at: Set(Some(Utc::now())),
        ..Default::default()
    }
    .update(db)
    .await?;
    let mut queued = 0;
    if !job.dry_run {
        for e in entries.iter().filter(|e| e.note.is_none()) {
            role_sync::enqueue(
                db,
                RoleSyncJob {
                    user_id: e.user_id,
                    discord_user_id: e.discord_user_id,
                    guild_id: job.guild_id,
                },
            )
            .await?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// The sweep could not finish (a configuration fault): the report says why.
pub async fn failed(db: &impl ConnectionTrait, id: i64, error: &str) -> Result<(), DbErr> {
    set_state(db, id, "failed", Some(error.to_owned())).await
}

/// The newest report for the guild.
pub async fn latest(db: &impl ConnectionTrait, guild_id: i64) -> Result<Option<role_drift::Model>, DbErr> {
    role_drift::Entity::find()
        .filter(role_drift::Column::GuildId.eq(guild_id))
        .order_by_desc(role_drift::Column::Id)
        .one(db)
        .await
}

/// A report's entries.
pub fn entries(report: &role_drift::Model) -> Vec<Entry> {
    serde_json::from_str(&report.entries).unwrap_or_default()
}
