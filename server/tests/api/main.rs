//! One integration-test binary (faster to link than one per file). Every test starts the real
//! application on port 0 against a fresh database and talks HTTP to it; `on_both_databases!`
//! runs each test once on SQLite and once on PostgreSQL.

mod helpers;

mod accounts;
mod admin;
mod attachments;
mod backup;
mod capture;
mod channel_tiers;
mod commit_queue;
mod demo;
mod desk;
mod discord_admin;
mod discord_link;
mod email_proof;
mod fake_sellapp;
mod feed;
mod health;
mod import;
mod jobs;
mod migrations;
mod mirror;
mod openapi;
mod overview;
mod ownership;
mod payments;
mod reminders;
mod revocation;
mod security;
mod site;
mod startup;
