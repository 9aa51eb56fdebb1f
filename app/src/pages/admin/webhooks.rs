//! `/admin/webhooks`: payment events that could not be processed, with their payload, the last
//! error and attempt count, and replay (one, or all). Replaying is idempotent.

use leptos::prelude::*;

use crate::components::time::short_utc;
use crate::payments_api::{FAILURES_PAGE, ReplayFailures, list_failures};

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let replay = ServerAction::<ReplayFailures>::new();
    let failures = Resource::new(move || replay.version().get(), |_| list_failures());
    view! {
        <h1>"Webhook failures"</h1>
        <p class="muted">"Sell.app events that could not be applied. Fix the cause (often a missing access policy), then replay."</p>
        <p role="status" class="success" data-testid="replay-result">
            {move || replay.value().get().and_then(Result::ok).map(|n| format!("{n} event(s) queued again."))}
        </p>
        <Transition fallback=|| view! { <p class="muted">"Loading failures…"</p> }>
            {move || Suspend::new(async move {
                match failures.await {
                    Ok(list) if list.is_empty() => view! {
                        <p class="muted" data-testid="failures-empty">"No failed webhook events."</p>
                    }.into_any(),
                    Ok(list) => {
                        let count = list.len();
                        // The inbox lists the newest page; "Replay all" replays every failed event.
                        let label = if count as u64 >= FAILURES_PAGE { "Replay all failed events".to_owned() } else { format!("Replay all {count}") };
                        view! {
                        <ActionForm action=replay>
                            <input type="hidden" name="id" value="all" />
                            <button type="submit" class="button" data-testid="replay-all">{label}</button>
                        </ActionForm>
                        {(count as u64 >= FAILURES_PAGE).then(|| view! { <p class="muted">{format!("Showing the newest {count}.")}</p> })}
                        <div class="cards">
                            {list.into_iter().map(|f| view! {
                                <article class="card" data-testid="failure">
                                    <header class="card-head">
                                        <h2>{format!("{} #{}", f.event, f.resource_id)}</h2>
                                        <span class="muted">{format!("received {} · {} attempt(s)", short_utc(&f.received_at), f.attempts)}</span>
                                    </header>
                                    <p class="error" data-testid="failure-error">{f.last_error}</p>
                                    <details><summary>"Payload"</summary><pre class="payload">{f.payload}</pre></details>
                                    <ActionForm action=replay>
                                        <input type="hidden" name="id" value=f.id />
                                        <button type="submit" class="button small" data-testid="replay">"Replay"</button>
                                    </ActionForm>
                                </article>
                            }).collect_view()}
                        </div>
                        }.into_any()
                    }
                    Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                }
            })}
        </Transition>
    }
}
