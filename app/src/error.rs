//! The typed error every server function returns. The code is machine-readable (the UI and
//! tests match on it); the message is safe to show to the person using the page.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The database or another dependency is down; retrying later may work.
    #[error("the service is temporarily unavailable, please try again shortly")]
    Unavailable,
    /// Transport, encoding or routing failures of the server-function machinery itself.
    #[error("request failed: {0}")]
    Request(String),
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unavailable => "unavailable",
            AppError::Request(_) => "request_failed",
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Request(value.to_string())
    }
}

/// The process context server functions run in (database + config), or `Unavailable`.
#[cfg(feature = "ssr")]
pub fn app_context() -> Result<domain::AppContext, AppError> {
    leptos::prelude::use_context::<domain::AppContext>().ok_or_else(|| {
        tracing_missing_context();
        AppError::Unavailable
    })
}

#[cfg(feature = "ssr")]
fn tracing_missing_context() {
    leptos::logging::error!("server function ran without AppContext in its context");
}

/// Logs a database failure once, at the place it is turned into a user-facing error.
#[cfg(feature = "ssr")]
pub fn unavailable(what: &str, err: impl std::fmt::Display) -> AppError {
    leptos::logging::error!("{what}: {err}");
    AppError::Unavailable
}
