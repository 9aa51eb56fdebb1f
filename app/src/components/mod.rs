//! Small pieces shared by several pages.

pub mod countdown;
pub mod field;
pub mod minute_chart;
pub mod time;
