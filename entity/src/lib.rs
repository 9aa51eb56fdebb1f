//! SeaORM entities: one module per table, nothing but the table's shape.
//! Rules about these rows live in the `domain` crate.

pub mod session;
pub mod sign_in_failure;
pub mod tier;
pub mod user_account;
