//! The landing page: what the product is, the plans on sale, the way in, and a live status check.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::branding::Branding;
use crate::plans::list_plans;
use crate::status::CheckStatus;

#[component]
pub fn HomePage() -> impl IntoView {
    let branding = expect_context::<Branding>();
    let plans = Resource::new(|| (), |_| list_plans());

    view! {
        <main class="page">
            <header class="hero">
                <h1 data-testid="product-name">{branding.app_name.clone()}</h1>
                <p class="tagline">
                    "Every signal from the source channels, on your screen and in your Discord the moment it is posted. "
                    "Edits and deletions follow in real time."
                </p>
                <nav class="cta">
                    <A href="/login" attr:class="button primary">"Sign in"</A>
                    <A href="/dashboard" attr:class="button">"Dashboard"</A>
                </nav>
            </header>

            <section class="plans" aria-labelledby="plans-title">
                <h2 id="plans-title">"Plans"</h2>
                <Suspense fallback=|| view! { <p class="muted">"Loading plans…"</p> }>
                    {move || Suspend::new(async move {
                        match plans.await {
                            Ok(list) if list.is_empty() => view! {
                                <p class="muted">"No plans are on sale right now."</p>
                            }.into_any(),
                            Ok(list) => view! {
                                <ul class="plan-list">
                                    {list.into_iter().map(|p| view! {
                                        <li class="plan" data-plan=p.slug>
                                            <h3>{p.name}</h3>
                                            <p>{p.description}</p>
                                            <ChannelList channels=p.channels />
                                        </li>
                                    }).collect_view()}
                                </ul>
                            }.into_any(),
                            Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                        }
                    })}
                </Suspense>
            </section>

            <StatusCheck />
        </main>
    }
}

/// The channels a plan opens, or a plain note while none is set up.
#[component]
pub fn ChannelList(channels: Vec<String>) -> impl IntoView {
    if channels.is_empty() {
        view! { <p class="muted" data-testid="plan-channels">"Channels are being set up."</p> }.into_any()
    } else {
        let names = channels.iter().map(|c| format!("#{c}")).collect::<Vec<_>>().join(", ");
        view! { <p data-testid="plan-channels">{format!("Channels: {names}")}</p> }.into_any()
    }
}

/// A form that works as a plain POST before the wasm loads, and inline (with a pending state) after.
#[component]
fn StatusCheck() -> impl IntoView {
    let check = ServerAction::<CheckStatus>::new();
    let pending = check.pending();
    let result = check.value();

    view! {
        <section class="status" aria-live="polite">
            <h2>"Service status"</h2>
            <ActionForm action=check>
                <button type="submit" class="button" data-testid="check-status" disabled=pending>
                    {move || if pending.get() { "Checking…" } else { "Check status" }}
                </button>
            </ActionForm>
            <p data-testid="status-result">
                {move || match result.get() {
                    None => String::new(),
                    Some(Ok(r)) => format!(
                        "Operational: {} database answered in {:.1} ms, {} plans on sale.",
                        r.database, r.database_ms, r.plans
                    ),
                    Some(Err(e)) => format!("Unavailable: {e}"),
                }}
            </p>
        </section>
    }
}
