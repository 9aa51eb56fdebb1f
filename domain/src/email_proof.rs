//! Proof that a person controls an e-mail address: the verification link after sign-up, the
//! password-reset link and the one-time sign-in link (`mailed_links` keeps the tokens).
//! Paid and given time for an address reaches an account only once the address is proven there.
//!
//! A proof ends what was made before it: every session of the account is signed out and its
//! Discord link dropped (whoever registered someone else's address first could have made both),
//! the other reset and sign-in links die, and the timeline says so. The person proving it gets a
//! fresh session (verification, sign-in link) or signs in with the new password (reset).
//! Someone who never made the account can delete it from the verification mail while it is
//! still unverified ("this wasn't me").

use chrono::{DateTime, Duration, Utc};
use entity::email_token::Purpose;
use entity::{alert_setting, email_token, entitlement_grant, payment_customer, user_account};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::Config;
use crate::accounts::{self, AccountError};
use crate::entitlements::{Change, ChangeCause};
use crate::mailed_links::{self, Refused};
use crate::role_sync::RoleGuild;
use crate::secret::Secret;

pub use crate::mailed_links::{MAIL_WINDOW, MAILS_PER_WINDOW};

pub const VERIFY_LIFETIME: Duration = Duration::hours(24);
pub const RESET_LIFETIME: Duration = Duration::hours(1);
pub const SIGN_IN_LIFETIME: Duration = Duration::minutes(15);

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("this address was already confirmed, so the account stays; if it is not yours, reset its password")]
    AlreadyVerified,
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

/// What a link is for, shown before it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFor {
    pub email: String,
    /// When the account was made.
    pub account_created: DateTime<Utc>,
}

/// An account that just proved its address: the caller starts its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proven {
    pub user_id: i64,
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
    let Some(token) = mailed_links::issue(db, user_id, Purpose::Verify, &account.email, VERIFY_LIFETIME).await? else {
        return Ok(None);
    };
    Ok(Some(Outgoing {
        subject: format!("Confirm your e-mail for {}", config.app_name),
        text: format!(
            "Hello,\r\n\r\nconfirm that {} is your address, so that what you buy on {} reaches your account:\r\n\r\n{}\r\n\r\nThe link works once, within 24 hours. If you did not sign up, open it and choose \"This wasn't me\": the account is deleted.\r\n",
            account.email,
            config.app_name,
            link(config, "/verify-email", &token)
        ),
        to: account.email,
    }))
}

/// The account a link of `purpose` would act on, without using the link.
pub async fn link_for(db: &DatabaseConnection, token: &str, purpose: Purpose) -> Result<LinkFor, ProofError> {
    let t = mailed_links::check(db, token, purpose).await??;
    let account = user_account::Entity::find_by_id(t.user_id)
        .one(db)
        .await?
        .ok_or(Refused::Invalid)?;
    Ok(LinkFor {
        email: t.email,
        account_created: account.created_at,
    })
}

