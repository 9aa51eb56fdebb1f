//! SeaORM entities: one module per table, nothing but the table's shape.
//! Rules about these rows live in the `domain` crate.

pub mod tier;
