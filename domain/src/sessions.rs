//! Server-side sessions: a 256-bit random token in the cookie, only its SHA-256 in the database;
//! absolute and idle expiry; revocation one at a time, all-but-this-one, or on sign-out.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use entity::session;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, Set, sea_query::Expr,
};
use sha2::{Digest, Sha256};

use crate::accounts::Account;
use crate::secret::Secret;

/// A session ends this long after sign-in, however active.
pub const ABSOLUTE_LIFETIME: Duration = Duration::days(30);
/// A session unused for this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::days(7);
/// `last_seen_at` is written at most this often, so reads do not turn into a write per request.
const TOUCH_INTERVAL: Duration = Duration::seconds(60);
const USER_AGENT_MAX: usize = 255;

pub type Session = session::Model;

/// Who is signed in on this request, and through which session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub account: Account,
    pub session: Session,
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new 256-bit random token (URL-safe), for sessions and every link we mail.
pub(crate) fn new_token() -> Secret<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Starts a session and returns the cookie token (shown once, never stored).
pub async fn start(
    db: &DatabaseConnection,
    user_id: i64,
    user_agent: &str,
) -> Result<(Secret<String>, Session), DbErr> {
    let token = new_token();
    let now = Utc::now();
    let user_agent: String = user_agent
        .chars()
        .filter(|c| !c.is_control())
        .take(USER_AGENT_MAX)
        .collect();
    let model = session::ActiveModel {
        pid: Set(uuid::Uuid::new_v4().to_string()),
        token_hash: Set(hash_token(token.expose())),
        user_id: Set(user_id),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + ABSOLUTE_LIFETIME),
        user_agent: Set(user_agent),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((token, model))
}

fn is_live(s: &Session, now: DateTime<Utc>) -> bool {
    s.revoked_at.is_none() && now < s.expires_at && now < s.last_seen_at + IDLE_TIMEOUT
}

/// The signed-in account for a cookie token, if the session is live. Touches `last_seen_at`.
pub async fn resolve(db: &DatabaseConnection, token: &str) -> Result<Option<SignedIn>, DbErr> {
    let now = Utc::now();
    // One round trip: every page and every feed socket starts here.
    let Some((session, Some(account))) = session::Entity::find()
        .filter(session::Column::TokenHash.eq(hash_token(token)))
        .find_also_related(entity::user_account::Entity)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    signed_in(db, session, account, now).await
}

/// The session and account found for a token, if the session is live (touched now and then).
async fn signed_in(
    db: &DatabaseConnection,
    session: Session,
    account: entity::user_account::Model,
    now: DateTime<Utc>,
) -> Result<Option<SignedIn>, DbErr> {
    if !is_live(&session, now) {
        return Ok(None);
    }
    let account = Account::from(account);
    let session = if now - session.last_seen_at > TOUCH_INTERVAL {
        touch(db, &session, now).await?;
        Session {
            last_seen_at: now,
            ..session
        }
    } else {
        session
    };
    Ok(Some(SignedIn { account, session }))
}

/// As [`resolve`], with the account's access now, in one round trip (the live feed's handshake):
/// the session, its account and the account's grants in one query; the tiers from `tiers`.
pub async fn resolve_with_access(
    db: &DatabaseConnection,
    tiers: &crate::tiers::TierTable,
    token: &str,
) -> Result<Option<(SignedIn, Option<crate::entitlements::CustomerAccess>)>, DbErr> {
    let now = Utc::now();
    let rows = session::Entity::find()
        .filter(session::Column::TokenHash.eq(hash_token(token)))
        .find_also_related(entity::user_account::Entity)
        .and_also_related(entity::entitlement_grant::Entity)
        .order_by_asc(entity::entitlement_grant::Column::StartsAt)
        .all(db)
        .await?;
    let Some((session, Some(account), _)) = rows.first().cloned() else {
        return Ok(None);
    };
    // Revoked grants come along (a filter on them would drop the row of an account that has only
    // revoked ones); the timeline leaves them out.
    let grants: Vec<_> = rows.into_iter().filter_map(|(_, _, grant)| grant).collect();
    let Some(signed_in) = signed_in(db, session, account, now).await? else {
        return Ok(None);
    };
    let tiers = tiers.covering(db, grants.iter().map(|g| g.tier_id)).await?;
    let access = crate::entitlements::access_from(&grants, &tiers, now);
    Ok(Some((signed_in, access)))
}

