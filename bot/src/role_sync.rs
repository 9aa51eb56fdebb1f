//! Runs a `role_sync` job: read what the member should hold (the ledger and the mapping, now),
//! read what they hold, add and remove the difference, then read the member back. The job is
//! done only when the member's roles match (the post-condition); Discord answering 204 is not
//! proof.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use domain::jobs::Claimed;
use domain::jobs::worker::Outcome;
use domain::role_sync::{self, RoleSyncJob};
use sea_orm::DatabaseConnection;

use crate::discord_api::{ApiError, DiscordApi, codes};

/// How long a job for a member who left the guild waits before looking again.
pub const MEMBER_GONE_WAIT: Duration = Duration::hours(1);

pub async fn run(db: &DatabaseConnection, api: &DiscordApi, claimed: &Claimed) -> Outcome {
    let job: RoleSyncJob = match serde_json::from_str(&claimed.job.payload) {
        Ok(j) => j,
        Err(e) => return Outcome::Dead(format!("unreadable role-sync job: {e}")),
    };
    let desired = match role_sync::desired(db, &job, Utc::now()).await {
        Ok(d) => d,
        Err(e) => {
            return Outcome::Retry {
                error: format!("database: {e}"),
                after: None,
            };
        }
    };
    // Discord's audit log (and the fake's call log) says which job and attempt made a change.
    let reason = format!(
        "SignalDesk role sync (job {}, attempt {})",
        claimed.id(),
        claimed.token()
    );
    match converge(api, &job, &desired, &reason).await {
        Ok(true) => Outcome::Done,
        Ok(false) => Outcome::Retry {
            error: "Discord answered success but the member's roles did not change (post-condition failed)".into(),
            after: None,
        },
        Err(e) => classify(e),
    }
}

/// Applies the difference; returns whether the member's roles match afterwards.
async fn converge(
    api: &DiscordApi,
    job: &RoleSyncJob,
    desired: &role_sync::Desired,
    reason: &str,
) -> Result<bool, ApiError> {
    let (guild, user) = (job.guild_id as u64, job.discord_user_id as u64);
    let holds: BTreeSet<i64> = api
        .member_roles(guild, user)
        .await?
        .into_iter()
        .map(|r| r as i64)
        .collect();
    let (add, remove) = desired.diff(&holds);
    if add.is_empty() && remove.is_empty() {
        return Ok(true);
    }
    for role in &add {
        api.set_member_role(guild, user, *role as u64, true, reason).await?;
    }
    for role in &remove {
        api.set_member_role(guild, user, *role as u64, false, reason).await?;
    }
    let after: BTreeSet<i64> = api
        .member_roles(guild, user)
        .await?
        .into_iter()
        .map(|r| r as i64)
        .collect();
    Ok(desired.met_by(&after))
}

/// Discord's answer decides: configuration faults are dead at once (retrying only burns the
/// invalid-request budget that gets a bot banned), a departed member waits, the rest retries.
pub fn classify(e: ApiError) -> Outcome {
    match e {
        ApiError::RateLimited(wait) => Outcome::Retry {
            error: format!("rate limited by Discord for {:.3}s", wait.as_secs_f64()),
            after: Some(Duration::from_std(wait).unwrap_or(Duration::seconds(1))),
        },
        ApiError::Refused {
            status: 401, message, ..
        } => Outcome::Dead(format!(
            "Discord: {message} (401). Fix: DISCORD_BOT_TOKEN is wrong or was reset — set the bot's current token and restart the bot, then press Retry."
        )),
        ApiError::Refused { code, message, .. } => match code {
            codes::MISSING_PERMISSIONS | codes::MISSING_ACCESS => Outcome::Dead(format!(
                "Discord: {message} ({code}). Fix: give the bot Manage Roles and move its role above every tier role in the customers' server (Server Settings → Roles), then press Retry."
            )),
            codes::UNKNOWN_ROLE => Outcome::Dead(format!(
                "Discord: {message} ({code}). Fix: a mapped role was deleted — choose an existing role for the tier on /admin/discord, then press Retry."
            )),
            codes::UNKNOWN_GUILD => Outcome::Dead(format!(
                "Discord: {message} ({code}). Fix: invite the bot to the customers' server, or correct CUSTOMER_GUILD_ID, then press Retry."
            )),
            codes::UNKNOWN_MEMBER => Outcome::Wait {
                reason: "the member is not in the customers' server; their roles are set when they join".into(),
                after: MEMBER_GONE_WAIT,
            },
            _ => Outcome::Dead(format!("Discord refused: {message} ({code})")),
        },
        e @ (ApiError::Server(_) | ApiError::Timeout(_) | ApiError::Transport(_) | ApiError::Decode(_)) => {
            Outcome::Retry {
                error: e.to_string(),
                after: None,
            }
        }
    }
}
