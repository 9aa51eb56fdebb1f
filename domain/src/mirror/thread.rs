//! Threads mirrored as threads: a message in a source thread is copied into the thread our bot
//! made for that source thread in the target channel. The thread is made once: the first worker
//! to need it claims the making (a short lease on its row) before asking Discord; others wait for
//! the answer. A worker that dies between Discord's answer and recording it leaves one empty
//! thread behind when the lease runs out and another worker makes it again — Discord gives thread
//! creation no nonce — but never a copy in two threads.

use chrono::{Duration, Utc};
use entity::mirror_thread;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

/// Where a copy of a thread message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The thread exists: post into this channel id.
    Ready(i64),
    /// This worker holds the making of the thread (row id): make it, then [`made`].
    Make(i64),
    /// Another worker is making it: look again shortly.
    Wait,
}

/// How long a worker may take to make a thread before another may try.
pub const MAKING: Duration = Duration::seconds(30);

pub async fn slot(db: &impl ConnectionTrait, source_thread_id: i64, target_channel_id: i64) -> Result<Slot, DbErr> {
    let now = Utc::now();
    mirror_thread::Entity::insert(mirror_thread::ActiveModel {
        source_thread_id: Set(source_thread_id),
        target_channel_id: Set(target_channel_id),
        target_thread_id: Set(None),
        creating_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            mirror_thread::Column::SourceThreadId,
            mirror_thread::Column::TargetChannelId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let Some(row) = mirror_thread::Entity::find()
        .filter(mirror_thread::Column::SourceThreadId.eq(source_thread_id))
        .filter(mirror_thread::Column::TargetChannelId.eq(target_channel_id))
        .one(db)
        .await?
    else {
        return Ok(Slot::Wait);
    };
    if let Some(t) = row.target_thread_id {
        return Ok(Slot::Ready(t));
    }
    let claimed = mirror_thread::Entity::update_many()
        .col_expr(mirror_thread::Column::CreatingUntil, Expr::value(now + MAKING))
        .col_expr(mirror_thread::Column::UpdatedAt, Expr::value(now))
        .filter(mirror_thread::Column::Id.eq(row.id))
        .filter(mirror_thread::Column::TargetThreadId.is_null())
        .filter(
            Condition::any()
                .add(mirror_thread::Column::CreatingUntil.is_null())
                .add(mirror_thread::Column::CreatingUntil.lt(now)),
        )
        .exec(db)
        .await?;
    Ok(if claimed.rows_affected == 1 {
        Slot::Make(row.id)
    } else {
        Slot::Wait
    })
}

/// Records the thread Discord made (right after its answer).
pub async fn made(db: &impl ConnectionTrait, row_id: i64, target_thread_id: i64) -> Result<(), DbErr> {
    mirror_thread::Entity::update_many()
        .col_expr(mirror_thread::Column::TargetThreadId, Expr::value(target_thread_id))
        .col_expr(
            mirror_thread::Column::CreatingUntil,
            Expr::value(None::<chrono::DateTime<Utc>>),
        )
        .col_expr(mirror_thread::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(mirror_thread::Column::Id.eq(row_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives up the making (Discord refused it): the next attempt may claim it at once.
pub async fn release(db: &impl ConnectionTrait, row_id: i64) -> Result<(), DbErr> {
    mirror_thread::Entity::update_many()
        .col_expr(
            mirror_thread::Column::CreatingUntil,
            Expr::value(None::<chrono::DateTime<Utc>>),
        )
        .filter(mirror_thread::Column::Id.eq(row_id))
        .filter(mirror_thread::Column::TargetThreadId.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The thread made for `source_thread_id` in `target_channel_id`, if any.
pub async fn made_for(
    db: &impl ConnectionTrait,
    source_thread_id: i64,
    target_channel_id: i64,
) -> Result<Option<i64>, DbErr> {
    Ok(mirror_thread::Entity::find()
        .filter(mirror_thread::Column::SourceThreadId.eq(source_thread_id))
        .filter(mirror_thread::Column::TargetChannelId.eq(target_channel_id))
        .one(db)
        .await?
        .and_then(|r| r.target_thread_id))
}