async fn touch(db: &DatabaseConnection, session: &Session, now: DateTime<Utc>) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::LastSeenAt, Expr::value(now))
        .filter(session::Column::Id.eq(session.id))
        .exec(db)
        .await?;
    entity::user_account::Entity::update_many()
        .col_expr(entity::user_account::Column::LastSeenAt, Expr::value(now))
        .filter(entity::user_account::Column::Id.eq(session.user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The user's live sessions, most recently used first.
pub async fn list_live(db: &DatabaseConnection, user_id: i64) -> Result<Vec<Session>, DbErr> {
    let now = Utc::now();
    let all = session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .order_by_desc(session::Column::LastSeenAt)
        .all(db)
        .await?;
    Ok(all.into_iter().filter(|s| is_live(s, now)).collect())
}

/// Revokes the user's sessions matching `which` and, if any was live, records the rights change
/// that makes every process re-check the user's open sockets. Runs in the caller's transaction.
async fn revoke_matching(db: &impl ConnectionTrait, user_id: i64, which: Condition) -> Result<u64, DbErr> {
    let res = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .filter(which)
        .exec(db)
        .await?;
    if res.rows_affected > 0 {
        crate::rights::changed(db, user_id, crate::rights::Kind::Sessions).await?;
    }
    Ok(res.rows_affected)
}

async fn revoke_in_transaction(db: &DatabaseConnection, user_id: i64, which: Condition) -> Result<u64, DbErr> {
    let txn = crate::database::begin_write(db).await?;
    let n = revoke_matching(&txn, user_id, which).await?;
    txn.commit().await?;
    Ok(n)
}

/// Revokes one of the user's own sessions by its public id. False if there was none.
pub async fn revoke(db: &DatabaseConnection, user_id: i64, session_pid: &str) -> Result<bool, DbErr> {
    let which = Condition::all().add(session::Column::Pid.eq(session_pid));
    Ok(revoke_in_transaction(db, user_id, which).await? > 0)
}

/// Revokes every session of the user except `keep` (the one making the request).
pub async fn revoke_others(db: &DatabaseConnection, user_id: i64, keep: i64) -> Result<u64, DbErr> {
    revoke_in_transaction(db, user_id, others(keep)).await
}

/// [`revoke_others`] inside the caller's transaction (a password change and the sign-outs it
/// implies commit together).
pub async fn revoke_others_in(db: &impl ConnectionTrait, user_id: i64, keep: i64) -> Result<u64, DbErr> {
    revoke_matching(db, user_id, others(keep)).await
}

/// Every session of the user, inside the caller's transaction (e.g. when their role is lowered).
pub async fn revoke_all_in(db: &impl ConnectionTrait, user_id: i64) -> Result<u64, DbErr> {
    revoke_matching(db, user_id, Condition::all()).await
}

fn others(keep: i64) -> Condition {
    Condition::all().add(session::Column::Id.ne(keep))
}

/// Sign-out: the token stops working on every server at once.
pub async fn revoke_token(db: &DatabaseConnection, token: &str) -> Result<(), DbErr> {
    let Some(found) = session::Entity::find()
        .filter(session::Column::TokenHash.eq(hash_token(token)))
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let which = Condition::all().add(session::Column::Id.eq(found.id));
    revoke_in_transaction(db, found.user_id, which).await?;
    Ok(())
}

/// Whether the session with this id is still live (revocation and expiry), without touching it:
/// what an open socket re-checks when the user's rights change.
pub async fn is_live_by_id(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    Ok(session::Entity::find_by_id(id)
        .one(db)
        .await?
        .is_some_and(|s| is_live(&s, Utc::now())))
}

/// Which of the sessions `ids` are still live, in one read per thousand: what a server process
/// checks for all its open feeds at once.
pub async fn live_among(db: &impl ConnectionTrait, ids: &[i64]) -> Result<std::collections::HashSet<i64>, DbErr> {
    let now = Utc::now();
    let mut live = std::collections::HashSet::new();
    for chunk in ids.chunks(crate::database::IN_LIST) {
        let found = session::Entity::find()
            .filter(session::Column::Id.is_in(chunk.iter().copied()))
            .filter(session::Column::RevokedAt.is_null())
            .all(db)
            .await?;
        live.extend(found.iter().filter(|s| is_live(s, now)).map(|s| s.id));
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session_at(created: DateTime<Utc>, last_seen: DateTime<Utc>) -> Session {
        Session {
            id: 1,
            pid: "p".into(),
            token_hash: "h".into(),
            user_id: 1,
            created_at: created,
            last_seen_at: last_seen,
            expires_at: created + ABSOLUTE_LIFETIME,
            user_agent: String::new(),
            revoked_at: None,
        }
    }

    #[test]
    fn tokens_are_256_bit_and_distinct() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(a.expose())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(hash_token(a.expose()).len(), 64);
        assert_ne!(hash_token(a.expose()), *a.expose());
    }

    #[test]
    fn sessions_expire_when_idle_or_too_old_or_revoked() {
        let now = Utc::now();
        assert!(is_live(&session_at(now, now), now));
        assert!(
            !is_live(&session_at(now - Duration::days(8), now - Duration::days(8)), now),
            "idle for 8 days"
        );
        assert!(is_live(
            &session_at(now - Duration::days(20), now - Duration::hours(1)),
            now
        ));
        assert!(
            !is_live(&session_at(now - Duration::days(31), now - Duration::minutes(1)), now),
            "past absolute"
        );
        let mut revoked = session_at(now, now);
        revoked.revoked_at = Some(now);
        assert!(!is_live(&revoked, now));
    }
}
