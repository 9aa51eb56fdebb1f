//! The page for any path the router does not know. (The server's fallback handler sets the 404 status.)

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <main class="page narrow">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address."</p>
            <p>
                <a href="/">"Back to the start page"</a>
            </p>
        </main>
    }
}
