//! What a customer sees when part of a page could not be loaded: what went wrong, in words, and
//! the one thing to do about it — sign in again, try again, or go where the page can help.

use leptos::prelude::*;

use crate::error::AppError;

/// The next step for an error, as a link: its address and its words.
pub fn next_step(e: &AppError) -> (&'static str, &'static str) {
    match e {
        AppError::Unauthenticated => ("/login", "Sign in again"),
        AppError::Forbidden | AppError::NotFound => ("/dashboard", "Go to your dashboard"),
        // The same address again: a plain link, so it works even when the page's script does not.
        _ => ("", "Reload the page"),
    }
}

#[component]
pub fn LoadError(e: AppError) -> impl IntoView {
    let (href, words) = next_step(&e);
    view! {
        <p class="error" role="alert" data-testid="load-error" data-code=e.code()>
            {format!("{}. ", capitalised(&e.to_string()))}
            <a href=href>{words}</a>
        </p>
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_says_what_to_do() {
        assert_eq!(next_step(&AppError::Unauthenticated), ("/login", "Sign in again"));
        assert_eq!(next_step(&AppError::Unavailable), ("", "Reload the page"));
        assert_eq!(next_step(&AppError::Forbidden).0, "/dashboard");
        assert_eq!(capitalised("the service is down"), "The service is down");
        assert_eq!(capitalised(""), "");
    }
}
