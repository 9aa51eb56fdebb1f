//! Proof that a person controls an e-mail address: the verification link after sign-up and the
//! password-reset link. A link carries a 256-bit random token; only its SHA-256 is stored, with
//! the address it was mailed to, an expiry and when it was used, so each link works once, before
//! it expires, for that address only (an unguessable single-use token checked against the
//! database is at least as strong as a signed one, and unlike a signature it can be used up).
//! Paid time bought with an address reaches an account only once the address is verified there.

use chrono::{Duration, Utc};
use entity::email_token::{self, Purpose};
use entity::user_account;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};

use crate::Config;
use crate::accounts::{self, AccountError};
use crate::role_sync::RoleGuild;
use crate::secret::Secret;
use crate::sessions::{hash_token, new_token};

pub const VERIFY_LIFETIME: Duration = Duration::hours(24);
pub const RESET_LIFETIME: Duration = Duration::hours(1);
/// At most this many mails of one kind per account within [`MAIL_WINDOW`]: asking again and
/// again must not turn us into a mail cannon aimed at someone's inbox.
pub const MAILS_PER_WINDOW: u64 = 3;
pub const MAIL_WINDOW: Duration = Duration::minutes(15);

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("this link is not valid; ask for a new one")]
    Invalid,
    #[error("this link was already used; ask for a new one if you still need it")]
    Used,
    #[error("this link has expired; ask for a new one")]
    Expired,
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A mail to send (the caller hands it to the mailer after its transaction committed).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Stores a new token for `user_id`, unless too many were issued lately (then `None`).
async fn issue(
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

/// Uses a token up: exactly one caller ever gets `Ok` for it (a conditional update decides).
async fn consume(db: &impl ConnectionTrait, token: &str, purpose: Purpose) -> Result<email_token::Model, ProofError> {
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
    let row = email_token::Entity::find()
        .filter(email_token::Column::TokenHash.eq(&hash))
        .filter(email_token::Column::Purpose.eq(purpose))
        .one(db)
        .await?
        .ok_or(ProofError::Invalid)?;
    match row {
        r if taken == 1 => Ok(r),
        r if r.used_at.is_some() => Err(ProofError::Used),
        _ => Err(ProofError::Expired),
    }
}

fn link(config: &Config, path: &str, token: &Secret<String>) -> String {
    let mut url = config.public_url.clone();
    url.set_path(path);
    url.set_query(Some(&format!("token={}", token.expose())));
    url.to_string()
}

/// The verification mail for an account (after sign-up, or "send it again"). `None` when the
/// address is already verified or too many were sent lately.
pub async fn verification_mail(
    db: &DatabaseConnection,
    config: &Config,
    user_id: i64,
) -> Result<Option<Outgoing>, ProofError> {
    let Some(account) = accounts::find(db, user_id).await? else {
        return Ok(None);
    };
    if account.email_verified {
        return Ok(None);
    }
    let Some(token) = issue(db, user_id, Purpose::Verify, &account.email, VERIFY_LIFETIME).await? else {
        return Ok(None);
    };
    Ok(Some(Outgoing {
        subject: format!("Confirm your e-mail for {}", config.app_name),
        text: format!(
            "Hello,\r\n\r\nconfirm that {} is your address, so that what you buy on {} reaches your account:\r\n\r\n{}\r\n\r\nThe link works once, within 24 hours. If you did not sign up, ignore this mail.\r\n",
            account.email,
            config.app_name,
            link(config, "/verify-email", &token)
        ),
        to: account.email,
    }))
}

/// Marks the address as verified once its owner has proved control of it (in the caller's
/// transaction), links payments made with it and claims the time they bought, and queues the
/// roles that time implies.
async fn mark_verified(
    txn: &impl ConnectionTrait,
    user_id: i64,
    email: &str,
    roles: Option<&RoleGuild>,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let newly = user_account::Entity::update_many()
        .col_expr(user_account::Column::EmailVerifiedAt, Expr::value(Some(now)))
        .filter(user_account::Column::Id.eq(user_id))
        .filter(user_account::Column::Email.eq(email))
        .filter(user_account::Column::EmailVerifiedAt.is_null())
        .exec(txn)
        .await?
        .rows_affected
        > 0;
    if newly {
        let claimed = crate::payments::processing::link_account(txn, user_id, email).await?;
        if claimed > 0
            && let Some(map) = roles
        {
            crate::role_sync::sync_user(txn, map, user_id).await?;
        }
    }
    Ok(())
}

/// Uses a verification link. Returns the verified address.
pub async fn verify(db: &DatabaseConnection, token: &str, roles: Option<&RoleGuild>) -> Result<String, ProofError> {
    let txn = crate::database::begin_write(db).await?;
    let t = consume(&txn, token, Purpose::Verify).await?;
    mark_verified(&txn, t.user_id, &t.email, roles).await?;
    txn.commit().await?;
    tracing::info!(user = t.user_id, "e-mail address verified");
    Ok(t.email)
}

/// The reset mail for an address, if an account has it (`None` otherwise, or when too many
/// were sent lately). The caller answers the same either way: no account enumeration.
pub async fn reset_mail(db: &DatabaseConnection, config: &Config, email: &str) -> Result<Option<Outgoing>, ProofError> {
    let Ok(email) = accounts::normalize_email(email) else {
        return Ok(None);
    };
    let Some(account) = accounts::find_by_email(db, &email).await? else {
        return Ok(None);
    };
    let Some(token) = issue(db, account.id, Purpose::Reset, &account.email, RESET_LIFETIME).await? else {
        return Ok(None);
    };
    Ok(Some(Outgoing {
        subject: format!("Reset your {} password", config.app_name),
        text: format!(
            "Hello,\r\n\r\nsomeone (we hope you) asked to reset the password of {} on {}. Choose a new one here:\r\n\r\n{}\r\n\r\nThe link works once, within an hour, and signs you out everywhere. If you did not ask, ignore this mail: your password stays as it is.\r\n",
            account.email,
            config.app_name,
            link(config, "/reset-password", &token)
        ),
        to: account.email,
    }))
}

/// Uses a reset link: sets the new password, ends every session of the account (open pages and
/// sockets included) and, since the link proved the address, verifies it — all in one transaction.
pub async fn reset_password(
    db: &DatabaseConnection,
    token: &str,
    new_password: Secret<String>,
    roles: Option<&RoleGuild>,
) -> Result<(), ProofError> {
    accounts::check_password_policy(new_password.expose())?;
    let hash = accounts::hash_password(new_password).await?;
    let txn = crate::database::begin_write(db).await?;
    let t = consume(&txn, token, Purpose::Reset).await?;
    user_account::Entity::update_many()
        .col_expr(user_account::Column::PasswordHash, Expr::value(hash))
        .col_expr(user_account::Column::PasswordChangedAt, Expr::value(Utc::now()))
        .filter(user_account::Column::Id.eq(t.user_id))
        .exec(&txn)
        .await?;
    crate::sessions::revoke_all_in(&txn, t.user_id).await?;
    mark_verified(&txn, t.user_id, &t.email, roles).await?;
    txn.commit().await?;
    tracing::info!(user = t.user_id, "password reset through a mailed link");
    Ok(())
}
