//! `/unsubscribe?token=…`: the link in a reminder. Turning reminders off is a button (a POST),
//! never merely opening the page, so a mail scanner that fetches links cannot switch them off.
//! Mail clients' own one-click button POSTs to `/unsubscribe/one-click` instead (RFC 8058).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::field::FormError;
use crate::reminders_api::Unsubscribe;

#[component]
pub fn UnsubscribePage() -> impl IntoView {
    let action = ServerAction::<Unsubscribe>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let token_error = move || error.get().and_then(|e| e.for_field("token"));
    let off = move || query.read().get("off");
    view! {
        <main class="page narrow" id="main">
            <h1>"Reminders before your access ends"</h1>
            {move || match off().as_deref() {
                Some(channel) => view! {
                    <p class="success" role="status" data-testid="unsubscribed">
                        {if channel == "discord" {
                            "Done: Discord reminders are off. Nothing else changed."
                        } else {
                            "Done: e-mail reminders are off. Nothing else changed."
                        }}
                    </p>
                    <p class="muted">"Changed your mind? Turn them back on on " <a href="/account#reminders">"your account"</a> "."</p>
                }.into_any(),
                None => view! {
                    <p>"We remind you a few days before your access ends, so your signals do not stop by surprise. One click turns these reminders off."</p>
                    <ActionForm action=action attr:class="form">
                        <input type="hidden" name="token" value=token />
                        <p class="form-error" role="alert" data-testid="error-token">{token_error}</p>
                        <FormError error=error />
                        <button type="submit" class="button primary" data-testid="unsubscribe" disabled=action.pending()>
                            {move || if action.pending().get() { "Turning off…" } else { "Turn these reminders off" }}
                        </button>
                    </ActionForm>
                }.into_any(),
            }}
        </main>
    }
}
