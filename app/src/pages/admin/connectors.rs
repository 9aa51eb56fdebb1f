//! `/admin/connectors`: create connectors (token shown once), rotate tokens, disable, switch
//! forwarding, and watch each connector's latest events arrive.

use std::time::Duration;

use leptos::prelude::*;

use crate::capture_api::{
    CaptureView, CreateConnector, EventRow, RotateConnector, SetConnectorEnabled, SetConnectorForwarding,
    list_connectors,
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
                                            <span class="badge" data-testid="connector-kind">{c.kind.clone()}</span>
                                        </header>
                                        {c.alert.clone().map(|a| view! {
                                            <p class="error" role="alert" data-testid="connector-alert">{a}</p>
                                        })}
                                        {c.capture.clone().map(|cap| view! { <CaptureState cap=cap /> })}
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
                                            {(!c.builtin).then(|| view! {
                                                <ActionForm action=rotate>
                                                    <input type="hidden" name="id" value=rotate_id />
                                                    <button type="submit" class="button small" data-testid="rotate">"Rotate token"</button>
                                                </ActionForm>
                                            })}
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
                    Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The built-in connector's capture: which bot process captures, how fast, and how to invite it.
#[component]
fn CaptureState(cap: CaptureView) -> impl IntoView {
    let holder = match &cap.holder {
        Some((who, since)) => format!(
            "Capturing from the gateway: bot process {who} since {}",
            short_utc(since)
        ),
        None => {
            "Not capturing: no bot process holds the capture (is the bot running with DISCORD_BOT_TOKEN?)".to_owned()
        }
    };
    let latency = match cap.latency {
        Some((p50, p95, n)) => format!("Capture latency, last hour: p50 {p50:.0} ms · p95 {p95:.0} ms ({n} messages)"),
        None => "Capture latency, last hour: no messages captured".to_owned(),
    };
    view! {
        <p class="muted" data-testid="capture-holder">{holder}</p>
        <p class="muted" data-testid="capture-latency">{latency}</p>
        {cap.invite_url.map(|url| view! {
            <p class="muted">
                <a href=url.clone() rel="noopener" target="_blank" data-testid="invite-url">"Invite the bot to a server"</a>
                " (asks for View Channel, Read Message History, Send Messages, Embed Links, Attach Files, threads and Manage Roles; switch on the Message Content intent in the Developer Portal)"
            </p>
        })}
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
