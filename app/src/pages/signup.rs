//! `/signup`: email and a password of 12 to 128 characters (any characters, no other rules).

use leptos::prelude::*;

use crate::account_api::SignUp;
use crate::components::field::{Field, FormError};

#[component]
pub fn SignupPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let pending = action.pending();

    view! {
        <main class="page narrow">
            <h1>"Create your account"</h1>
            <ActionForm action=action attr:class="form" attr:novalidate=true>
                <Field label="Email" name="email" kind="email" autocomplete="email" error=error />
                <Field label="Password (12 characters or more)" name="password" kind="password" autocomplete="new-password" error=error />
                <FormError error=error />
                <button type="submit" class="button primary" data-testid="sign-up" disabled=pending>
                    {move || if pending.get() { "Creating account…" } else { "Create account" }}
                </button>
            </ActionForm>
            <p class="muted">"Already have an account? " <a href="/login">"Sign in"</a></p>
        </main>
    }
}
