//! What this bot process tells the admin console: its state and why, the bot user, the guilds
//! it sees with their roles (and which it may manage), the jobs it finished. One row per process
//! start, refreshed while it runs.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use entity::bot_instance;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set};
use serde_json::{Value, json};

use crate::discord_api::{ApiError, DiscordApi};

pub struct Status {
    pub id: String,
    started_at: DateTime<Utc>,
    pub jobs_done: AtomicI64,
    pub last_job_at: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl Status {
    pub fn new() -> Self {
        let bytes: [u8; 16] = rand::random();
        Status {
            id: bytes.iter().map(|b| format!("{b:02x}")).collect(),
            started_at: Utc::now(),
            jobs_done: AtomicI64::new(0),
            last_job_at: std::sync::Mutex::new(None),
        }
    }

    pub fn job_finished(&self) {
        self.jobs_done.fetch_add(1, Ordering::Relaxed);
        *self.last_job_at.lock().unwrap() = Some(Utc::now());
    }

    /// Writes the row (insert or update).
    pub async fn report(
        &self,
        db: &DatabaseConnection,
        state: &str,
        detail: &str,
        bot_user: Option<&str>,
        guilds: &Value,
    ) -> Result<(), DbErr> {
        let row = bot_instance::ActiveModel {
            id: Set(self.id.clone()),
            state: Set(state.to_owned()),
            detail: Set(detail.to_owned()),
            bot_user: Set(bot_user.map(str::to_owned)),
            guilds: Set(guilds.to_string()),
            jobs_done: Set(self.jobs_done.load(Ordering::Relaxed)),
            last_job_at: Set(*self.last_job_at.lock().unwrap()),
            started_at: Set(self.started_at),
            seen_at: Set(Utc::now()),
        };
        bot_instance::Entity::insert(row)
            .on_conflict(
                OnConflict::column(bot_instance::Column::Id)
                    .update_columns([
                        bot_instance::Column::State,
                        bot_instance::Column::Detail,
                        bot_instance::Column::BotUser,
                        bot_instance::Column::Guilds,
                        bot_instance::Column::JobsDone,
                        bot_instance::Column::LastJobAt,
                        bot_instance::Column::SeenAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await
            .map(|_| ())
    }
}

/// Bot processes that reported as working within the last two report periods (this one
/// included once it has reported).
pub async fn live_processes(db: &DatabaseConnection) -> Result<usize, DbErr> {
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
    let since = Utc::now() - chrono::Duration::seconds(35);
    let n = bot_instance::Entity::find()
        .filter(bot_instance::Column::SeenAt.gt(since))
        .filter(bot_instance::Column::State.is_in(["connected", "starting"]))
        .count(db)
        .await?;
    Ok(n as usize)
}

/// The customers' guild as the bot sees it: its roles by position, and for each whether the bot
/// can give it (below the bot's highest role, and not an integration's own role).
pub async fn guild_view(api: &DiscordApi, guild: u64, bot_user: u64) -> Result<Value, ApiError> {
    let info = api.guild(guild).await?;
    let mut roles = api.guild_roles(guild).await?;
    let mine = api.member_roles(guild, bot_user).await?;
    let top = roles
        .iter()
        .filter(|r| mine.contains(&r.id.get()))
        .map(|r| r.position)
        .max()
        .unwrap_or(0);
    roles.sort_by_key(|r| std::cmp::Reverse(r.position));
    let roles: Vec<Value> = roles
        .iter()
        .filter(|r| r.id.get() != guild) // @everyone
        .map(|r| {
            let reason = if r.managed {
                Some("an integration's own role: nobody can assign it")
            } else if r.position >= top {
                Some("at or above the bot's highest role: move the bot's role above it")
            } else {
                None
            };
            json!({"id": r.id.get().to_string(), "name": r.name, "position": r.position,
                   "manageable": reason.is_none(), "reason": reason})
        })
        .collect();
    Ok(json!([{"id": guild.to_string(), "name": info.name, "bot_top": top, "roles": roles}]))
}
