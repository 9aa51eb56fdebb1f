//! Runs a `reminder_dm` job: the reminder before a linked customer's access ends, as a direct
//! message. What to say (and whether to say anything still) is `domain::reminders::prepare`'s —
//! the same rule as the e-mail; here it is only delivered.

use domain::Config;
use domain::jobs::Claimed;
use domain::jobs::worker::Outcome;
use domain::reminders;
use sea_orm::DatabaseConnection;

use crate::discord_api::{ApiError, DiscordApi, codes};

pub async fn run(db: &DatabaseConnection, config: &Config, api: &DiscordApi, claimed: &Claimed) -> Outcome {
    let message = match reminders::message_for_job(db, config, claimed).await {
        Ok(m) => m,
        Err(outcome) => return outcome,
    };
    let Some(user) = message.discord_user_id else {
        return Outcome::Dead("a Discord reminder without a Discord user".into());
    };
    let body = serde_json::json!({
        "content": message.text,
        // A reminder pings nobody but its reader (a DM notifies them anyway).
        "allowed_mentions": {"parse": []},
    });
    let sent = match api.dm_channel(user as u64).await {
        Ok(channel) => api.create_message(channel, &body).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match sent {
        Ok(()) => {
            tracing::info!(reminder = message.reminder, channel = "discord", "reminder sent");
            Outcome::Done
        }
        // Nothing a retry can change: the customer left every server the bot is in, or closed
        // their DMs. The e-mail reminder still goes out on its own.
        Err(ApiError::Refused {
            code: codes::CANNOT_MESSAGE_USER,
            message,
            ..
        }) => Outcome::Dead(format!(
            "Discord: {message} ({}). The customer does not accept direct messages from the bot (or shares no server with it); the e-mail reminder is unaffected.",
            codes::CANNOT_MESSAGE_USER
        )),
        Err(e) => crate::role_sync::classify(e),
    }
}
