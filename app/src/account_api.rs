//! Server functions for signing up, in and out, the account page's sessions, and password changes.
//! Thin: input checks and cookies here, rules in `domain::{accounts, sessions, throttle}`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::auth::Viewer;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub user_agent: String,
    pub current: bool,
}

#[server(prefix = "/rpc", endpoint = "viewer")]
pub async fn current_viewer() -> Result<Option<Viewer>, AppError> {
    Ok(crate::auth::signed_in().await?.map(|s| Viewer {
        email: s.account.email,
        is_admin: s.account.role == domain::accounts::Role::Admin,
        email_verified: s.account.email_verified,
    }))
}

#[server(prefix = "/rpc", endpoint = "sign-up")]
pub async fn sign_up(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use domain::throttle::{self, Gate};
    let ctx = crate::error::app_context()?;
    let network = crate::auth::client_network();
    let now = chrono::Utc::now();
    let unavailable = |e| crate::error::unavailable("sign-up throttle", e);
    // Sign-up answers "taken" for a known email, so it counts against the address like a failed
    // sign-in: probing many emails from one place is limited the same way.
    let guess = match throttle::begin_address(&ctx.db, &network, now)
        .await
        .map_err(unavailable)?
    {
        Gate::Go(a) => a,
        Gate::Wait(wait) | Gate::AccountPaused(wait) => return too_many(wait),
    };
    let new_account = match throttle::begin_sign_up(&ctx.db, &network, ctx.config.sign_ups_per_address, now)
        .await
        .map_err(unavailable)?
    {
        Gate::Go(a) => a,
        Gate::Wait(wait) | Gate::AccountPaused(wait) => {
            throttle::release(&ctx.db, guess).await.map_err(unavailable)?;
            tracing::warn!(client = %network, "sign-up refused: too many accounts from this address");
            return too_many(wait);
        }
    };
    let account = match domain::accounts::sign_up(&ctx.db, &email, domain::Secret::new(password)).await {
        Ok(a) => a,
        // The taken address stays counted against the client; no account was made.
        Err(e @ domain::accounts::AccountError::EmailTaken) => {
            throttle::release(&ctx.db, new_account).await.map_err(unavailable)?;
            return crate::error::fail(e.into());
        }
        Err(e) => {
            throttle::release(&ctx.db, new_account).await.map_err(unavailable)?;
            throttle::release(&ctx.db, guess).await.map_err(unavailable)?;
            return crate::error::fail(e.into());
        }
    };
    // A made account is no failed guess; it stays counted as a sign-up.
    throttle::release(&ctx.db, guess).await.map_err(unavailable)?;
    tracing::info!(user = %account.pid, "account created");
    send_verification(&ctx, account.id).await?;
    start_session(&ctx, account.id).await?;
    leptos_axum::redirect(&crate::auth::safe_next(next.as_deref().unwrap_or("/account")));
    Ok(())
}

#[cfg(feature = "ssr")]
fn too_many<T>(wait: std::time::Duration) -> Result<T, AppError> {
    crate::error::fail(AppError::TooManyAttempts {
        retry_after_secs: wait.as_secs().max(1),
    })
}

/// Starts a password guess for `email` from this client, or refuses it at once: never a wait
/// inside the request (see `domain::throttle`). `Err(paused)` when the account's budget of
/// wrong passwords is spent.
#[cfg(feature = "ssr")]
async fn guess(
    ctx: &domain::AppContext,
    account_key: &str,
) -> Result<Result<domain::throttle::Attempt, std::time::Duration>, AppError> {
    use domain::throttle::{self, Gate};
    let network = crate::auth::client_network();
    match throttle::begin_guess(&ctx.db, account_key, &network, chrono::Utc::now())
        .await
        .map_err(|e| crate::error::unavailable("sign-in throttle", e))?
    {
        Gate::Go(attempt) => Ok(Ok(attempt)),
        Gate::Wait(wait) => {
            tracing::warn!(client = %network, "password guess refused: too many failures from this address");
            too_many(wait)
        }
        Gate::AccountPaused(wait) => Ok(Err(wait)),
    }
}

/// The key an account's failures are counted under: its normalised address (or the input as
/// typed, for something that is no address, so it is counted all the same).
#[cfg(feature = "ssr")]
fn account_key(email: &str) -> String {
    domain::accounts::normalize_email(email).unwrap_or_else(|_| email.trim().to_lowercase())
}

