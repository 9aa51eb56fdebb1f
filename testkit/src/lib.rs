//! Local fakes that speak the real wire formats of the services the product talks to, for tests
//! and the demo: an SMTP sink today (Discord and Sell.app fakes join it). Dev-only: never a
//! dependency of what ships.

pub mod smtp_sink;
