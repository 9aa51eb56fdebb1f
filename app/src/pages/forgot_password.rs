//! `/forgot-password`: asks for a reset link. The answer is the same whether or not an account
//! has the address (no account enumeration).

use leptos::prelude::*;

use crate::account_api::RequestPasswordReset;
use crate::components::field::{Field, FormError};

#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let action = ServerAction::<RequestPasswordReset>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let sent = move || matches!(action.value().get(), Some(Ok(())));
    view! {
        <main class="page narrow">
            <h1>"Reset your password"</h1>
            <ActionForm action=action attr:class="form" attr:novalidate=true>
                <Field label="Email" name="email" kind="email" autocomplete="email" error=error />
                <FormError error=error />
                <button type="submit" class="button primary" data-testid="send-reset" disabled=action.pending()>
                    {move || if action.pending().get() { "Sending…" } else { "Send me a reset link" }}
                </button>
                <p class="success" role="status" data-testid="reset-sent">
                    {move || sent().then_some("If an account has this address, a reset link is on its way. It works once, within an hour.")}
                </p>
            </ActionForm>
            <p class="muted"><a href="/login">"Back to sign in"</a></p>
        </main>
    }
}
