//! `/admin/connectors`: create connectors (token shown once), rotate tokens, disable, switch
//! forwarding, and watch each connector's latest events arrive.

use std::time::Duration;

use leptos::prelude::*;

use crate::capture_api::{
    CreateConnector, EventRow, RotateConnector, SetConnectorEnabled, SetConnectorForwarding, list_connectors,
};
use crate::components::field::{Field, FormError};
use crate::components::time::short_utc;

/// How often the live views re-read the feed.
const LIVE_REFRESH: Duration = Duration::from_secs(2);

/// A counter that ticks every `every` in the browser (never on the server), to drive live reloads.
pub fn ticker(every: Duration) -> ReadSignal<u64> {
    let (tick, set_tick) = signal(0u64);
    Effect::new(move |_| {
        let _ = set_interval_with_handle(move || set_tick.update(|t| *t += 1), every);
    });
    tick
}

#[component]
pub fn ConnectorsPage() -> impl IntoView {
    let create = ServerAction::<CreateConnector>::new();
    let rotate = ServerAction::<RotateConnector>::new();
    let enabled = ServerAction::<SetConnectorEnabled>::new();
    let forwarding = ServerAction::<SetConnectorForwarding>::new();
    let tick = ticker(LIVE_REFRESH);
    let connectors = Resource::new(
        move || {
            (
                create.version().get(),
                rotate.version().get(),
                enabled.version().get(),
                forwarding.version().get(),
                tick.get(),
            )
        },
        |_| list_connectors(),
    );
    let create_error = Signal::derive(move || create.value().get().and_then(Result::err));
    // The token of the latest create or rotate, whichever happened last.
    let (issued, set_issued) = signal(None);
    Effect::new(move |_| {
        if let Some(Ok(t)) = create.value().get() {
            set_issued.set(Some(t));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(t)) = rotate.value().get() {
            set_issued.set(Some(t));
        }
    });

    view! {
        <h1>"Connectors"</h1>
        <p class="muted">
            "A connector is a collector in your source Discord server. It posts every message event to "
            <code>"/api/v1/events"</code>" with its token ("<a href="/api/v1/openapi.json">"API description"</a>")."
        </p>
        <ActionForm action=create attr:class="form">
            <Field label="New connector name" name="name" error=create_error />
            <FormError error=create_error />
            <button type="submit" class="button primary" disabled=create.pending() data-testid="create-connector">
                {move || if create.pending().get() { "Creating…" } else { "Create connector" }}
            </button>
        </ActionForm>
        {move || issued.get().map(|t| view! {
            <div class="token-panel" role="status" data-testid="issued-token">
                <p><strong>{format!("Token for {}", t.connector)}</strong>" — "{t.note}</p>
                <code class="token" data-testid="token-value">{t.token}</code>
            </div>
        })}
        <Transition fallback=|| view! { <p class="muted">"Loading connectors…"</p> }>
            {move || Suspend::new(async move {
                match connectors.await {
                    Ok(list) if list.is_empty() => view! {
                        <p class="muted" data-testid="connectors-empty">"No connectors yet. Create one above, then give its token to your collector."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="cards">
                            {list.into_iter().map(|c| {
                                let (rotate_id, enable_id, forward_id) = (c.id.clone(), c.id.clone(), c.id.clone());
                                view! {
                                    <article class="card" data-testid="connector" data-name=c.name.clone()>
                                        <header class="card-head">
                                            <h2>{c.name.clone()}</h2>
                                            <span class=if c.enabled { "badge" } else { "badge off" } data-testid="connector-state">
                                                {if c.enabled { "enabled" } else { "disabled" }}
                                            </span>
                                            <span class="badge" data-testid="connector-forwarding">
                                                {if c.forwarding { "forwarding on" } else { "forwarding off" }}
                                            </span>
                                        </header>
                                        <p class="muted">
                                            {format!(
                                                "Last seen {} · version {} · created {}",
                                                c.last_seen_at.as_deref().map(short_utc).unwrap_or_else(|| "never".into()),
                                                c.version.clone().unwrap_or_else(|| "unknown".into()),
                                                short_utc(&c.created_at),
                                            )}
                                        </p>
                                        {c.previous_token_until.as_deref().map(|t| view! {
                                            <p class="muted">{format!("Previous token still accepted until {}", short_utc(t))}</p>
                                        })}
                                        <div class="actions">
                                            <ActionForm action=rotate>
                                                <input type="hidden" name="id" value=rotate_id />
                                                <button type="submit" class="button small" data-testid="rotate">"Rotate token"</button>
                                            </ActionForm>
                                            <ActionForm action=enabled>
                                                <input type="hidden" name="id" value=enable_id />
                                                <input type="hidden" name="enabled" value=(!c.enabled).to_string() />
                                                <button type="submit" class="button small" data-testid="toggle-enabled">
                                                    {if c.enabled { "Disable" } else { "Enable" }}
                                                </button>
                                            </ActionForm>
                                            <ActionForm action=forwarding>
                                                <input type="hidden" name="id" value=forward_id />
                                                <input type="hidden" name="forwarding" value=(!c.forwarding).to_string() />
                                                <button type="submit" class="button small" data-testid="toggle-forwarding">
                                                    {if c.forwarding { "Stop forwarding" } else { "Start forwarding" }}
                                                </button>
                                            </ActionForm>
                                        </div>
                                        <LiveEvents events=c.events />
                                    </article>
                                }
                            }).collect_view()}
                        </div>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn LiveEvents(events: Vec<EventRow>) -> impl IntoView {
    view! {
        <section class="live" aria-label="Latest events">
            <h3>"Latest events"</h3>
            {if events.is_empty() {
                view! { <p class="muted" data-testid="events-empty">"Nothing ingested yet."</p> }.into_any()
            } else {
                view! {
                    <table class="table compact" data-testid="events">
                        <thead><tr><th>"#"</th><th>"When"</th><th>"What"</th><th>"Channel"</th><th>"Content"</th></tr></thead>
                        <tbody>
                            {events.into_iter().map(|e| view! {
                                <tr>
                                    <td>{e.seq}</td>
                                    <td>{short_utc(&e.at)}</td>
                                    <td>{e.op.replace('_', " ")}</td>
                                    <td>{e.channel.unwrap_or_default()}</td>
                                    <td class="excerpt">{e.excerpt}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
