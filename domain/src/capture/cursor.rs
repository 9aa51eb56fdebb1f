//! Where a backfill resumes: per captured channel, the newest message id seen with no gap before
//! it. Only a backfill that reached the end, or live events after it, move it, so a crash in the
//! middle of a backfill starts the next one from the last page stored, never past a gap.

use chrono::Utc;
use entity::capture_cursor;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};

/// How far before the moment a channel becomes Source its capture starts: a margin for a clock
/// behind Discord's (what the backfill reads in it is ingested idempotently).
pub const START_MARGIN: chrono::Duration = chrono::Duration::minutes(1);

/// A channel's capture starts at `at` (it was just flagged Source): nothing before it is read.
pub async fn start(db: &impl ConnectionTrait, channel_id: i64, at: chrono::DateTime<Utc>) -> Result<(), DbErr> {
    let from = super::recheck::snowflake_at(at - START_MARGIN);
    capture_cursor::Entity::insert(capture_cursor::ActiveModel {
        channel_id: Set(channel_id),
        newest_message_id: Set(from),
        backfilled_at: Set(None),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(capture_cursor::Column::ChannelId)
            .update_columns([
                capture_cursor::Column::NewestMessageId,
                capture_cursor::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

/// The newest message id seen in `channel_id`, if the capture has seen any.
pub async fn of(db: &impl ConnectionTrait, channel_id: i64) -> Result<Option<i64>, DbErr> {
    Ok(capture_cursor::Entity::find_by_id(channel_id)
        .one(db)
        .await?
        .map(|c| c.newest_message_id))
}

/// Moves the cursor to `message_id` if that is newer (it never goes back).
pub async fn advance(
    db: &impl ConnectionTrait,
    channel_id: i64,
    message_id: i64,
    backfilled: bool,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let mut update = OnConflict::column(capture_cursor::Column::ChannelId);
    update.value(
        capture_cursor::Column::NewestMessageId,
        sea_orm::sea_query::Expr::cust_with_values(
            "CASE WHEN capture_cursor.newest_message_id > excluded.newest_message_id \
             THEN capture_cursor.newest_message_id ELSE excluded.newest_message_id END",
            Vec::<sea_orm::Value>::new(),
        ),
    );
    update.update_column(capture_cursor::Column::UpdatedAt);
    if backfilled {
        update.update_column(capture_cursor::Column::BackfilledAt);
    }
    capture_cursor::Entity::insert(capture_cursor::ActiveModel {
        channel_id: Set(channel_id),
        newest_message_id: Set(message_id),
        backfilled_at: Set(backfilled.then_some(now)),
        updated_at: Set(now),
    })
    .on_conflict(update.to_owned())
    .exec(db)
    .await?;
    Ok(())
}
