//! "Skip to content": the first thing a keyboard reaches on every customer and admin page, shown
//! only when focused; it jumps past the header to the page's `<main id="main">`.

use leptos::prelude::*;

#[component]
pub fn SkipLink() -> impl IntoView {
    // `rel="external"` leaves the jump to the browser, which moves the keyboard's place there too
    // (the router's own handling would only scroll).
    view! { <a class="skip-link" href="#main" rel="external" data-testid="skip-link">"Skip to content"</a> }
}
