//! `/verify-email?token=…`: the link from the verification mail. It names the account it
//! confirms and asks: "Confirm, this is me" proves the address (and signs this browser in),
//! "This wasn't me" deletes the account, which was never confirmed. Both are buttons (POSTs),
//! never merely opening the page, so a mail scanner that fetches links changes nothing.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::account_api::{NotMe, VerifyEmail, link_owner};
use crate::components::field::FormError;

#[component]
pub fn VerifyEmailPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let deleted = move || query.read().get("deleted").is_some();
    let owner = Resource::new(token, |t| link_owner(t, "verify".into()));
    view! {
        <main class="page narrow" id="main">
            <h1>"Confirm your e-mail"</h1>
            {move || if deleted() {
                view! {
                    <p class="success" role="status" data-testid="account-deleted">
                        "Done: that account is deleted, and every browser signed in to it is signed out. Nothing was charged to you, and nothing else changed."
                    </p>
                }.into_any()
            } else {
                view! {
                    <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                        {move || Suspend::new(async move {
                            match owner.await {
                                Ok(o) => view! { <Choice token=token() email=o.email created=o.created_at /> }.into_any(),
                                Err(e) => view! {
                                    <p class="form-error" role="alert" data-testid="error-token">{e.to_string()}</p>
                                    <p class="muted">"Signed in? Ask for a new link on " <a href="/account">"your account"</a> "."</p>
                                }.into_any(),
                            }
                        })}
                    </Suspense>
                }.into_any()
            }}
        </main>
    }
}

#[component]
fn Choice(token: String, email: String, created: String) -> impl IntoView {
    let confirm = ServerAction::<VerifyEmail>::new();
    let not_me = ServerAction::<NotMe>::new();
    let error = Signal::derive(move || {
        confirm
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| not_me.value().get().and_then(Result::err))
    });
    let token_error = move || error.get().and_then(|e| e.for_field("token"));
    let day = created.get(..10).unwrap_or_default().to_owned();
    let again = token.clone();
    view! {
        <p data-testid="verify-account">
            "This link confirms " <strong>{email}</strong> " for the account made on " {day} " (UTC). "
            "Confirming signs this browser in, signs out every other one, and unlinks any Discord account linked before, so nothing anyone else set up stays."
        </p>
        <p class="form-error" role="alert" data-testid="error-token">{token_error}</p>
        <FormError error=error />
        <ActionForm action=confirm attr:class="form">
            <input type="hidden" name="token" value=token />
            <button type="submit" class="button primary" data-testid="verify-email" disabled=confirm.pending()>
                {move || if confirm.pending().get() { "Confirming…" } else { "Confirm, this is me" }}
            </button>
        </ActionForm>
        <ActionForm action=not_me attr:class="form">
            <input type="hidden" name="token" value=again />
            <p class="muted">"Did not sign up? Then someone else used your address."</p>
            <button type="submit" class="button" data-testid="not-me" disabled=not_me.pending()>
                {move || if not_me.pending().get() { "Deleting…" } else { "This wasn't me: delete that account" }}
            </button>
        </ActionForm>
    }
}
