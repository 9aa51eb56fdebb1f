//! Tier roles in the customers' Discord server.
//!
//! After any change to a customer's access (or link, or the tier → role mapping) a `role_sync`
//! job is queued in the same transaction (J1), one queued job per customer and Discord account
//! (J10). The job carries *who*, never *what*: the worker computes the roles the member should
//! hold from the ledger and the mapping at the moment it runs ([`desired`]), so a late or
//! repeated job can only converge, never apply a stale decision.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use entity::{discord_link, tier_role};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};

use crate::jobs::{self, JobKind};
use crate::{Config, entitlements};

/// The customers' guild, where tier roles are given; role sync is off without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleGuild {
    pub guild_id: i64,
}

impl RoleGuild {
    pub fn from_config(config: &Config) -> Option<Self> {
        config.customer_guild_id.map(|guild_id| RoleGuild { guild_id })
    }
}

/// What a role-sync job names: a customer and the Discord account to bring in line. After an
/// unlink (or a relink to another account) the old account's managed roles all go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSyncJob {
    pub user_id: i64,
    pub discord_user_id: i64,
    pub guild_id: i64,
}

impl RoleSyncJob {
    fn unique_key(&self) -> String {
        format!(
            "guild:{}/user:{}/discord:{}",
            self.guild_id, self.user_id, self.discord_user_id
        )
    }
}

/// Queues role sync for this customer and Discord account.
pub async fn enqueue(db: &impl ConnectionTrait, job: RoleSyncJob) -> Result<i64, DbErr> {
    let payload = serde_json::to_value(job).expect("a role-sync job serialises");
    jobs::enqueue(db, JobKind::RoleSync, Some(&job.unique_key()), &payload, Utc::now()).await
}

/// Queues role sync for a customer whose access changed, if they linked Discord. Returns how
/// many jobs it queued (0 or 1).
pub async fn sync_user(db: &impl ConnectionTrait, guild: &RoleGuild, user_id: i64) -> Result<usize, DbErr> {
    let Some(link) = discord_link::Entity::find_by_id(user_id).one(db).await? else {
        return Ok(0);
    };
    enqueue(
        db,
        RoleSyncJob {
            user_id,
            discord_user_id: link.discord_user_id,
            guild_id: guild.guild_id,
        },
    )
    .await?;
    Ok(1)
}

/// Queues role sync for every linked customer (after a mapping change, or a drift repair).
pub async fn sync_everyone(db: &impl ConnectionTrait, guild: &RoleGuild) -> Result<usize, DbErr> {
    let links = discord_link::Entity::find().all(db).await?;
    for link in &links {
        enqueue(
            db,
            RoleSyncJob {
                user_id: link.user_id,
                discord_user_id: link.discord_user_id,
                guild_id: guild.guild_id,
            },
        )
        .await?;
    }
    Ok(links.len())
}

/// Every mapping row of a guild, retired ones included.
async fn all_rows(db: &impl ConnectionTrait, guild_id: i64) -> Result<Vec<tier_role::Model>, DbErr> {
    tier_role::Entity::find()
        .filter(tier_role::Column::GuildId.eq(guild_id))
        .order_by_asc(tier_role::Column::TierId)
        .order_by_asc(tier_role::Column::RoleId)
        .all(db)
        .await
}

/// The tier → role mapping of a guild (retired rows left out).
pub async fn mapping(db: &impl ConnectionTrait, guild_id: i64) -> Result<Vec<tier_role::Model>, DbErr> {
    Ok(all_rows(db, guild_id)
        .await?
        .into_iter()
        .filter(|r| r.retired_at.is_none())
        .collect())
}

/// The roles role sync owns in a member's role list (every role in the mapping), and which of
/// them the member should hold now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Desired {
    pub managed: BTreeSet<i64>,
    pub wanted: BTreeSet<i64>,
}

impl Desired {
    /// The managed roles the member holds that they should not, and those they lack.
    pub fn diff(&self, holds: &BTreeSet<i64>) -> (Vec<i64>, Vec<i64>) {
        let add = self.wanted.difference(holds).copied().collect();
        let remove = holds
            .intersection(&self.managed)
            .filter(|r| !self.wanted.contains(r))
            .copied()
            .collect();
        (add, remove)
    }