/// What a proof undoes and records, in the caller's transaction: marks the address verified
/// (claiming the time that waited for it), signs out every session, drops the Discord link
/// (queueing its roles' removal), uses up the other reset and sign-in links, and writes the
/// timeline line. `how` says which link proved it.
async fn prove(
    txn: &impl ConnectionTrait,
    user_id: i64,
    email: &str,
    roles: Option<&RoleGuild>,
    how: &str,
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
    let sessions = crate::sessions::revoke_all_in(txn, user_id).await?;
    let discord = crate::discord_link::unlink_in(txn, roles, user_id).await?;
    mailed_links::use_up(txn, user_id, &[Purpose::Reset, Purpose::SignIn]).await?;
    let mut detail = format!("address proven by {how}; {sessions} earlier session(s) signed out");
    if let Some(d) = &discord {
        detail.push_str(&format!("; Discord account {} unlinked", d.username));
    }
    crate::entitlements::note(
        txn,
        Change {
            user_id: Some(user_id),
            email,
            grant_id: None,
            kind: "proven",
            cause: ChangeCause::Proof,
            actor: None,
            detail,
        },
    )
    .await?;
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

/// Uses a verification link ("Confirm, this is me").
pub async fn verify(db: &DatabaseConnection, token: &str, roles: Option<&RoleGuild>) -> Result<Proven, ProofError> {
    let txn = crate::database::begin_write(db).await?;
    let t = mailed_links::consume(&txn, token, Purpose::Verify).await??;
    prove(&txn, t.user_id, &t.email, roles, "its verification link").await?;
    txn.commit().await?;
    tracing::info!(user = t.user_id, "e-mail address verified");
    Ok(Proven { user_id: t.user_id })
}

/// "This wasn't me" on a verification link: the address's owner never made this account, so
/// it goes (while still unverified): its sessions end, its Discord link and roles go, anything
/// granted to it waits under the address again. Its timeline stays, under the address.
pub async fn not_me(db: &DatabaseConnection, token: &str, roles: Option<&RoleGuild>) -> Result<String, ProofError> {
    let txn = crate::database::begin_write(db).await?;
    let t = mailed_links::consume(&txn, token, Purpose::Verify).await??;
    let Some(account) = user_account::Entity::find_by_id(t.user_id).one(&txn).await? else {
        return Err(Refused::Invalid.into());
    };
    if account.email_verified_at.is_some() {
        return Err(ProofError::AlreadyVerified);
    }
    let user = account.id;
    crate::sessions::revoke_all_in(&txn, user).await?;
    crate::discord_link::unlink_in(&txn, roles, user).await?;
    entitlement_grant::Entity::update_many()
        .col_expr(entitlement_grant::Column::UserId, Expr::value(Option::<i64>::None))
        .filter(entitlement_grant::Column::UserId.eq(user))
        .exec(&txn)
        .await?;
    payment_customer::Entity::update_many()
        .col_expr(payment_customer::Column::UserId, Expr::value(Option::<i64>::None))
        .filter(payment_customer::Column::UserId.eq(user))
        .exec(&txn)
        .await?;
    email_token::Entity::delete_many()
        .filter(email_token::Column::UserId.eq(user))
        .exec(&txn)
        .await?;
    alert_setting::Entity::delete_many()
        .filter(alert_setting::Column::UserId.eq(user))
        .exec(&txn)
        .await?;
    crate::entitlements::note(
        &txn,
        Change {
            user_id: None,
            email: &account.email,
            grant_id: None,
            kind: "deleted",
            cause: ChangeCause::Proof,
            actor: None,
            detail: "the address's owner said they never made this account; it was deleted".into(),
        },
    )
    .await?;
    // Sessions and reminders go with the account (their foreign keys cascade).
    user_account::Entity::delete_by_id(user).exec(&txn).await?;
    txn.commit().await?;
    tracing::info!(user, "unverified account deleted by the address's owner");
    Ok(account.email)
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
    let Some(token) = mailed_links::issue(db, account.id, Purpose::Reset, &account.email, RESET_LIFETIME).await? else {
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

/// Whether a reset link would be taken now; callers check it before any expensive work (a
/// wrong token must cost an attacker a database read, never an argon2 hash).
pub async fn check_reset_link(db: &DatabaseConnection, token: &str) -> Result<(), ProofError> {
    mailed_links::check(db, token, Purpose::Reset).await??;
    Ok(())
}

/// Uses a reset link: sets the new password and, since the link proved the address, does what a
/// proof does (every session out, the Discord link dropped, every other link used up) — all in
/// one transaction. The token is checked before the new password is hashed.
pub async fn reset_password(
    db: &DatabaseConnection,
    token: &str,
    new_password: Secret<String>,
    roles: Option<&RoleGuild>,
) -> Result<(), ProofError> {
    check_reset_link(db, token).await?;
    accounts::check_password_policy(new_password.expose())?;
    let hash = accounts::hash_password(new_password).await?;
    let txn = crate::database::begin_write(db).await?;
    let t = mailed_links::consume(&txn, token, Purpose::Reset).await??;
    user_account::Entity::update_many()
        .col_expr(user_account::Column::PasswordHash, Expr::value(hash))
        .col_expr(user_account::Column::PasswordChangedAt, Expr::value(Utc::now()))
        .filter(user_account::Column::Id.eq(t.user_id))
        .exec(&txn)
        .await?;
    prove(&txn, t.user_id, &t.email, roles, "a password reset").await?;
    txn.commit().await?;
    tracing::info!(user = t.user_id, "password reset through a mailed link");
    Ok(())
}

/// The one-time sign-in mail for `email`'s account (when its budget of wrong passwords is
/// spent), or `None` (no such account, or too many sent lately).
pub async fn sign_in_mail(
    db: &DatabaseConnection,
    config: &Config,
    email: &str,
) -> Result<Option<Outgoing>, ProofError> {
    let Ok(email) = accounts::normalize_email(email) else {
        return Ok(None);
    };
    let Some(account) = accounts::find_by_email(db, &email).await? else {
        return Ok(None);
    };
    let Some(token) = mailed_links::issue(db, account.id, Purpose::SignIn, &account.email, SIGN_IN_LIFETIME).await?
    else {
        return Ok(None);
    };
    Ok(Some(Outgoing {
        subject: format!("Your {} sign-in link", config.app_name),
        text: format!(
            "Hello,\r\n\r\nsomeone tried many wrong passwords for {} on {}, so signing in with a password is paused for a while. If you are trying to sign in, this link signs you in:\r\n\r\n{}\r\n\r\nIt works once, within 15 minutes. If it was not you, ignore this mail: nobody gets in without it or your password.\r\n",
            account.email,
            config.app_name,
            link(config, "/sign-in-link", &token)
        ),
        to: account.email,
    }))
}

/// Uses a sign-in link: the other sign-in links die with it. On an unverified account the link
/// is also its proof (see [`prove`]).
pub async fn sign_in_with_link(
    db: &DatabaseConnection,
    token: &str,
    roles: Option<&RoleGuild>,
) -> Result<Proven, ProofError> {
    let txn = crate::database::begin_write(db).await?;
    let t = mailed_links::consume(&txn, token, Purpose::SignIn).await??;
    let verified = user_account::Entity::find_by_id(t.user_id)
        .one(&txn)
        .await?
        .ok_or(Refused::Invalid)?
        .email_verified_at
        .is_some();
    if verified {
        mailed_links::use_up(&txn, t.user_id, &[Purpose::SignIn]).await?;
    } else {
        prove(&txn, t.user_id, &t.email, roles, "a sign-in link").await?;
    }
    txn.commit().await?;
    tracing::info!(user = t.user_id, "signed in through a mailed link");
    Ok(Proven { user_id: t.user_id })
}
