//! Reminders before access ends: the cheapest renewal there is.
//!
//! The rule: for a customer whose access ends at `end`, with reminder offsets `days` (e.g. 7
//! and 1), the reminder due at `now` is the one with the *smallest* offset whose moment
//! (`end - offset days`) has passed while `end` has not. Only that one is sent: a customer who
//! buys five days before the end gets the 1-day reminder, not a late 7-day one followed by it.
//!
//! Once only: each (account, end, offset, channel) is claimed by inserting a row with that
//! unique key, and the job that sends it is queued in the same transaction — so however many
//! processes scan, and however often they restart, one of them queues it, once; and a claimed
//! reminder is never lost to a crash (the job queue retries it). A renewal moves `end`, which
//! makes the next reminders due again for the new end; a job that finds the end moved (renewed,
//! refunded) or the channel turned off sends nothing.
//!
//! Channels: e-mail (the server's mailer, with RFC 8058 one-click unsubscribe headers) and a
//! Discord direct message from the bot for linked customers. Each message carries its own
//! unsubscribe link (a random token; only its SHA-256 is kept on the reminder), which turns that
//! channel off without signing in; `/account` has both switches.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use entity::{discord_link, reminder, user_account};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set, TryInsertResult,
};
use serde::{Deserialize, Serialize};

use crate::Config;
use crate::jobs::worker::Outcome;
use crate::jobs::{self, Claimed, JobKind};
use crate::sessions::{hash_token, new_token};

/// Where a mail client's one-click unsubscribe posts (the server's route).
pub const ONE_CLICK_PATH: &str = "/unsubscribe/one-click";

/// How often each server process looks for reminders that came due.
pub const SCAN_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// How a reminder reaches the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Discord,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Discord => "discord",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "email" => Some(Channel::Email),
            "discord" => Some(Channel::Discord),
            _ => None,
        }
    }

    /// The job that sends a reminder by this channel (the server mails, the bot sends DMs).
    pub fn job_kind(self) -> JobKind {
        match self {
            Channel::Email => JobKind::ReminderMail,
            Channel::Discord => JobKind::ReminderDm,
        }
    }

    /// Whether `account` wants reminders by this channel.
    fn is_on_for(self, account: &user_account::Model) -> bool {
        match self {
            Channel::Email => account.remind_by_email,
            Channel::Discord => account.remind_by_discord,
        }
    }

    fn switch(self) -> user_account::Column {
        match self {
            Channel::Email => user_account::Column::RemindByEmail,
            Channel::Discord => user_account::Column::RemindByDiscord,
        }
    }
}

/// A reminder job's payload: the claimed reminder row.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ReminderJob {
    pub reminder: i64,
}

/// Claims the reminder `days_before` the access end `end` of `user` by `channel`: its id for
/// the one caller that should send it (the row is new), `None` for every other process and
/// every later run.
pub async fn claim(
    db: &impl ConnectionTrait,
    user: i64,
    end: DateTime<Utc>,
    days_before: u32,
    channel: Channel,
) -> Result<Option<i64>, DbErr> {
    let inserted = reminder::Entity::insert(reminder::ActiveModel {
        user_id: Set(user),
        access_end: Set(end),
        days_before: Set(days_before as i32),
        channel: Set(channel.as_str().to_owned()),
        sent_at: Set(Utc::now()),
        unsubscribe_hash: Set(None),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            reminder::Column::UserId,
            reminder::Column::AccessEnd,
            reminder::Column::DaysBefore,
            reminder::Column::Channel,
        ])
        .do_nothing()
        .to_owned(),
    )
    // `RETURNING id` answers the insert itself: an id only when this call made the row.
    .try_insert()
    .exec(db)
    .await?;
    Ok(match inserted {
        TryInsertResult::Inserted(r) => Some(r.last_insert_id),
        TryInsertResult::Conflicted | TryInsertResult::Empty => None,
    })
}

