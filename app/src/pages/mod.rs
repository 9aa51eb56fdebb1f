//! One page component per file.

pub mod access_panel;
pub mod account;
pub mod admin;
pub mod dashboard;
pub mod discord_panel;
pub mod forgot_password;
pub mod home;
pub mod login;
pub mod not_allowed;
pub mod not_found;
pub mod reminders_panel;
pub mod reset_password;
pub mod sign_in_link;
pub mod signup;
pub mod unsubscribe;
pub mod verify_email;
