//! Abuse limits, kept in the database so every server process enforces the same ones:
//! - per client address, a hard limit: [`ADDRESS_LIMIT`] failed guesses (sign-in, a wrong
//!   current password, a sign-up for a taken address, reset requests) in [`WINDOW`], then 429;
//! - per account, never a lock (anyone could lock the admin out by failing on purpose), but a
//!   growing delay before the password is checked once [`ACCOUNT_FREE`] failures were seen in the
//!   window, doubling up to [`DELAY_MAX`]: a guesser is slowed to well under 100 tries an hour,
//!   the owner still gets in;
//! - sign-ups: `SIGN_UPS_PER_ADDRESS` (a setting, 5 by default) new accounts per address in the window.
//!
//! Every attempt is written *before* it is judged (the row is its reservation), so N parallel
//! guesses cost N attempts instead of all passing one check; a right guess removes its rows.

use chrono::{DateTime, Duration, Utc};
use entity::sign_in_failure;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

pub const WINDOW: Duration = Duration::minutes(15);
pub const ADDRESS_LIMIT: usize = 10;
pub const ACCOUNT_FREE: usize = 5;
pub const DELAY_MAX: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The normalised email that was tried.
    Account,
    /// The client's IP address.
    Address,
    /// A new account made from this address.
    SignUp,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Address => "address",
            Scope::SignUp => "signup",
        }
    }
}

/// An attempt that may go ahead: the rows that reserve it, and how long to wait first.
#[derive(Debug)]
#[must_use = "an attempt ends in succeeded() or release(), or stays counted as a failure"]
pub struct Attempt {
    rows: Vec<i64>,
    pub delay: std::time::Duration,
}

impl Attempt {
    /// Waits out the account's delay before the password is checked.
    pub async fn pause(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

#[derive(Debug)]
pub enum Gate {
    Go(Attempt),
    /// Refused: allowed again after this long.
    Wait(std::time::Duration),
}

async fn record(db: &DatabaseConnection, scope: Scope, subject: &str, at: DateTime<Utc>) -> Result<i64, DbErr> {
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

/// When the attempts of `subject` in the window were made, oldest first.
async fn recent(
    db: &DatabaseConnection,
    scope: Scope,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, DbErr> {
    Ok(sign_in_failure::Entity::find()
        .filter(sign_in_failure::Column::Scope.eq(scope.as_str()))
        .filter(sign_in_failure::Column::Subject.eq(subject.chars().take(254).collect::<String>()))
        .filter(sign_in_failure::Column::CreatedAt.gt(now - WINDOW))
        .order_by_asc(sign_in_failure::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.created_at)
        .collect())
}

/// Records an attempt against `subject` and admits it while the window holds at most `limit`
/// (itself included). Refused attempts keep their row when `refused_counts` (a guesser who keeps
/// going stays blocked); otherwise the row is removed.
async fn take(
    db: &DatabaseConnection,
    scope: Scope,
    subject: &str,
    limit: usize,
    refused_counts: bool,
) -> Result<Result<i64, std::time::Duration>, DbErr> {
    let now = Utc::now();
    let row = record(db, scope, subject, now).await?;
    let times = recent(db, scope, subject, now).await?;
    if times.len() <= limit {
        return Ok(Ok(row));
    }
    if !refused_counts {
        delete(db, &[row]).await?;
    }
    // Free again once enough attempts have aged out of the window.
    let freeing = times[times.len() - limit];
    let wait = (freeing + WINDOW - now).to_std().unwrap_or_default();
    Ok(Err(wait.max(std::time::Duration::from_secs(1))))
}

async fn delete(db: &DatabaseConnection, rows: &[i64]) -> Result<(), DbErr> {
    sign_in_failure::Entity::delete_many()
        .filter(sign_in_failure::Column::Id.is_in(rows.to_vec()))
        .exec(db)
        .await?;
    Ok(())
}

/// The wait before checking a password, given the account's earlier failures in the window.
pub fn account_delay(earlier: usize) -> std::time::Duration {
    if earlier < ACCOUNT_FREE {
        return std::time::Duration::ZERO;
    }
    let doublings = (earlier - ACCOUNT_FREE).min(16) as u32;
    std::time::Duration::from_secs(1u64 << doublings).min(DELAY_MAX)
}

/// A guess at `account`'s password from `address` (sign-in, or the current password asked by a
/// password change). Wait the attempt's `delay`, check the password, then call [`succeeded`] if
/// it was right; a wrong guess needs nothing more (its rows are the failure record).
pub async fn begin_guess(db: &DatabaseConnection, account: &str, address: &str) -> Result<Gate, DbErr> {
    let address_row = match take(db, Scope::Address, address, ADDRESS_LIMIT, true).await? {
        Ok(row) => row,
        Err(wait) => return Ok(Gate::Wait(wait)),
    };
    let now = Utc::now();
    let account_row = record(db, Scope::Account, account, now).await?;
    let earlier = recent(db, Scope::Account, account, now).await?.len().saturating_sub(1);
    Ok(Gate::Go(Attempt {
        rows: vec![address_row, account_row],
        delay: account_delay(earlier),
    }))
}

/// A guess that counts only against the address (a sign-up for a taken e-mail, a reset request).
pub async fn begin_address(db: &DatabaseConnection, address: &str) -> Result<Gate, DbErr> {
    Ok(match take(db, Scope::Address, address, ADDRESS_LIMIT, true).await? {
        Ok(row) => Gate::Go(Attempt {
            rows: vec![row],
            delay: std::time::Duration::ZERO,
        }),
        Err(wait) => Gate::Wait(wait),
    })
}

/// A new account from `address`; [`release`] it if the sign-up does not happen after all.
pub async fn begin_sign_up(db: &DatabaseConnection, address: &str, limit: usize) -> Result<Gate, DbErr> {
    Ok(match take(db, Scope::SignUp, address, limit, false).await? {
        Ok(row) => Gate::Go(Attempt {
            rows: vec![row],
            delay: std::time::Duration::ZERO,
        }),
        Err(wait) => Gate::Wait(wait),
    })
}

/// The guess was right: its rows go, and so do the account's earlier failures.
pub async fn succeeded(db: &DatabaseConnection, attempt: Attempt, account: &str) -> Result<(), DbErr> {
    delete(db, &attempt.rows).await?;
    sign_in_failure::Entity::delete_many()
        .filter(sign_in_failure::Column::Scope.eq(Scope::Account.as_str()))
        .filter(sign_in_failure::Column::Subject.eq(account))
        .exec(db)
        .await?;
    Ok(())
}

/// The attempt was not a guess after all (invalid input, a server error): it does not count.
pub async fn release(db: &DatabaseConnection, attempt: Attempt) -> Result<(), DbErr> {
    delete(db, &attempt.rows).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_slowed_more_and_more_but_never_locked() {
        assert_eq!(account_delay(0), std::time::Duration::ZERO);
        assert_eq!(account_delay(ACCOUNT_FREE - 1), std::time::Duration::ZERO);
        assert_eq!(account_delay(ACCOUNT_FREE).as_secs(), 1);
        assert_eq!(account_delay(ACCOUNT_FREE + 3).as_secs(), 8);
        assert_eq!(account_delay(10_000), DELAY_MAX, "capped: the owner still gets in");
        // At the cap, one guesser gets at most 120 tries an hour per account, and every one of
        // them also counts against its address's hard limit.
        assert!(3600 / DELAY_MAX.as_secs() <= 120);
    }
}
