//! Shown (with status 403) when a signed-in person opens a page their role does not allow.

use leptos::prelude::*;

#[component]
pub fn NotAllowed() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(axum::http::StatusCode::FORBIDDEN);
    }
    view! {
        <main class="page narrow">
            <h1>"Not allowed"</h1>
            <p data-testid="not-allowed">"Your account cannot open this page. It is for the operator's admins."</p>
            <p><a href="/account">"Go to your account"</a></p>
        </main>
    }
}
