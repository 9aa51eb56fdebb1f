//! The single-use links we mail to an address (verification, password reset, sign-in): a
//! 256-bit random token of which only the SHA-256 is stored, with the address it went to, an
//! expiry and when it was used. Each works once, before it expires, for that address only (an
//! unguessable single-use token checked against the database is at least as strong as a signed
//! one, and unlike a signature it can be used up). Checking a token costs one indexed read, so
//! callers check it before any expensive work.

use chrono::{DateTime, Duration, Utc};
use entity::email_token::{self, Purpose};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, Set};

use crate::secret::Secret;
use crate::sessions::{hash_token, new_token};

/// At most this many mails of one kind per account within [`MAIL_WINDOW`]: asking again and
/// again must not turn us into a mail cannon aimed at someone's inbox.
pub const MAILS_PER_WINDOW: u64 = 3;
pub const MAIL_WINDOW: Duration = Duration::minutes(15);

/// Why a link was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("this link is not valid; ask for a new one")]
    Invalid,
    #[error("this link was already used; ask for a new one if you still need it")]
    Used,
    #[error("this link has expired; ask for a new one")]
    Expired,
}

/// Stores a new link for `user_id`, unless too many were issued lately (then `None`).
pub async fn issue(
    db: &impl ConnectionTrait,
    user_id: i64,
    purpose: Purpose,
    email: &str,
    lifetime: Duration,
) -> Result<Option<Secret<String>>, DbErr> {
    let now = Utc::now();
    let recent = email_token::Entity::find()
        .filter(email_token::Column::UserId.eq(user_id))
        .filter(email_token::Column::Purpose.eq(purpose))
        .filter(email_token::Column::CreatedAt.gt(now - MAIL_WINDOW))
        .count(db)
        .await?;
    if recent >= MAILS_PER_WINDOW {
        tracing::warn!(user = user_id, ?purpose, "mail not sent: too many asked for lately");
        return Ok(None);
    }
    let token = new_token();
    email_token::ActiveModel {
        user_id: Set(user_id),
        purpose: Set(purpose),
        token_hash: Set(hash_token(token.expose())),
        email: Set(email.to_owned()),
        created_at: Set(now),
        expires_at: Set(now + lifetime),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(Some(token))
}

async fn find(db: &impl ConnectionTrait, token: &str, purpose: Purpose) -> Result<Option<email_token::Model>, DbErr> {
    email_token::Entity::find()
        .filter(email_token::Column::TokenHash.eq(hash_token(token.trim())))
        .filter(email_token::Column::Purpose.eq(purpose))
        .one(db)
        .await
}

fn judge(row: email_token::Model, now: DateTime<Utc>) -> Result<email_token::Model, Refused> {
    if row.used_at.is_some() {
        Err(Refused::Used)
    } else if row.expires_at <= now {
        Err(Refused::Expired)
    } else {
        Ok(row)
    }
}

/// Whether a link would be taken now, without using it up (a page showing what the link is
/// for, or a check before expensive work).
pub async fn check(
    db: &impl ConnectionTrait,
    token: &str,
    purpose: Purpose,
) -> Result<Result<email_token::Model, Refused>, DbErr> {
    Ok(match find(db, token, purpose).await? {
        Some(row) => judge(row, Utc::now()),
        None => Err(Refused::Invalid),
    })
}

/// Uses a link up: exactly one caller ever gets `Ok` for it (a conditional update decides).
pub async fn consume(
    db: &impl ConnectionTrait,
    token: &str,
    purpose: Purpose,
) -> Result<Result<email_token::Model, Refused>, DbErr> {
    let hash = hash_token(token.trim());
    let now = Utc::now();
    let taken = email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(Some(now)))
        .filter(email_token::Column::TokenHash.eq(&hash))
        .filter(email_token::Column::Purpose.eq(purpose))
        .filter(email_token::Column::UsedAt.is_null())
        .filter(email_token::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?
        .rows_affected;
    Ok(match find(db, token, purpose).await? {
        None => Err(Refused::Invalid),
        Some(row) if taken == 1 => Ok(row),
        Some(row) => judge(row, now).and(Err(Refused::Used)),
    })
}

/// Uses up every outstanding link of these kinds of the account: a reset or a password change
/// ends every other way in that was mailed before it.
pub async fn use_up(db: &impl ConnectionTrait, user_id: i64, purposes: &[Purpose]) -> Result<u64, DbErr> {
    Ok(email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(Some(Utc::now())))
        .filter(email_token::Column::UserId.eq(user_id))
        .filter(email_token::Column::Purpose.is_in(purposes.iter().copied()))
        .filter(email_token::Column::UsedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}
