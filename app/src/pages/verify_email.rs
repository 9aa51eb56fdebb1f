//! `/verify-email?token=…`: the link from the verification mail. The address is confirmed by
//! a button (a POST), never by merely opening the page, so a mail scanner that fetches links
//! cannot use the single-use token up.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::account_api::VerifyEmail;
use crate::components::field::FormError;

#[component]
pub fn VerifyEmailPage() -> impl IntoView {
    let action = ServerAction::<VerifyEmail>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let token = move || use_query_map().read().get("token").unwrap_or_default();
    let token_error = move || error.get().and_then(|e| e.for_field("token"));
    view! {
        <main class="page narrow">
            <h1>"Confirm your e-mail"</h1>
            <p>"One click confirms the address is yours; what you buy with it then reaches this account."</p>
            <ActionForm action=action attr:class="form">
                <input type="hidden" name="token" value=token />
                <p class="form-error" role="alert" data-testid="error-token">{token_error}</p>
                <FormError error=error />
                <button type="submit" class="button primary" data-testid="verify-email" disabled=action.pending()>
                    {move || if action.pending().get() { "Confirming…" } else { "Confirm my e-mail" }}
                </button>
            </ActionForm>
            <p class="muted">"Link expired or used? Sign in and ask for a new one on " <a href="/account">"your account"</a> "."</p>
        </main>
    }
}
