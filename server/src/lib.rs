//! The web server as a library: `Application::build(config)` → `port()` → `run_until_stopped()`.
//! `main.rs` is only the CLI around it, so integration tests start exactly what production runs.

pub mod attachment_worker;
pub mod backup;
pub mod cli;
pub mod demo;
pub mod feed_hub;
pub mod feed_listener;
pub mod feed_roster;
pub mod feed_slots;
pub mod http;
pub mod http_server;
pub mod payment_worker;
pub mod reminder_worker;
pub mod replay;
pub mod rights_watch;
pub mod startup;

pub use startup::{Application, StartupError};
