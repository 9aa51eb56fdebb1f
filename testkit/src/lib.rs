//! Local fakes that speak the real wire formats of the services the product talks to, for tests
//! and the demo: an SMTP sink and Discord (REST, OAuth2, rate limits, faults). Dev-only: never a
//! dependency of what ships.

pub mod database;
pub mod discord;
pub mod feed_clients;
pub mod smtp_sink;
