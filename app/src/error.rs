//! The typed error every server function returns. The code is machine-readable (the UI and
//! tests match on it); the message is safe to show to the person using the page.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Bad input in one form field (`field` names it, so the form can show it beside the input).
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("the email or password is not right")]
    InvalidCredentials,
    #[error("too many failed attempts; try again in {} minute(s)", retry_after_secs.div_ceil(60))]
    TooManyAttempts { retry_after_secs: u64 },
    /// The account's budget of wrong passwords is spent: no password is checked for a while,
    /// from anywhere. The same words whether or not the account exists.
    #[error(
        "too many wrong passwords were tried for this account, so password sign-in is paused for {} minute(s). If the account is yours, we have e-mailed it a link that signs you in now.",
        retry_after_secs.div_ceil(60)
    )]
    SignInPaused { retry_after_secs: u64 },
    #[error("please sign in")]
    Unauthenticated,
    #[error("you are not allowed to do that")]
    Forbidden,
    #[error("not found")]
    NotFound,
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
            AppError::Invalid { .. } => "invalid_input",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::TooManyAttempts { .. } => "too_many_attempts",
            AppError::SignInPaused { .. } => "sign_in_paused",
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not_found",
            AppError::Unavailable => "unavailable",
            AppError::Request(_) => "request_failed",
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The message for one form field, if this error is about that field.
    pub fn for_field(&self, name: &str) -> Option<String> {
        match self {
            AppError::Invalid { field, message } if field == name => Some(message.clone()),
            _ => None,
        }
    }

    /// HTTP status for the response carrying this error.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid { .. } => 422,
            AppError::InvalidCredentials | AppError::Unauthenticated => 401,
            AppError::TooManyAttempts { .. } | AppError::SignInPaused { .. } => 429,
            AppError::Forbidden => 403,
            AppError::NotFound => 404,
            AppError::Unavailable => 503,
            AppError::Request(_) => 400,
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
        leptos::logging::error!("server function ran without AppContext in its context");
        AppError::Unavailable
    })
}

/// Logs a dependency failure once, at the place it is turned into a user-facing error.
#[cfg(feature = "ssr")]
pub fn unavailable(what: &str, err: impl std::fmt::Display) -> AppError {
    tracing::error!("{what}: {err}");
    AppError::Unavailable
}

/// Sets the HTTP status (and `Retry-After`) of the current server-function response to match `err`.
#[cfg(feature = "ssr")]
pub fn fail<T>(err: AppError) -> Result<T, AppError> {
    use leptos_axum::ResponseOptions;
    // A form posted without JavaScript is answered by the framework with a redirect back to the
    // page (carrying the error in the URL); a status set here would replace that redirect.
    let plain_form_post = leptos::prelude::use_context::<axum::http::request::Parts>().is_some_and(|p| {
        p.headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
    });
    if plain_form_post {
        return Err(err);
    }
    if let Some(resp) = leptos::prelude::use_context::<ResponseOptions>() {
        if let Ok(status) = axum::http::StatusCode::from_u16(err.status()) {
            resp.set_status(status);
        }
        if let AppError::TooManyAttempts { retry_after_secs } | AppError::SignInPaused { retry_after_secs } = &err {
            resp.insert_header(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(*retry_after_secs),
            );
        }
    }
    Err(err)
}

#[cfg(feature = "ssr")]
impl From<domain::accounts::AccountError> for AppError {
    fn from(e: domain::accounts::AccountError) -> Self {
        use domain::accounts::AccountError as E;
        match e {
            E::InvalidEmail => AppError::invalid("email", e.to_string()),
            E::PasswordTooShort | E::PasswordTooLong => AppError::invalid("password", e.to_string()),
            E::EmailTaken => AppError::invalid("email", e.to_string()),
            E::WrongCurrentPassword => AppError::invalid("current_password", e.to_string()),
            E::InvalidCredentials => AppError::InvalidCredentials,
            E::NotFound => AppError::NotFound,
            E::Hashing(_) | E::Database(_) => unavailable("account operation", e),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::email_proof::ProofError> for AppError {
    fn from(e: domain::email_proof::ProofError) -> Self {
        use domain::email_proof::ProofError as E;
        match e {
            E::Refused(_) | E::AlreadyVerified => AppError::invalid("token", e.to_string()),
            E::Account(e) => e.into(),
            E::Db(e) => unavailable("e-mail proof", e),
        }
    }
}