/// Claims and queues every reminder due at `now` that no process has claimed yet; returns how
/// many were queued. Two reads find them (customers whose access ends within the largest
/// offset, and the reminders already claimed for those ends), so a scan writes only for what
/// is new.
pub async fn queue_due(db: &DatabaseConnection, days: &[u32], now: DateTime<Utc>) -> Result<usize, DbErr> {
    let Some(furthest) = days.iter().max() else {
        return Ok(0);
    };
    let customers = user_account::Entity::find()
        .filter(user_account::Column::AccessEndsAt.gt(now))
        .filter(user_account::Column::AccessEndsAt.lte(now + Duration::days(i64::from(*furthest))))
        .filter(
            Condition::any()
                .add(user_account::Column::RemindByEmail.eq(true))
                .add(user_account::Column::RemindByDiscord.eq(true)),
        )
        .all(db)
        .await?;
    let ids: Vec<i64> = customers.iter().map(|c| c.id).collect();
    let mut linked = HashSet::new();
    let mut claimed = HashSet::new();
    for chunk in ids.chunks(crate::database::IN_LIST) {
        linked.extend(
            discord_link::Entity::find()
                .filter(discord_link::Column::UserId.is_in(chunk.iter().copied()))
                .all(db)
                .await?
                .into_iter()
                .map(|l| l.user_id),
        );
        claimed.extend(
            reminder::Entity::find()
                .filter(reminder::Column::UserId.is_in(chunk.iter().copied()))
                .filter(reminder::Column::AccessEnd.gt(now))
                .all(db)
                .await?
                .into_iter()
                .map(|r| (r.user_id, r.access_end, r.days_before, r.channel)),
        );
    }
    let mut queued = 0;
    for customer in customers {
        let Some(end) = customer.access_ends_at else { continue };
        let Some(days_before) = due(end, now, days) else {
            continue;
        };
        let reachable = |c: &Channel| *c == Channel::Email || linked.contains(&customer.id);
        for channel in [Channel::Email, Channel::Discord]
            .into_iter()
            .filter(|c| c.is_on_for(&customer) && reachable(c))
        {
            let key = (customer.id, end, days_before as i32, channel.as_str().to_owned());
            if claimed.contains(&key) {
                continue;
            }
            let txn = crate::database::begin_write(db).await?;
            if let Some(id) = claim(&txn, customer.id, end, days_before, channel).await? {
                let payload = serde_json::to_value(ReminderJob { reminder: id }).expect("a reminder job serialises");
                // Sent at once, whatever moment the scan judged due-ness at.
                let at = Utc::now();
                jobs::enqueue(&txn, channel.job_kind(), Some(&format!("reminder:{id}")), &payload, at).await?;
                queued += 1;
            }
            txn.commit().await?;
        }
    }
    Ok(queued)
}

/// One reminder, ready to send.
#[derive(Debug, Clone)]
pub struct Message {
    /// The reminder row (for the sender's log).
    pub reminder: i64,
    pub channel: Channel,
    /// The account's address (e-mail) …
    pub email: String,
    /// … or the linked Discord user (direct message).
    pub discord_user_id: Option<i64>,
    pub subject: String,
    pub text: String,
    /// The link in the text: a page whose button turns this channel's reminders off.
    pub unsubscribe_url: String,
    /// Where a mail client's own unsubscribe button posts (RFC 8058), the same token.
    pub one_click_url: String,
}

