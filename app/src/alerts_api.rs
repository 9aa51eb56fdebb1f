//! A customer's alert settings (`domain::alerts`): read with the dashboard's panel, saved when
//! they change a switch. Only the signed-in customer's own settings, and only channels their
//! tier opens can be picked.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertView {
    pub notify: bool,
    pub sound: bool,
    /// Channel ids (as text); empty: every channel.
    #[serde(default)]
    pub channels: Vec<String>,
}

#[server(prefix = "/rpc", endpoint = "alerts")]
pub async fn alert_settings() -> Result<AlertView, AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_user().await?;
    let s = domain::alerts::get(&ctx.db, me.account.id)
        .await
        .map_err(|e| crate::error::unavailable("reading alert settings", e))?;
    Ok(view_of(&s))
}

#[cfg(feature = "ssr")]
fn view_of(s: &domain::alerts::AlertSettings) -> AlertView {
    AlertView {
        notify: s.notify,
        sound: s.sound,
        channels: s.channels.iter().map(i64::to_string).collect(),
    }
}

#[server(prefix = "/rpc", endpoint = "alerts/save")]
pub async fn save_alert_settings(settings: AlertView) -> Result<AlertView, AppError> {
    let ctx = crate::error::app_context()?;
    let me = crate::auth::require_user().await?;
    if settings.channels.len() > domain::alerts::CHANNELS_MAX {
        return Err(AppError::invalid("channels", "Pick fewer channels."));
    }
    let rank = domain::entitlements::access_at(&ctx.db, me.account.id, chrono::Utc::now())
        .await
        .map_err(|e| crate::error::unavailable("reading access", e))?
        .map(|a| a.tier.rank);
    let readable: Vec<i64> = match rank {
        Some(rank) => domain::feed::view::readable_channels(&ctx.db, rank)
            .await
            .map_err(|e| crate::error::unavailable("reading channels", e))?
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
        None => Vec::new(),
    };
    let mut channels = Vec::new();
    for c in &settings.channels {
        match c.parse::<i64>() {
            Ok(id) if readable.contains(&id) => channels.push(id),
            _ => return Err(AppError::invalid("channels", "Pick channels from the list.")),
        }
    }
    let saved = domain::alerts::AlertSettings {
        notify: settings.notify,
        sound: settings.sound,
        channels,
    };
    domain::alerts::save(&ctx.db, me.account.id, &saved)
        .await
        .map_err(|e| crate::error::unavailable("saving alert settings", e))?;
    Ok(view_of(&saved))
}
