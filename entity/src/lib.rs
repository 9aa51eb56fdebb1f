//! SeaORM entities: one module per table, nothing but the table's shape.
//! Rules about these rows live in the `domain` crate.

pub mod access_change;
pub mod access_policy;
pub mod alert_setting;
pub mod attachment_blob;
pub mod bot_instance;
pub mod capture_cursor;
pub mod capture_lease;
pub mod channel;
pub mod channel_mapping;
pub mod connector;
pub mod discord_link;
pub mod discovery_request;
pub mod email_token;
pub mod entitlement_grant;
pub mod feed_log;
pub mod guild;
pub mod guild_reassignment;
pub mod job;
pub mod mirror_copy;
pub mod mirror_delivery;
pub mod mirror_thread;
pub mod oauth_state;
pub mod payment_customer;
pub mod reminder;
pub mod rights_change;
pub mod role_drift;
pub mod session;
pub mod sign_in_failure;
pub mod signal;
pub mod signal_revision;
pub mod signal_thread;
pub mod tier;
pub mod tier_role;
pub mod user_account;
pub mod webhook_event;
