//! Abuse limits on guessing (passwords, reset tokens), kept in the database so every server
//! process enforces the same ones. A wait is never spent inside a request: an attempt is let
//! through at once, or refused at once with how long until it may go (429 + `Retry-After`).
//! A client is its network (`client_address::network`): an IPv4 address, an IPv6 /64.
//! - per network, a hard limit: [`ADDRESS_LIMIT`] failed guesses (sign-ins, wrong current
//!   passwords, sign-ups for a taken address, reset requests, wrong reset links) in [`WINDOW`];
//! - per account and network: after [`PAIR_FREE`] failures in the window, each next guess must
//!   wait a spacing after the one before, doubling up to [`PAIR_SPACING_MAX`];
//! - per account, across every network: at most [`ACCOUNT_LIMIT`] wrong passwords in the window.
//!   Past it, no password of that account is checked until failures age out — whoever asks
//!   gets 429 — and the account's owner is mailed a one-time sign-in link instead. A stranger
//!   can spend the account's budget, never the owner's mailbox, so the owner always gets in.
//!
//! So wrong passwords tried against one account are bounded by [`ACCOUNT_LIMIT`] per
//! [`WINDOW`] — [`account_bound_per_hour`] an hour — however many networks an attacker rotates.
//! Every attempt is written *before* it is judged (the row is its reservation), so N parallel
//! guesses cost N attempts instead of all passing one check.
//! - sign-ups: `SIGN_UPS_PER_ADDRESS` (a setting, 5 by default) new accounts per network in the window.

use chrono::{DateTime, Duration, Utc};
use entity::sign_in_failure;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

pub const WINDOW: Duration = Duration::minutes(15);
pub const ADDRESS_LIMIT: usize = 10;
pub const PAIR_FREE: usize = 3;
pub const PAIR_SPACING_MAX: std::time::Duration = std::time::Duration::from_secs(60);
pub const ACCOUNT_LIMIT: usize = 20;

/// The most wrong passwords one account can be tried with in an hour, from anywhere.
pub const fn account_bound_per_hour() -> usize {
    ACCOUNT_LIMIT * (60 / WINDOW.num_minutes() as usize)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The normalised email that was tried.
    Account,
    /// The client's network.
    Address,
    /// One account tried from one network (a hash of both: the pair can be long).
    Pair,
    /// A new account made from this network.
    SignUp,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Address => "address",
            Scope::Pair => "pair",
            Scope::SignUp => "signup",
        }
    }
}

fn pair_subject(account: &str, network: &str) -> String {
    crate::sessions::hash_token(&format!("{account}\n{network}"))
}

/// An attempt that may go ahead: the rows that reserve it.
#[derive(Debug)]
#[must_use = "an attempt ends in succeeded() or release(), or stays counted as a failure"]
pub struct Attempt {
    rows: Vec<i64>,
}

#[derive(Debug)]
pub enum Gate {
    Go(Attempt),
    /// This client is refused (its network's limit, or its pace on this account): it may try
    /// again after this long.
    Wait(std::time::Duration),
    /// The account's budget of wrong passwords is spent: no password of it is checked for this
    /// long, from anywhere. Its owner signs in by a mailed link meanwhile.
    AccountPaused(std::time::Duration),
}

async fn record(db: &impl ConnectionTrait, scope: Scope, subject: &str, at: DateTime<Utc>) -> Result<i64, DbErr> {
    let row = sign_in_failure::ActiveModel {
        scope: Set(scope.as_str().to_owned()),
        subject: Set(subject.chars().take(254).collect()),
        created_at: Set(at),
        ..Default::default()
    }
    .insert(db)
    .await?;
    // Old rows are useless; prune them as we go instead of running a separate sweeper.
    sign_in_failure::Entity::delete_many()
        .filter(sign_in_failure::Column::CreatedAt.lt(at - WINDOW - WINDOW))
        .exec(db)
        .await?;
    Ok(row.id)
}

/// The attempts of `subject` in the window ending at `now` (id, when), oldest first.
async fn recent(
    db: &impl ConnectionTrait,
    scope: Scope,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, DateTime<Utc>)>, DbErr> {
    Ok(sign_in_failure::Entity::find()
        .filter(sign_in_failure::Column::Scope.eq(scope.as_str()))
        .filter(sign_in_failure::Column::Subject.eq(subject.chars().take(254).collect::<String>()))
        .filter(sign_in_failure::Column::CreatedAt.gt(now - WINDOW))
        .order_by_asc(sign_in_failure::Column::CreatedAt)
        .order_by_asc(sign_in_failure::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.created_at))
        .collect())
}

/// How long until the window holds fewer than `limit` of `times` (oldest first, at least `limit`).
fn until_free(times: &[(i64, DateTime<Utc>)], limit: usize, now: DateTime<Utc>) -> std::time::Duration {
    let freeing = times[times.len() - limit].1;
    (freeing + WINDOW - now)
        .to_std()
        .unwrap_or_default()
        .max(std::time::Duration::from_secs(1))
}

/// Records an attempt against `subject` and admits it while the window holds at most `limit`
/// (itself included). Refused attempts keep their row when `refused_counts` (a guesser who keeps
/// going stays blocked); otherwise the row is removed.
async fn take(
    db: &impl ConnectionTrait,
    scope: Scope,
    subject: &str,
    limit: usize,
    refused_counts: bool,
    now: DateTime<Utc>,
) -> Result<Result<i64, std::time::Duration>, DbErr> {
    let row = record(db, scope, subject, now).await?;
    let times = recent(db, scope, subject, now).await?;
    if times.len() <= limit {
        return Ok(Ok(row));
    }
    if !refused_counts {
        delete(db, &[row]).await?;
    }
    Ok(Err(until_free(&times, limit, now)))
}

