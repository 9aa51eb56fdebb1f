//! `/reset-password?token=…`: the link from the reset mail; choosing a new password signs the
//! account out everywhere.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::account_api::ResetPassword;
use crate::components::field::{Field, FormError};

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let action = ServerAction::<ResetPassword>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let token = move || use_query_map().read().get("token").unwrap_or_default();
    let token_error = move || error.get().and_then(|e| e.for_field("token"));
    view! {
        <main class="page narrow">
            <h1>"Choose a new password"</h1>
            <p class="muted">"This signs you out on every browser."</p>
            <ActionForm action=action attr:class="form" attr:novalidate=true>
                <input type="hidden" name="token" value=token />
                <Field label="New password (12 characters or more)" name="new_password" kind="password" autocomplete="new-password" error=error />
                <p class="form-error" role="alert" data-testid="error-token">{token_error}</p>
                <FormError error=error />
                <button type="submit" class="button primary" data-testid="reset-password" disabled=action.pending()>
                    {move || if action.pending().get() { "Saving…" } else { "Set the new password" }}
                </button>
            </ActionForm>
            <p class="muted">"Link expired or used? " <a href="/forgot-password">"Ask for a new one"</a> "."</p>
        </main>
    }
}