#[server(prefix = "/rpc", endpoint = "sign-in")]
pub async fn sign_in(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use domain::throttle;
    let ctx = crate::error::app_context()?;
    if email.trim().is_empty() {
        return crate::error::fail(AppError::invalid("email", "enter your email address"));
    }
    if password.is_empty() {
        return crate::error::fail(AppError::invalid("password", "enter your password"));
    }
    let key = account_key(&email);
    let attempt = match guess(&ctx, &key).await? {
        Ok(attempt) => attempt,
        Err(wait) => {
            // Nobody's password is checked now; the owner's mailbox still lets them in.
            tracing::warn!(client = %crate::auth::client_ip(), "sign-in refused: the account's budget of wrong passwords is spent");
            if let Some(m) = domain::email_proof::sign_in_mail(&ctx.db, &ctx.config, &key).await? {
                ctx.mailer.send_later(m.to, m.subject, m.text);
            }
            return crate::error::fail(AppError::SignInPaused {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
    };
    // Over-long input cannot be a valid password; it still costs one verification (no timing tell).
    let password: String = password
        .chars()
        .take(domain::accounts::PASSWORD_MAX_CHARS + 1)
        .collect();
    let unavailable = |e| crate::error::unavailable("sign-in throttle", e);
    match domain::accounts::authenticate(&ctx.db, &email, domain::Secret::new(password)).await {
        Ok(account) => {
            throttle::succeeded(&ctx.db, attempt, &key, &crate::auth::client_network())
                .await
                .map_err(unavailable)?;
            start_session(&ctx, account.id).await?;
            leptos_axum::redirect(&crate::auth::safe_next(next.as_deref().unwrap_or("/account")));
            Ok(())
        }
        Err(domain::accounts::AccountError::InvalidCredentials) => {
            tracing::info!(client = %crate::auth::client_ip(), "sign-in failed");
            crate::error::fail(AppError::InvalidCredentials)
        }
        Err(e) => {
            throttle::release(&ctx.db, attempt).await.map_err(unavailable)?;
            crate::error::fail(e.into())
        }
    }
}

/// Mails the account its verification link (in the background: the page answers at once).
#[cfg(feature = "ssr")]
async fn send_verification(ctx: &domain::AppContext, user_id: i64) -> Result<bool, AppError> {
    let mail = domain::email_proof::verification_mail(&ctx.db, &ctx.config, user_id).await?;
    Ok(match mail {
        Some(m) => {
            ctx.mailer.send_later(m.to, m.subject, m.text);
            true
        }
        None => false,
    })
}

/// "Send the link again" on `/account`. False when nothing was sent (already verified, or
/// several links were sent in the last minutes).
#[server(prefix = "/rpc", endpoint = "email/resend")]
pub async fn resend_verification() -> Result<bool, AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_user().await?;
    send_verification(&ctx, me.account.id).await
}

/// Which account a mailed link acts on, shown on its page before the button is pressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkOwnerView {
    pub email: String,
    /// When the account was made (RFC 3339).
    pub created_at: String,
}

/// The account behind a verification (`purpose` = `verify`) or sign-in (`signin`) link, without
/// using it: the link's page names the account before anyone confirms anything.
#[server(prefix = "/rpc", endpoint = "email/link-owner")]
pub async fn link_owner(token: String, purpose: String) -> Result<LinkOwnerView, AppError> {
    use entity::email_token::Purpose;
    let ctx = crate::error::app_context()?;
    let purpose = match purpose.as_str() {
        "verify" => Purpose::Verify,
        "signin" => Purpose::SignIn,
        _ => return crate::error::fail(AppError::invalid("purpose", "verify or signin")),
    };
    match domain::email_proof::link_for(&ctx.db, &token, purpose).await {
        Ok(l) => Ok(LinkOwnerView {
            email: l.email,
            created_at: l.account_created.to_rfc3339(),
        }),
        Err(e) => crate::error::fail(e.into()),
    }
}

/// The verification link's page posts its token here ("Confirm, this is me"): the address is
/// proven, what was made before (sessions, a Discord link) ends, and this browser is signed in.
#[server(prefix = "/rpc", endpoint = "email/verify")]
pub async fn verify_email(token: String) -> Result<(), AppError> {
    let ctx = crate::error::app_context()?;
    let roles = domain::role_sync::RoleGuild::from_config(&ctx.config);
    let proven = match domain::email_proof::verify(&ctx.db, &token, roles.as_ref()).await {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "verification link refused");
            return crate::error::fail(e.into());
        }
    };
    start_session(&ctx, proven.user_id).await?;
    leptos_axum::redirect("/account?verified=1");
    Ok(())
}

