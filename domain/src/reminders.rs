//! Reminders before access ends (issue 17, item 3) — work in progress, not wired in yet.
//!
//! The rule: for a customer whose access ends at `end`, with reminder offsets `days` (e.g. 7
//! and 1), the reminder due at `now` is the one with the *smallest* offset whose moment
//! (`end - offset days`) has passed while `end` has not. Only that one is sent: a customer who
//! buys five days before the end gets the 1-day reminder, not a late 7-day one followed by it.
//! Each (account, end, offset, channel) is sent at most once — the claim is a row with a unique
//! key, so several processes and restarts cannot send twice — and a renewal moves `end`, which
//! makes the next reminders due again for the new end.
//!
//! Still to build: the `reminder` table (unique on account, access end, offset, channel) and
//! the opt-out columns; the e-mail through the mailer from the server's worker; a DM job for the
//! bot (the fake Discord needs `POST /users/@me/channels`); the opt-outs on `/account` and a
//! one-click unsubscribe link in the mail; `REMINDER_DAYS` and the storefront's renewal URL.

use chrono::{DateTime, Duration, Utc};
use entity::reminder;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};

/// How a reminder reaches the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// Claims the reminder `days_before` the access end `end` of `user` by `channel`: `true` for
/// the one caller that should send it (the row is new), `false` for every other process and
/// every later run.
pub async fn claim(
    db: &impl ConnectionTrait,
    user: i64,
    end: DateTime<Utc>,
    days_before: u32,
    channel: Channel,
) -> Result<bool, DbErr> {
    let inserted = reminder::Entity::insert(reminder::ActiveModel {
        user_id: Set(user),
        access_end: Set(end),
        days_before: Set(days_before as i32),
        channel: Set(channel.as_str().to_owned()),
        sent_at: Set(Utc::now()),
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
    .exec_without_returning(db)
    .await?;
    Ok(inserted == 1)
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
