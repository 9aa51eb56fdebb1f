//! A named lease in the database: one holder at a time, renewed while it works, taken over by
//! anyone once it runs out (its holder died). One statement decides, on PostgreSQL and SQLite
//! alike: an upsert that only overwrites the row when the holder is the same or the lease ran out.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// The gateway capture's lease: exactly one bot process captures.
pub const CAPTURE: &str = "gateway_capture";

/// Takes or renews `name` for `holder` until `now + ttl`. True when `holder` holds it now.
pub async fn hold(db: &impl ConnectionTrait, name: &str, holder: &str, ttl: Duration) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let now = Utc::now();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO capture_lease (name, holder, lease_until, acquired_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until, \
             acquired_at = CASE WHEN capture_lease.holder = excluded.holder THEN capture_lease.acquired_at \
             ELSE excluded.acquired_at END \
             WHERE capture_lease.holder = excluded.holder OR capture_lease.lease_until < excluded.acquired_at \
             RETURNING holder"
        }
        _ => {
            "INSERT INTO capture_lease (name, holder, lease_until, acquired_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until, \
             acquired_at = CASE WHEN capture_lease.holder = excluded.holder THEN capture_lease.acquired_at \
             ELSE excluded.acquired_at END \
             WHERE capture_lease.holder = excluded.holder OR capture_lease.lease_until < excluded.acquired_at \
             RETURNING holder"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [name.into(), holder.into(), (now + ttl).into(), now.into()],
        ))
        .await?;
    Ok(row.is_some())
}

/// Gives the lease up at once (a graceful stop), so another process takes over without waiting.
pub async fn release(db: &impl ConnectionTrait, name: &str, holder: &str) -> Result<(), DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::capture_lease::Entity::delete_many()
        .filter(entity::capture_lease::Column::Name.eq(name))
        .filter(entity::capture_lease::Column::Holder.eq(holder))
        .exec(db)
        .await?;
    Ok(())
}

/// Who holds `name` now and since when (`None`: nobody, or the holder's lease ran out).
pub async fn holder(db: &impl ConnectionTrait, name: &str) -> Result<Option<(String, DateTime<Utc>)>, DbErr> {
    use sea_orm::EntityTrait;
    Ok(entity::capture_lease::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .filter(|l| l.lease_until > Utc::now())
        .map(|l| (l.holder, l.acquired_at)))
}