    /// Does the member's role list match (managed roles only: others are not ours)?
    pub fn met_by(&self, holds: &BTreeSet<i64>) -> bool {
        let (add, remove) = self.diff(holds);
        add.is_empty() && remove.is_empty()
    }
}

/// The roles a job's member should hold at `now`, from the ledger and the mapping — never from
/// the job. An account no longer linked to this customer should hold none of the managed roles.
pub async fn desired(db: &impl ConnectionTrait, job: &RoleSyncJob, now: DateTime<Utc>) -> Result<Desired, DbErr> {
    let rows = all_rows(db, job.guild_id).await?;
    // Retired roles stay managed: a role taken out of the mapping is taken from members too.
    let managed = rows.iter().map(|m| m.role_id).collect();
    let map: Vec<_> = rows.into_iter().filter(|r| r.retired_at.is_none()).collect();
    let linked = discord_link::Entity::find_by_id(job.user_id)
        .one(db)
        .await?
        .is_some_and(|l| l.discord_user_id == job.discord_user_id);
    let tier = if linked {
        entitlements::access_at(db, job.user_id, now).await?.map(|a| a.tier.id)
    } else {
        None
    };
    let wanted = map
        .iter()
        .filter(|m| Some(m.tier_id) == tier)
        .map(|m| m.role_id)
        .collect();
    Ok(Desired { managed, wanted })
}

/// Replaces the mapping of one tier in one guild, and queues sync for every linked customer in
/// the same transaction. A role taken out is retired (still managed, given to nobody unless
/// another tier maps it). Returns how many jobs were queued.
pub async fn set_tier_roles(
    db: &impl ConnectionTrait,
    guild: &RoleGuild,
    tier_id: i32,
    roles: &[i64],
) -> Result<usize, DbErr> {
    let wanted: BTreeSet<i64> = roles.iter().copied().collect();
    let now = Utc::now();
    let rows: Vec<_> = all_rows(db, guild.guild_id)
        .await?
        .into_iter()
        .filter(|r| r.tier_id == tier_id)
        .collect();
    for row in &rows {
        let keep = wanted.contains(&row.role_id);
        if keep == row.retired_at.is_none() {
            continue;
        }
        let mut active: tier_role::ActiveModel = row.clone().into();
        active.retired_at = Set((!keep).then_some(now));
        active.update(db).await?;
    }
    for role in wanted.iter().filter(|r| !rows.iter().any(|row| row.role_id == **r)) {
        add_row(db, guild.guild_id, tier_id, *role).await?;
    }
    sync_everyone(db, guild).await
}

async fn add_row(db: &impl ConnectionTrait, guild_id: i64, tier_id: i32, role_id: i64) -> Result<(), DbErr> {
    tier_role::ActiveModel {
        tier_id: Set(tier_id),
        guild_id: Set(guild_id),
        role_id: Set(role_id),
        created_at: Set(Utc::now()),
        retired_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// `TIER_ROLES` is the mapping's initial value: written once, while the guild has none.
pub async fn seed_from_config(db: &impl ConnectionTrait, config: &Config) -> Result<usize, DbErr> {
    let Some(guild) = RoleGuild::from_config(config) else {
        return Ok(0);
    };
    // Any row, retired ones too: an admin who emptied the mapping keeps it empty.
    if config.tier_roles.is_empty() || !all_rows(db, guild.guild_id).await?.is_empty() {
        return Ok(0);
    }
    let tiers: BTreeMap<String, i32> = entitlements::tiers(db)
        .await?
        .into_iter()
        .map(|t| (t.slug, t.id))
        .collect();
    let mut seeded = 0;
    for (slug, role) in &config.tier_roles {
        let Some(tier_id) = tiers.get(slug) else {
            tracing::warn!(tier = %slug, "TIER_ROLES names a tier that does not exist; ignored");
            continue;
        };
        add_row(db, guild.guild_id, *tier_id, *role).await?;
        seeded += 1;
    }
    Ok(seeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_managed_roles_are_touched() {
        let d = Desired {
            managed: [1, 2, 3].into(),
            wanted: [2].into(),
        };
        let holds: BTreeSet<i64> = [1, 9].into();
        assert_eq!(d.diff(&holds), (vec![2], vec![1]));
        assert!(!d.met_by(&holds));
        assert!(d.met_by(&[2, 9].into()), "an unmanaged role (9) is not ours to remove");
    }
}
