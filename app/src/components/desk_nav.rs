//! The customer's header, the same on every customer page: where they are, the other page,
//! signing out, and — on the dashboard — whether the feed is live. Plain links and a plain form:
//! it works before the wasm loads.

use leptos::prelude::*;

use crate::account_api::SignOut;

/// The feed's connection state, when the page has a feed (the dashboard provides it).
#[derive(Clone, Copy)]
pub struct LiveState(pub RwSignal<&'static str>);

pub fn live_label(state: &str) -> &'static str {
    match state {
        "live" => "Live",
        "reconnecting" => "Reconnecting…",
        "resyncing" => "Resyncing…",
        "ended" => "Stopped",
        "signed_out" => "Signed out",
        "paused" => "Not live",
        _ => "Connecting…",
    }
}

#[component]
pub fn DeskNav(current: &'static str) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let live = use_context::<LiveState>();
    let here = move |page: &str| (page == current).then_some("page");
    view! {
        <crate::components::skip_link::SkipLink />
        <nav class="desk-nav" aria-label="Your desk" data-testid="desk-nav">
            <a href="/dashboard" aria-current=here("dashboard")>"Dashboard"</a>
            <a href="/account" aria-current=here("account")>"Account"</a>
            {live.map(|LiveState(state)| view! {
                <span class="live-state" data-testid="live-state" data-state=move || state.get()>
                    {move || live_label(state.get())}
                </span>
            })}
            <ActionForm action=sign_out attr:class="desk-sign-out">
                <button type="submit" class="button small" data-testid="nav-sign-out">"Sign out"</button>
            </ActionForm>
        </nav>
    }
}
