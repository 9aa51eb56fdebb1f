//! Payments from Sell.app: access policies (what a product buys), the webhook inbox (verified,
//! stored once, processed from the stored row), and turning paid or refunded orders into
//! ledger changes.

pub mod alert;
pub mod order;
pub mod policies;
pub mod processing;
pub mod reconcile;
pub mod signature;
pub mod webhooks;