async fn delete(db: &impl ConnectionTrait, rows: &[i64]) -> Result<(), DbErr> {
    sign_in_failure::Entity::delete_many()
        .filter(sign_in_failure::Column::Id.is_in(rows.to_vec()))
        .exec(db)
        .await?;
    Ok(())
}

/// The spacing one network must keep between guesses at one account, given its earlier
/// failures there in the window.
pub fn pair_spacing(earlier: usize) -> std::time::Duration {
    if earlier < PAIR_FREE {
        return std::time::Duration::ZERO;
    }
    let doublings = (earlier - PAIR_FREE).min(16) as u32;
    std::time::Duration::from_secs(1u64 << doublings).min(PAIR_SPACING_MAX)
}

/// A guess at `account`'s password from `network` at `now` (sign-in, or the current password
/// asked by a password change). On [`Gate::Go`] check the password, then call [`succeeded`] if it
/// was right; a wrong guess needs nothing more (its rows are the failure record).
pub async fn begin_guess(
    db: &impl ConnectionTrait,
    account: &str,
    network: &str,
    now: DateTime<Utc>,
) -> Result<Gate, DbErr> {
    let address_row = match take(db, Scope::Address, network, ADDRESS_LIMIT, true, now).await? {
        Ok(row) => row,
        Err(wait) => return Ok(Gate::Wait(wait)),
    };
    let pair = pair_subject(account, network);
    let pair_row = record(db, Scope::Pair, &pair, now).await?;
    let earlier: Vec<DateTime<Utc>> = recent(db, Scope::Pair, &pair, now)
        .await?
        .into_iter()
        .filter(|(id, _)| *id < pair_row)
        .map(|(_, at)| at)
        .collect();
    if let Some(last) = earlier.last() {
        let due = *last + Duration::from_std(pair_spacing(earlier.len())).unwrap_or(WINDOW);
        if due > now {
            // Too soon after the last failure here: not a guess, but still a knock on the door.
            delete(db, &[pair_row]).await?;
            let wait = (due - now).to_std().unwrap_or_default();
            return Ok(Gate::Wait(wait.max(std::time::Duration::from_secs(1))));
        }
    }
    match take(db, Scope::Account, account, ACCOUNT_LIMIT, false, now).await? {
        Ok(account_row) => Ok(Gate::Go(Attempt {
            rows: vec![address_row, pair_row, account_row],
        })),
        Err(wait) => {
            // No password is checked: this costs the pair nothing (the address keeps its row).
            delete(db, &[pair_row]).await?;
            Ok(Gate::AccountPaused(wait))
        }
    }
}

/// A guess that counts only against the network (a sign-up for a taken e-mail, a reset
/// request, a reset or sign-in link tried).
pub async fn begin_address(db: &impl ConnectionTrait, network: &str, now: DateTime<Utc>) -> Result<Gate, DbErr> {
    Ok(
        match take(db, Scope::Address, network, ADDRESS_LIMIT, true, now).await? {
            Ok(row) => Gate::Go(Attempt { rows: vec![row] }),
            Err(wait) => Gate::Wait(wait),
        },
    )
}

/// A new account from `network`; [`release`] it if the sign-up does not happen after all.
pub async fn begin_sign_up(
    db: &impl ConnectionTrait,
    network: &str,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Gate, DbErr> {
    Ok(match take(db, Scope::SignUp, network, limit, false, now).await? {
        Ok(row) => Gate::Go(Attempt { rows: vec![row] }),
        Err(wait) => Gate::Wait(wait),
    })
}

/// The guess was right: its rows go, and so do this network's earlier failures at this account
/// (the owner's own typos). The account's budget keeps everyone else's failures: a success by
/// the owner does not hand an attacker a fresh budget.
pub async fn succeeded(db: &impl ConnectionTrait, attempt: Attempt, account: &str, network: &str) -> Result<(), DbErr> {
    delete(db, &attempt.rows).await?;
    sign_in_failure::Entity::delete_many()
        .filter(sign_in_failure::Column::Scope.eq(Scope::Pair.as_str()))
        .filter(sign_in_failure::Column::Subject.eq(pair_subject(account, network)))
        .exec(db)
        .await?;
    Ok(())
}

/// The attempt was not a guess after all (invalid input, a right token, a server error): it
/// does not count.
pub async fn release(db: &impl ConnectionTrait, attempt: Attempt) -> Result<(), DbErr> {
    delete(db, &attempt.rows).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_network_is_spaced_more_and_more_at_one_account() {
        assert_eq!(pair_spacing(0), std::time::Duration::ZERO);
        assert_eq!(pair_spacing(PAIR_FREE - 1), std::time::Duration::ZERO);
        assert_eq!(pair_spacing(PAIR_FREE).as_secs(), 1);
        assert_eq!(pair_spacing(PAIR_FREE + 3).as_secs(), 8);
        assert_eq!(pair_spacing(10_000), PAIR_SPACING_MAX);
    }

    #[test]
    fn the_account_bound_is_below_what_asvs_asks_to_block() {
        // ASVS 2.2.1: at most 100 failed attempts an hour per account.
        assert_eq!(account_bound_per_hour(), 80);
        const { assert!(account_bound_per_hour() < 100) };
    }
}
