//! Server functions for reminders before access ends: the account's two switches, and the
//! unsubscribe link's page (which needs no sign-in: the link's token is the authority).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The account page's reminders section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderChoices {
    pub email: bool,
    pub discord: bool,
    /// Direct messages reach only a linked Discord account.
    pub discord_linked: bool,
    /// Days before the end reminders go out (empty: the operator turned reminders off).
    pub days: Vec<u32>,
}

#[server(prefix = "/rpc", endpoint = "reminders")]
pub async fn reminder_settings() -> Result<ReminderChoices, AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_user().await?;
    let unavailable = |e| crate::error::unavailable("reading reminder settings", e);
    let (email, discord) = domain::reminders::preferences(&ctx.db, me.account.id)
        .await
        .map_err(unavailable)?;
    let linked = domain::discord_link::for_user(&ctx.db, me.account.id)
        .await
        .map_err(unavailable)?
        .is_some();
    Ok(ReminderChoices {
        email,
        discord,
        discord_linked: linked,
        days: ctx.config.reminder_days.clone(),
    })
}

/// Turns one channel (`email` or `discord`) on or off for the signed-in account.
#[server(prefix = "/rpc", endpoint = "reminders/set")]
pub async fn set_reminder(channel: String, on: String) -> Result<(), AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_user().await?;
    let Some(channel) = domain::reminders::Channel::parse(channel.trim()) else {
        return crate::error::fail(AppError::invalid("channel", "choose email or discord"));
    };
    let on = match on.trim() {
        "true" => true,
        "false" => false,
        _ => return crate::error::fail(AppError::invalid("on", "choose true or false")),
    };
    domain::reminders::set_preference(&ctx.db, me.account.id, channel, on)
        .await
        .map_err(|e| crate::error::unavailable("saving a reminder setting", e))
}

/// The unsubscribe link's page posts its token here. On success the page is shown again
/// saying which reminders are now off (`?off=email|discord`), with or without wasm.
#[server(prefix = "/rpc", endpoint = "reminders/unsubscribe")]
pub async fn unsubscribe(token: String) -> Result<(), AppError> {
    let ctx = crate::error::app_context()?;
    match domain::reminders::unsubscribe(&ctx.db, &token).await {
        Ok(Some(channel)) => {
            leptos_axum::redirect(&format!("/unsubscribe?off={}", channel.as_str()));
            Ok(())
        }
        Ok(None) => {
            tracing::info!("unsubscribe link refused: unknown token");
            crate::error::fail(AppError::invalid(
                "token",
                "this link is not valid; turn reminders off on your account page instead",
            ))
        }
        Err(e) => crate::error::fail(crate::error::unavailable("unsubscribing", e)),
    }
}
