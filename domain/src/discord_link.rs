//! A customer's linked Discord account. One Discord account belongs to one customer: linking an
//! account another customer holds is refused, never moved silently. Every link change queues
//! role sync in the same transaction — for the new account (its tier roles) and for an account
//! the customer leaves behind (every managed role taken away).

use chrono::Utc;
use entity::discord_link::{self, Model as Link};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, Set, SqlErr,
};

use crate::role_sync::{self, RoleGuild, RoleSyncJob};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("this Discord account is already linked to another customer")]
    TakenByAnother,
    #[error(transparent)]
    Db(#[from] DbErr),
}

pub async fn for_user(db: &impl sea_orm::ConnectionTrait, user_id: i64) -> Result<Option<Link>, DbErr> {
    discord_link::Entity::find_by_id(user_id).one(db).await
}

async fn queue(
    txn: &impl sea_orm::ConnectionTrait,
    guild: Option<&RoleGuild>,
    user_id: i64,
    discord_user_id: i64,
) -> Result<(), DbErr> {
    if let Some(g) = guild {
        role_sync::enqueue(
            txn,
            RoleSyncJob {
                user_id,
                discord_user_id,
                guild_id: g.guild_id,
            },
        )
        .await?;
    }
    Ok(())
}

/// Links `discord_user_id` to the customer (replacing an earlier link of theirs).
pub async fn link(
    db: &DatabaseConnection,
    guild: Option<&RoleGuild>,
    user_id: i64,
    discord_user_id: i64,
    username: &str,
) -> Result<Link, LinkError> {
    let txn = crate::database::begin_write(db).await?;
    let holder = discord_link::Entity::find()
        .filter(discord_link::Column::DiscordUserId.eq(discord_user_id))
        .one(&txn)
        .await?;
    if holder.as_ref().is_some_and(|h| h.user_id != user_id) {
        return Err(LinkError::TakenByAnother);
    }
    if let Some(old) = for_user(&txn, user_id).await? {
        discord_link::Entity::delete_by_id(user_id).exec(&txn).await?;
        if old.discord_user_id != discord_user_id {
            queue(&txn, guild, user_id, old.discord_user_id).await?;
        }
    }
    let row = discord_link::ActiveModel {
        user_id: Set(user_id),
        discord_user_id: Set(discord_user_id),
        username: Set(username.chars().take(100).collect()),
        linked_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        // Another customer linked the same account a moment ago.
        Some(SqlErr::UniqueConstraintViolation(_)) => LinkError::TakenByAnother,
        _ => LinkError::Db(e),
    })?;
    queue(&txn, guild, user_id, discord_user_id).await?;
    txn.commit().await?;
    Ok(row)
}

/// Removes the customer's link and queues the removal of every managed role from that account.
pub async fn unlink(db: &DatabaseConnection, guild: Option<&RoleGuild>, user_id: i64) -> Result<Option<Link>, DbErr> {
    let txn = crate::database::begin_write(db).await?;
    let old = unlink_in(&txn, guild, user_id).await?;
    txn.commit().await?;
    Ok(old)
}

/// [`unlink`] inside the caller's transaction (an address proven, an account deleted).
pub async fn unlink_in(
    txn: &impl sea_orm::ConnectionTrait,
    guild: Option<&RoleGuild>,
    user_id: i64,
) -> Result<Option<Link>, DbErr> {
    let Some(old) = for_user(txn, user_id).await? else {
        return Ok(None);
    };
    discord_link::Entity::delete_by_id(user_id).exec(txn).await?;
    queue(txn, guild, user_id, old.discord_user_id).await?;
    Ok(Some(old))
}

/// How long an OAuth authorisation may take (S6).
pub const STATE_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);

/// Why a callback's `state` is refused (S6): each is its own message to the customer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("this Discord authorisation is unknown; start again from your account page")]
    Unknown,
    #[error("this Discord authorisation was already used; start again from your account page")]
    Used,
    #[error("this Discord authorisation took longer than 10 minutes; start again from your account page")]
    Expired,
    #[error("this Discord authorisation was started in another browser session; start again here")]
    OtherSession,
}

#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Unfinished authorisations one session may have at once: starting another forgets the oldest,
/// so a script posting "Link Discord" in a loop keeps at most this many rows.
pub const LIVE_STATES_PER_SESSION: usize = 5;

/// Remembers an authorisation the session starts: the state's hash and the PKCE verifier.
pub async fn remember_state(
    db: &DatabaseConnection,
    state: &str,
    session_id: i64,
    verifier: &str,
) -> Result<(), DbErr> {
    use entity::oauth_state;
    let now = Utc::now();
    // Old states are of no use to anyone: clear them as new ones arrive.
    oauth_state::Entity::delete_many()
        .filter(oauth_state::Column::ExpiresAt.lt(now - chrono::Duration::days(1)))
        .exec(db)
        .await?;
    oauth_state::ActiveModel {
        state_hash: Set(crate::sessions::hash_token(state)),
        session_id: Set(session_id),
        pkce_verifier: Set(verifier.to_owned()),
        created_at: Set(now),
        expires_at: Set(now + STATE_LIFETIME),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    let unfinished = oauth_state::Entity::find()
        .filter(oauth_state::Column::SessionId.eq(session_id))
        .filter(oauth_state::Column::UsedAt.is_null())
        .order_by_desc(oauth_state::Column::CreatedAt)
        .all(db)
        .await?;
    let beyond: Vec<String> = unfinished
        .into_iter()
        .skip(LIVE_STATES_PER_SESSION)
        .map(|s| s.state_hash)
        .collect();
    if !beyond.is_empty() {
        oauth_state::Entity::delete_many()
            .filter(oauth_state::Column::StateHash.is_in(beyond))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Takes a state back at the callback: it must be known, unused, unexpired and this session's.
/// Taking it uses it up (one conditional update, so two callbacks racing cannot both win).
/// Returns the PKCE verifier.
pub async fn take_state(db: &DatabaseConnection, state: &str, session_id: i64) -> Result<String, TakeError> {
    use entity::oauth_state;
    use sea_orm::sea_query::Expr;
    let hash = crate::sessions::hash_token(state);
    let now = Utc::now();
    let row = oauth_state::Entity::find_by_id(hash.clone())
        .one(db)
        .await?
        .ok_or(StateError::Unknown)?;
    if row.used_at.is_some() {
        return Err(StateError::Used.into());
    }
    if row.session_id != session_id {
        return Err(StateError::OtherSession.into());
    }
    if row.expires_at <= now {
        return Err(StateError::Expired.into());
    }
    let taken = oauth_state::Entity::update_many()
        .col_expr(oauth_state::Column::UsedAt, Expr::value(Some(now)))
        .filter(oauth_state::Column::StateHash.eq(hash))
        .filter(oauth_state::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    if taken.rows_affected != 1 {
        return Err(StateError::Used.into());
    }
    Ok(row.pkce_verifier)
}
