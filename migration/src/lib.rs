//! Schema migrations. Every migration is written with SeaQuery's schema builder so the same
//! code runs on SQLite and PostgreSQL; each one has a working `down` (tested up → down → up).

pub use sea_orm_migration::prelude::*;

mod columns;
mod m20261127_000001_create_tier;
mod m20261127_000002_create_accounts;
mod m20261127_000003_create_capture;
mod m20261127_000004_create_payments;
mod m20261201_000005_close_the_holes;
mod m20261201_000006_create_job;
mod m20261201_000007_discord;
mod m20261201_000008_role_drift;
mod m20261201_000009_mirror;
mod m20261201_000010_channel_tier;
mod m20261201_000011_attachment_blob;
mod m20261201_000012_mirror_parts;
mod m20261201_000013_mirror_delivery;
mod m20261201_000014_mirror_thread;
mod m20261201_000015_gateway_capture;
mod m20261201_000016_mentions;
mod m20261201_000017_desk_search;
mod m20261201_000018_alert_setting;
mod m20261206_000019_job_queue_order;
mod m20261207_000020_reminders;
mod m20261207_000021_reminder_unsubscribe;
mod m20261208_000022_change_actor;
mod m20261208_000023_signal_per_channel;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_tier::Migration),
            Box::new(m20261127_000002_create_accounts::Migration),
            Box::new(m20261127_000003_create_capture::Migration),
            Box::new(m20261127_000004_create_payments::Migration),
            Box::new(m20261201_000005_close_the_holes::Migration),
            Box::new(m20261201_000006_create_job::Migration),
            Box::new(m20261201_000007_discord::Migration),
            Box::new(m20261201_000008_role_drift::Migration),
            Box::new(m20261201_000009_mirror::Migration),
            Box::new(m20261201_000010_channel_tier::Migration),
            Box::new(m20261201_000011_attachment_blob::Migration),
            Box::new(m20261201_000012_mirror_parts::Migration),
            Box::new(m20261201_000013_mirror_delivery::Migration),
            Box::new(m20261201_000014_mirror_thread::Migration),
            Box::new(m20261201_000015_gateway_capture::Migration),
            Box::new(m20261201_000016_mentions::Migration),
            Box::new(m20261201_000017_desk_search::Migration),
            Box::new(m20261201_000018_alert_setting::Migration),
            Box::new(m20261206_000019_job_queue_order::Migration),
            Box::new(m20261207_000020_reminders::Migration),
            Box::new(m20261207_000021_reminder_unsubscribe::Migration),
            Box::new(m20261208_000022_change_actor::Migration),
            Box::new(m20261208_000023_signal_per_channel::Migration),
        ]
    }
}