/// "This wasn't me" on the verification link's page: the unverified account is deleted.
#[server(prefix = "/rpc", endpoint = "email/not-me")]
pub async fn not_me(token: String) -> Result<(), AppError> {
    let ctx = crate::error::app_context()?;
    let roles = domain::role_sync::RoleGuild::from_config(&ctx.config);
    if let Err(e) = domain::email_proof::not_me(&ctx.db, &token, roles.as_ref()).await {
        tracing::info!(error = %e, "account deletion from a verification link refused");
        return crate::error::fail(e.into());
    }
    crate::auth::clear_session_cookie();
    leptos_axum::redirect("/verify-email?deleted=1");
    Ok(())
}

/// The one-time sign-in link's page posts its token here.
#[server(prefix = "/rpc", endpoint = "sign-in/link")]
pub async fn sign_in_with_link(token: String) -> Result<(), AppError> {
    let ctx = crate::error::app_context()?;
    let roles = domain::role_sync::RoleGuild::from_config(&ctx.config);
    let proven = match domain::email_proof::sign_in_with_link(&ctx.db, &token, roles.as_ref()).await {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "sign-in link refused");
            return crate::error::fail(e.into());
        }
    };
    start_session(&ctx, proven.user_id).await?;
    leptos_axum::redirect("/account");
    Ok(())
}

/// "Forgot your password?": the same answer whether or not an account has this address.
#[server(prefix = "/rpc", endpoint = "password/forgot")]
pub async fn request_password_reset(email: String) -> Result<(), AppError> {
    let ctx = crate::error::app_context()?;
    if domain::accounts::normalize_email(&email).is_err() {
        return crate::error::fail(AppError::invalid(
            "email",
            "enter a valid email address, like name@example.com",
        ));
    }
    // Each request counts against the address like a failed sign-in: asking for many accounts'
    // resets from one place is limited the same way.
    let gate = domain::throttle::begin_address(&ctx.db, &crate::auth::client_network(), chrono::Utc::now())
        .await
        .map_err(|e| crate::error::unavailable("reset throttle", e))?;
    if let domain::throttle::Gate::Wait(wait) | domain::throttle::Gate::AccountPaused(wait) = gate {
        return too_many(wait);
    }
    if let Some(m) = domain::email_proof::reset_mail(&ctx.db, &ctx.config, &email).await? {
        ctx.mailer.send_later(m.to, m.subject, m.text);
    }
    Ok(())
}

/// The reset link's page posts the token and the new password here. Each try counts against
/// the client's network like a failed sign-in until the token proves right, and the token is
/// checked before the new password is hashed: a flood of made-up tokens costs database reads,
/// never argon2.
#[server(prefix = "/rpc", endpoint = "password/reset")]
pub async fn reset_password(token: String, new_password: String) -> Result<(), AppError> {
    use domain::accounts::AccountError;
    use domain::email_proof::ProofError;
    use domain::throttle::{self, Gate};
    let ctx = crate::error::app_context()?;
    let unavailable = |e| crate::error::unavailable("reset throttle", e);
    let attempt = match throttle::begin_address(&ctx.db, &crate::auth::client_network(), chrono::Utc::now())
        .await
        .map_err(unavailable)?
    {
        Gate::Go(a) => a,
        Gate::Wait(wait) | Gate::AccountPaused(wait) => return too_many(wait),
    };
    let roles = domain::role_sync::RoleGuild::from_config(&ctx.config);
    match domain::email_proof::reset_password(&ctx.db, &token, domain::Secret::new(new_password), roles.as_ref()).await
    {
        Ok(()) => throttle::release(&ctx.db, attempt).await.map_err(unavailable)?,
        // A wrong link stays counted as a failed guess.
        Err(e @ ProofError::Refused(_)) => return crate::error::fail(e.into()),
        Err(ProofError::Account(e @ (AccountError::PasswordTooShort | AccountError::PasswordTooLong))) => {
            throttle::release(&ctx.db, attempt).await.map_err(unavailable)?;
            return crate::error::fail(AppError::invalid("new_password", e.to_string()));
        }
        Err(e) => {
            throttle::release(&ctx.db, attempt).await.map_err(unavailable)?;
            return crate::error::fail(e.into());
        }
    }
    crate::auth::clear_session_cookie();
    leptos_axum::redirect("/login?reset=1");
    Ok(())
}

