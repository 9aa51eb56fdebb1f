//! Small pieces shared by several pages.

pub mod field;
pub mod time;
