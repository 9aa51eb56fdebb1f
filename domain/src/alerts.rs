//! How a customer wants to hear of new signals: browser notifications and a sound, each off
//! until they turn it on, for every channel or the ones they pick. The browser does the alerting
//! (it alone knows whether the tab is hidden and has the permission); this keeps the choice with
//! the account, so it follows them to every browser.

use chrono::Utc;
use entity::alert_setting;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};

/// The most channels one customer may pick (more than any server's Source channels).
pub const CHANNELS_MAX: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertSettings {
    pub notify: bool,
    pub sound: bool,
    /// Empty: every channel.
    pub channels: Vec<i64>,
}

pub async fn get(db: &impl ConnectionTrait, user_id: i64) -> Result<AlertSettings, DbErr> {
    Ok(alert_setting::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .map(|row| AlertSettings {
            notify: row.notify,
            sound: row.sound,
            channels: serde_json::from_str(&row.channels_json).unwrap_or_default(),
        })
        .unwrap_or_default())
}

pub async fn save(db: &impl ConnectionTrait, user_id: i64, settings: &AlertSettings) -> Result<(), DbErr> {
    let mut channels = settings.channels.clone();
    channels.sort_unstable();
    channels.dedup();
    channels.truncate(CHANNELS_MAX);
    alert_setting::Entity::insert(alert_setting::ActiveModel {
        user_id: Set(user_id),
        notify: Set(settings.notify),
        sound: Set(settings.sound),
        channels_json: Set(serde_json::to_string(&channels).unwrap_or_else(|_| "[]".into())),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(alert_setting::Column::UserId)
            .update_columns([
                alert_setting::Column::Notify,
                alert_setting::Column::Sound,
                alert_setting::Column::ChannelsJson,
                alert_setting::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}