/// A fresh token at every sign-in (never reuse one the browser had before).
#[cfg(feature = "ssr")]
async fn start_session(ctx: &domain::AppContext, user_id: i64) -> Result<(), AppError> {
    let (token, _) = domain::sessions::start(&ctx.db, user_id, &crate::auth::user_agent())
        .await
        .map_err(|e| crate::error::unavailable("starting session", e))?;
    crate::auth::set_session_cookie(token.expose());
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "sign-out")]
pub async fn sign_out() -> Result<(), AppError> {
    let ctx = crate::error::app_context()?;
    if let Some(token) = crate::auth::session_token() {
        domain::sessions::revoke_token(&ctx.db, &token)
            .await
            .map_err(|e| crate::error::unavailable("sign-out", e))?;
    }
    crate::auth::clear_session_cookie();
    leptos_axum::redirect("/");
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "sessions")]
pub async fn list_sessions() -> Result<Vec<SessionView>, AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_user().await?;
    let sessions = domain::sessions::list_live(&ctx.db, me.account.id)
        .await
        .map_err(|e| crate::error::unavailable("listing sessions", e))?;
    Ok(sessions
        .into_iter()
        .map(|s| SessionView {
            current: s.id == me.session.id,
            id: s.pid,
            created_at: s.created_at.to_rfc3339(),
            last_seen_at: s.last_seen_at.to_rfc3339(),
            user_agent: s.user_agent,
        })
        .collect())
}

#[server(prefix = "/rpc", endpoint = "sessions/revoke")]
pub async fn revoke_session(id: String) -> Result<(), AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_user().await?;
    let revoked = domain::sessions::revoke(&ctx.db, me.account.id, &id)
        .await
        .map_err(|e| crate::error::unavailable("revoke", e))?;
    if !revoked {
        return crate::error::fail(AppError::NotFound);
    }
    if id == me.session.pid {
        crate::auth::clear_session_cookie();
    }
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "sessions/revoke-others")]
pub async fn revoke_other_sessions() -> Result<u64, AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_user().await?;
    domain::sessions::revoke_others(&ctx.db, me.account.id, me.session.id)
        .await
        .map_err(|e| crate::error::unavailable("revoke others", e))
}

/// Changing the password ends every other session: whoever else had it is signed out.
#[server(prefix = "/rpc", endpoint = "password")]
pub async fn change_password(current_password: String, new_password: String) -> Result<(), AppError> {
    use domain::accounts::AccountError;
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_user().await?;
    if current_password.is_empty() {
        return crate::error::fail(AppError::invalid("current_password", "enter your current password"));
    }
    // Whoever holds a session could otherwise guess the password at full speed here.
    let attempt = match guess(&ctx, &me.account.email).await? {
        Ok(attempt) => attempt,
        Err(wait) => return too_many(wait),
    };
    let result = domain::accounts::change_password(
        &ctx.db,
        me.account.id,
        me.session.id,
        domain::Secret::new(current_password),
        domain::Secret::new(new_password),
    )
    .await;
    let unavailable = |e| crate::error::unavailable("password change throttle", e);
    match result {
        Ok(()) => {
            domain::throttle::succeeded(&ctx.db, attempt, &me.account.email, &crate::auth::client_network())
                .await
                .map_err(unavailable)?;
            Ok(())
        }
        // A wrong current password stays counted as a failed guess.
        Err(e @ AccountError::WrongCurrentPassword) => crate::error::fail(e.into()),
        // The policy error is about the new password here, not the generic "password" field.
        Err(e @ (AccountError::PasswordTooShort | AccountError::PasswordTooLong)) => {
            domain::throttle::release(&ctx.db, attempt).await.map_err(unavailable)?;
            crate::error::fail(AppError::invalid("new_password", e.to_string()))
        }
        Err(e) => {
            domain::throttle::release(&ctx.db, attempt).await.map_err(unavailable)?;
            crate::error::fail(e.into())
        }
    }
}

/// The account page's Discord panel: whether linking is on, and the linked account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscordLinkView {
    pub configured: bool,
    pub linked: Option<String>,
    /// Linking needs a proven address (whoever registered someone else's address could link
    /// their own Discord account to what the owner later buys).
    pub email_verified: bool,
}

#[server(prefix = "/rpc", endpoint = "discord/status")]
pub async fn discord_status() -> Result<DiscordLinkView, AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_user().await?;
    let link = domain::discord_link::for_user(&ctx.db, me.account.id)
        .await
        .map_err(|e| crate::error::unavailable("reading the Discord link", e))?;
    Ok(DiscordLinkView {
        configured: ctx.config.discord_oauth.is_some(),
        linked: link.map(|l| l.username),
        email_verified: me.account.email_verified,
    })
}
