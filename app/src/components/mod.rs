//! Small pieces shared by several pages.

pub mod alerts_panel;
pub mod countdown;
pub mod day_chart;
pub mod desk_nav;
pub mod embed_view;
pub mod field;
pub mod load_error;
pub mod message_body;
pub mod minute_chart;
pub mod skip_link;
pub mod time;
