//! The account page's Discord section: link (OAuth on Discord's own page), the linked account,
//! unlink, and what happened on the way back. Plain forms posting to the server's OAuth routes,
//! so it works before the page's wasm has loaded.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::account_api::discord_status;

/// The words for each outcome the OAuth routes send back (`?discord=…` / `?discord_error=…`).
fn outcome_message(ok: Option<&str>, error: Option<&str>) -> Option<(bool, &'static str)> {
    if let Some(e) = error {
        return Some((
            false,
            match e {
                "cancelled" => "Discord linking was cancelled. Nothing changed.",
                "taken" => {
                    "That Discord account is already linked to another account here. Sign in to that account to unlink it first, or link a different Discord account."
                }
                "state_used" => "That Discord sign-in link was already used. Press “Link Discord” to start again.",
                "state_expired" => {
                    "That Discord sign-in took longer than 10 minutes. Press “Link Discord” to start again."
                }
                "state_other_session" => {
                    "That Discord sign-in was started in another browser session. Press “Link Discord” to start again here."
                }
                "state_unknown" => "That Discord sign-in is unknown. Press “Link Discord” to start again.",
                "exchange_failed" => "Discord did not confirm the sign-in. Press “Link Discord” to try again.",
                "discord_unreachable" => "Discord could not be reached. Try again in a minute.",
                "not_configured" => "Discord linking is not set up on this site yet.",
                "unverified" => "Confirm your e-mail first (the link in the mail we sent you), then link Discord.",
                _ => "Something went wrong while linking Discord. Try again in a minute.",
            },
        ));
    }
    match ok {
        Some("linked") => Some((
            true,
            "Discord linked. Your tier role arrives in the server within moments.",
        )),
        Some("unlinked") => Some((
            true,
            "Discord unlinked. Tier roles are being removed from that account.",
        )),
        _ => None,
    }
}

#[component]
pub fn DiscordPanel() -> impl IntoView {
    let status = Resource::new(|| (), |_| discord_status());
    let query = use_query_map();
    let message = move || {
        let q = query.get();
        outcome_message(q.get("discord").as_deref(), q.get("discord_error").as_deref()).map(|(ok, text)| {
            view! { <p class=if ok { "success" } else { "error" } role="status" data-testid="discord-message">{text}</p> }
        })
    };
    view! {
        <section id="discord" aria-labelledby="discord-title" data-testid="discord-panel">
            <h2 id="discord-title">"Discord"</h2>
            {message}
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(s) if !s.configured => view! {
                            <p class="muted">"Discord linking is not set up on this site yet."</p>
                        }.into_any(),
                        Ok(s) if !s.email_verified => view! {
                            <p class="muted" data-testid="discord-needs-verified">"Confirm your e-mail first: Discord can be linked once the address is proven yours (use the link in the mail we sent you)."</p>
                        }.into_any(),
                        Ok(s) => match s.linked {
                            Some(name) => view! {
                                <p data-testid="discord-linked">"Linked to Discord account "<strong>{name}</strong>"."</p>
                                <form method="post" action="/account/discord/unlink">
                                    <button type="submit" class="button" data-testid="discord-unlink">"Unlink Discord"</button>
                                </form>
                            }.into_any(),
                            None => view! {
                                <p class="muted">"Link your Discord account to get your tier's role in our server."</p>
                                <form method="post" action="/account/discord/link">
                                    <button type="submit" class="button primary" data-testid="discord-link">"Link Discord"</button>
                                </form>
                            }.into_any(),
                        },
                        Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
