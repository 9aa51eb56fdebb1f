//! `/sign-in-link?token=…`: the one-time sign-in link mailed while password sign-in of the
//! account is paused (too many wrong passwords from elsewhere). It names the account and signs
//! in with a button (a POST), never merely by opening the page.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::account_api::{SignInWithLink, link_owner};
use crate::components::field::FormError;

#[component]
pub fn SignInLinkPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let owner = Resource::new(token, |t| link_owner(t, "signin".into()));
    let action = ServerAction::<SignInWithLink>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let token_error = move || error.get().and_then(|e| e.for_field("token"));
    view! {
        <main class="page narrow" id="main">
            <h1>"Sign in"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match owner.await {
                        Ok(o) => view! {
                            <p data-testid="sign-in-account">"Sign in as " <strong>{o.email}</strong> ", without a password, this once."</p>
                            <p class="form-error" role="alert" data-testid="error-token">{token_error}</p>
                            <FormError error=error />
                            <ActionForm action=action attr:class="form">
                                <input type="hidden" name="token" value=token() />
                                <button type="submit" class="button primary" data-testid="sign-in-with-link" disabled=action.pending()>
                                    {move || if action.pending().get() { "Signing in…" } else { "Sign me in" }}
                                </button>
                            </ActionForm>
                            <p class="muted">"Someone tried many wrong passwords for this account. If you know yours, change it on your account page after signing in."</p>
                        }.into_any(),
                        Err(e) => view! {
                            <p class="form-error" role="alert" data-testid="error-token">{e.to_string()}</p>
                            <p class="muted"><a href="/login">"Back to sign-in"</a></p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}