/// What a reminder job should do.
#[derive(Debug, Clone)]
pub enum Prepared {
    Send(Message),
    /// Nothing to send, and why (for the job's log).
    Skip(&'static str),
}

/// The start every reminder job shares (the server's mail, the bot's DM): read its payload and
/// `prepare` it. `Err` is what the job ends with instead of sending: done when there is nothing
/// to send, dead for an unreadable payload, retried when the database failed.
pub async fn message_for_job(db: &DatabaseConnection, config: &Config, job: &Claimed) -> Result<Message, Outcome> {
    let payload: ReminderJob =
        serde_json::from_str(&job.job.payload).map_err(|e| Outcome::Dead(format!("unreadable reminder job: {e}")))?;
    match prepare(db, config, payload.reminder, Utc::now()).await {
        Ok(Prepared::Send(m)) => Ok(m),
        Ok(Prepared::Skip(why)) => {
            tracing::info!(reminder = payload.reminder, why, "reminder not sent");
            Err(Outcome::Done)
        }
        Err(e) => Err(Outcome::Retry {
            error: format!("database: {e}"),
            after: None,
        }),
    }
}

/// Reads a claimed reminder and decides, as of `now`, whether it still has a reason to go out;
/// if it has, gives it a fresh unsubscribe token (each attempt's own, so a mail that was never
/// delivered leaves no working link behind) and writes its text.
pub async fn prepare(db: &DatabaseConnection, config: &Config, id: i64, now: DateTime<Utc>) -> Result<Prepared, DbErr> {
    let Some(row) = reminder::Entity::find_by_id(id).one(db).await? else {
        return Ok(Prepared::Skip("the reminder is gone (its account was deleted)"));
    };
    let Some(channel) = Channel::parse(&row.channel) else {
        return Ok(Prepared::Skip("unknown reminder channel"));
    };
    let Some(customer) = user_account::Entity::find_by_id(row.user_id).one(db).await? else {
        return Ok(Prepared::Skip("the account is gone"));
    };
    // Stored ends are the same value read back, but allow for a backend's sub-second rounding.
    let same_end = customer
        .access_ends_at
        .is_some_and(|end| (end - row.access_end).num_seconds().abs() < 1);
    if !same_end {
        return Ok(Prepared::Skip("the access end moved since (renewed or taken back)"));
    }
    if now >= row.access_end {
        return Ok(Prepared::Skip("the access already ended"));
    }
    if !channel.is_on_for(&customer) {
        return Ok(Prepared::Skip("the customer turned these reminders off"));
    }
    let discord_user_id = match channel {
        Channel::Email => None,
        Channel::Discord => match crate::discord_link::for_user(db, customer.id).await? {
            Some(link) => Some(link.discord_user_id),
            None => return Ok(Prepared::Skip("the customer unlinked Discord")),
        },
    };
    let token = new_token();
    reminder::Entity::update_many()
        .col_expr(
            reminder::Column::UnsubscribeHash,
            Expr::value(Some(hash_token(token.expose()))),
        )
        .col_expr(reminder::Column::SentAt, Expr::value(now))
        .filter(reminder::Column::Id.eq(id))
        .exec(db)
        .await?;
    let link = |path: &str| {
        let mut url = config.public_url.clone();
        url.set_path(path);
        url.set_query(Some(&format!("token={}", token.expose())));
        url.to_string()
    };
    let unsubscribe = link("/unsubscribe");
    let (subject, text) = wording(config, channel, row.access_end, now, &unsubscribe);
    Ok(Prepared::Send(Message {
        reminder: id,
        channel,
        email: customer.email,
        discord_user_id,
        subject,
        text,
        unsubscribe_url: unsubscribe,
        one_click_url: link(ONE_CLICK_PATH),
    }))
}

/// Where a customer renews: the storefront, or their account page (which links to it) when
/// the operator has not set one.
fn renewal_url(config: &Config) -> String {
    match &config.storefront_url {
        Some(url) => url.to_string(),
        None => {
            let mut url = config.public_url.clone();
            url.set_path("/account");
            url.to_string()
        }
    }
}

/// The subject and text of a reminder (one wording for both channels; a DM has no subject, so
/// it leads with it).
fn wording(
    config: &Config,
    channel: Channel,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    unsubscribe: &str,
) -> (String, String) {
    let app = &config.app_name;
    let left = end - now;
    let when = if left < Duration::days(1) {
        "in less than a day".to_owned()
    } else {
        // To the nearest day: 2 days 23 hours reads "in 3 days".
        let days = (left.num_hours() + 12) / 24;
        format!("in {days} day{}", if days == 1 { "" } else { "s" })
    };
    let date = end.format("%-d %B %Y, %H:%M UTC");
    let subject = format!("Your {app} access ends {when}");
    let renew = renewal_url(config);
    let text = match channel {
        Channel::Email => format!(
            "Hello,\r\n\r\nyour access to {app} ends {when}, on {date}. Renew now to keep receiving signals without a gap:\r\n\r\n{renew}\r\n\r\nYou get this because reminders are on for your account. Stop these e-mails with one click:\r\n{unsubscribe}\r\n"
        ),
        // Angle brackets keep Discord from unfurling the links into previews.
        Channel::Discord => format!(
            "**{subject}** (on {date}). Renew now to keep receiving signals without a gap: <{renew}>\n\nStop these messages with one click: <{unsubscribe}>"
        ),
    };
    (subject, text)
}

/// The unsubscribe link: turns off the channel of the reminder that carried `token`; says
/// which, or `None` when the link is not one of ours.
pub async fn unsubscribe(db: &DatabaseConnection, token: &str) -> Result<Option<Channel>, DbErr> {
    let token = token.trim();
    if token.is_empty() {
        return Ok(None);
    }
    let Some(row) = reminder::Entity::find()
        .filter(reminder::Column::UnsubscribeHash.eq(hash_token(token)))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let Some(channel) = Channel::parse(&row.channel) else {
        return Ok(None);
    };
    set_preference(db, row.user_id, channel, false).await?;
    Ok(Some(channel))
}

/// Turns one channel's reminders on or off for an account.
pub async fn set_preference(db: &impl ConnectionTrait, user: i64, channel: Channel, on: bool) -> Result<(), DbErr> {
    user_account::Entity::update_many()
        .col_expr(channel.switch(), Expr::value(on))
        .filter(user_account::Column::Id.eq(user))
        .exec(db)
        .await?;
    Ok(())
}

/// The reminders that went out to an account (those a job got as far as sending), newest first,
/// for the customer's timeline in admin.
pub async fn sent_to(db: &impl ConnectionTrait, user: i64) -> Result<Vec<reminder::Model>, DbErr> {
    use sea_orm::QueryOrder;
    reminder::Entity::find()
        .filter(reminder::Column::UserId.eq(user))
        .filter(reminder::Column::UnsubscribeHash.is_not_null())
        .order_by_desc(reminder::Column::Id)
        .all(db)
        .await
}

/// An account's two switches: (e-mail, Discord).
pub async fn preferences(db: &impl ConnectionTrait, user: i64) -> Result<(bool, bool), DbErr> {
    Ok(user_account::Entity::find_by_id(user)
        .one(db)
        .await?
        .map_or((false, false), |u| {
            (Channel::Email.is_on_for(&u), Channel::Discord.is_on_for(&u))
        }))
}

/// The offset (in days before `end`) whose reminder is due at `now`, if any.
pub fn due(end: DateTime<Utc>, now: DateTime<Utc>, days: &[u32]) -> Option<u32> {
    if now >= end {
        return None;
    }
    days.iter()
        .copied()
        .filter(|d| now >= end - Duration::days(i64::from(*d)))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_nearest_passed_offset_is_due_and_nothing_after_the_end() {
        let end = at("2027-01-31T00:00:00Z");
        let days = [7, 1];
        assert_eq!(
            due(end, at("2027-01-23T23:59:59Z"), &days),
            None,
            "more than 7 days left"
        );
        assert_eq!(due(end, at("2027-01-24T00:00:00Z"), &days), Some(7));
        assert_eq!(due(end, at("2027-01-29T12:00:00Z"), &days), Some(7));
        assert_eq!(due(end, at("2027-01-30T00:00:00Z"), &days), Some(1));
        assert_eq!(
            due(end, at("2027-01-31T00:00:00Z"), &days),
            None,
            "ended: nothing to remind of"
        );
        assert_eq!(due(end, at("2027-01-30T00:00:00Z"), &[]), None, "reminders off");
    }
}
