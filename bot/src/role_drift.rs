//! Runs a `role_drift` job: read every linked customer's roles in the customers' server (one
//! member read each, through the rate limiter), compare them with what the ledger gives now, and
//! record who would gain or lose which role. A repair also queues role sync for each of them; a
//! scheduled sweep queues the next one.

use std::collections::BTreeSet;

use chrono::Utc;
use domain::jobs::Claimed;
use domain::jobs::worker::Outcome;
use domain::role_drift::{self, DriftJob, Entry};
use domain::role_sync::{self, RoleGuild};
use sea_orm::DatabaseConnection;

use crate::discord_api::{ApiError, DiscordApi, codes};

pub async fn run(db: &DatabaseConnection, api: &DiscordApi, claimed: &Claimed) -> Outcome {
    let job: DriftJob = match serde_json::from_str(&claimed.job.payload) {
        Ok(j) => j,
        Err(e) => return Outcome::Dead(format!("unreadable role-drift job: {e}")),
    };
    let retry = |e: sea_orm::DbErr| Outcome::Retry {
        error: format!("database: {e}"),
        after: None,
    };
    let report = match role_drift::begin(db, &job).await {
        Ok(id) => id,
        Err(e) => return retry(e),
    };
    let outcome = match sweep(db, api, &job).await {
        Ok((checked, entries)) => {
            let saved = async {
                let txn = domain::database::begin_write(db).await?;
                let queued = role_drift::finish(&txn, report, &job, checked, &entries).await?;
                if job.report_id.is_none() {
                    let guild = RoleGuild { guild_id: job.guild_id };
                    role_drift::schedule(&txn, &guild, Utc::now() + role_drift::EVERY).await?;
                }
                txn.commit().await?;
                Ok::<_, sea_orm::DbErr>(queued)
            };
            match saved.await {
                Ok(queued) => {
                    tracing::info!(
                        report,
                        checked,
                        drifted = entries.len(),
                        queued,
                        dry_run = job.dry_run,
                        "role drift sweep"
                    );
                    Outcome::Done
                }
                Err(e) => retry(e),
            }
        }
        Err(Sweep::Db(e)) => retry(e),
        Err(Sweep::Api(e)) => crate::role_sync::classify(e),
    };
    if let Outcome::Dead(why) = &outcome
        && let Err(e) = role_drift::failed(db, report, why).await
    {
        tracing::warn!(error = %e, report, "cannot record the failed drift sweep");
    }
    outcome
}

enum Sweep {
    Db(sea_orm::DbErr),
    Api(ApiError),
}

/// Compares every linked customer; returns how many were checked and those who drifted.
async fn sweep(db: &DatabaseConnection, api: &DiscordApi, job: &DriftJob) -> Result<(usize, Vec<Entry>), Sweep> {
    let linked = role_drift::linked(db).await.map_err(Sweep::Db)?;
    let mut entries = Vec::new();
    for customer in &linked {
        let sync_job = customer.job(job.guild_id);
        let desired = role_sync::desired(db, &sync_job, Utc::now()).await.map_err(Sweep::Db)?;
        let (holds, note) = match api
            .member_roles(job.guild_id as u64, customer.discord_user_id as u64)
            .await
        {
            Ok(roles) => (roles.into_iter().map(|r| r as i64).collect::<BTreeSet<i64>>(), None),
            Err(ApiError::Refused {
                code: codes::UNKNOWN_MEMBER,
                ..
            }) => (
                BTreeSet::new(),
                Some("not a member of the customers' server: roles are set when they join".to_owned()),
            ),
            Err(e) => return Err(Sweep::Api(e)),
        };
        let (gain, lose) = desired.diff(&holds);
        if gain.is_empty() && lose.is_empty() {
            continue;
        }
        entries.push(Entry {
            user_id: customer.user_id,
            email: customer.email.clone(),
            discord_user_id: customer.discord_user_id,
            discord_username: customer.discord_username.clone(),
            gain,
            lose,
            note,
        });
    }
    Ok((linked.len(), entries))
}
