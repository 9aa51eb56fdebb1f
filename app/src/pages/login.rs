//! `/login`: a plain form post before the wasm loads; inline errors and a pending button after.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::account_api::SignIn;
use crate::components::field::{Field, FormError};

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let pending = action.pending();
    let next = move || use_query_map().read().get("next").unwrap_or_default();
    let was_reset = move || use_query_map().read().get("reset").is_some();

    view! {
        <main class="page narrow">
            <h1>"Sign in"</h1>
            {move || was_reset().then(|| view! {
                <p class="success" role="status" data-testid="password-was-reset">"Your password was changed and every browser signed out. Sign in with the new one."</p>
            })}
            <ActionForm action=action attr:class="form" attr:novalidate=true>
                <input type="hidden" name="next" value=next />
                <Field label="Email" name="email" kind="email" autocomplete="username" error=error />
                <Field label="Password" name="password" kind="password" autocomplete="current-password" error=error />
                <FormError error=error />
                <button type="submit" class="button primary" data-testid="sign-in" disabled=pending>
                    {move || if pending.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
            <p class="muted"><a href="/forgot-password" data-testid="forgot-password">"Forgot your password?"</a></p>
            <p class="muted">"New here? " <a href="/signup">"Create an account"</a></p>
        </main>
    }
}
