//! Sign-in throttling: at most `MAX_FAILURES` failures per account and per client address in a
//! sliding `WINDOW`. Kept in the database, so every server process enforces the same limit.

use chrono::{DateTime, Duration, Utc};
use entity::sign_in_failure;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

pub const MAX_FAILURES: u64 = 10;
pub const WINDOW: Duration = Duration::minutes(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The normalised email that was tried.
    Account,
    /// The client's IP address.
    Address,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Address => "address",
        }
    }
}

/// If any key is over its limit: how long until it is allowed again.
pub async fn retry_after(
    db: &DatabaseConnection,
    keys: &[(Scope, &str)],
) -> Result<Option<std::time::Duration>, DbErr> {
    let now = Utc::now();
    let mut wait: Option<Duration> = None;
    for (scope, subject) in keys {
        let recent = sign_in_failure::Entity::find()
            .filter(sign_in_failure::Column::Scope.eq(scope.as_str()))
            .filter(sign_in_failure::Column::Subject.eq(*subject))
            .filter(sign_in_failure::Column::CreatedAt.gt(now - WINDOW))
            .order_by_asc(sign_in_failure::Column::CreatedAt)
            .all(db)
            .await?;
        if recent.len() as u64 >= MAX_FAILURES {
            // Allowed again once enough failures have aged out of the window.
            let freeing = &recent[recent.len() - MAX_FAILURES as usize];
            let until = freeing.created_at + WINDOW - now;
            wait = Some(wait.map_or(until, |w| w.max(until)));
        }
    }
    Ok(wait.map(|w| w.to_std().unwrap_or_default().max(std::time::Duration::from_secs(1))))
}

pub async fn record_failure(db: &DatabaseConnection, keys: &[(Scope, &str)]) -> Result<(), DbErr> {
    record_failure_at(db, keys, Utc::now()).await
}

pub async fn record_failure_at(
    db: &DatabaseConnection,
    keys: &[(Scope, &str)],
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    for (scope, subject) in keys {
        sign_in_failure::ActiveModel {
            scope: Set(scope.as_str().to_owned()),
            subject: Set(subject.chars().take(254).collect()),
            created_at: Set(at),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    // Old rows are useless; prune them as we go instead of running a separate sweeper.
    sign_in_failure::Entity::delete_many()
        .filter(sign_in_failure::Column::CreatedAt.lt(at - WINDOW - WINDOW))
        .exec(db)
        .await?;
    Ok(())
}

/// A successful sign-in clears the account's count (not the address's).
pub async fn clear_account(db: &DatabaseConnection, email: &str) -> Result<(), DbErr> {
    sign_in_failure::Entity::delete_many()
        .filter(sign_in_failure::Column::Scope.eq(Scope::Account.as_str()))
        .filter(sign_in_failure::Column::Subject.eq(email))
        .exec(db)
        .await?;
    Ok(())
}
