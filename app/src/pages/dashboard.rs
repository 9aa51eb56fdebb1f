//! `/dashboard`: with access, the latest signals (server-rendered, readable before the wasm
//! loads) followed live over the websocket — new signals on top, edits in place with an
//! "edited" mark, deletes shown as deleted at source; the access panel counts down and the page
//! says when access ends. Without access: the plans and where to buy.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::countdown::Countdown;
use crate::components::embed_view::Embeds;
use crate::components::message_body::MessageBody;
use crate::components::time::{PostedAt, short_utc};
use crate::dashboard_api::{AccessCard, AttachmentCard, DashboardView, SignalCard, dashboard};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let before = move || query.read().get("before").and_then(|b| b.parse::<i64>().ok());
    let data = Resource::new(before, dashboard);
    view! {
        <main class="page wide">
            <Suspense fallback=|| view! { <p class="muted">"Loading your feed…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(v) => view! { <DashboardBody v paging=before().is_some() /> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn DashboardBody(v: DashboardView, paging: bool) -> impl IntoView {
    match v.access.clone() {
        None => view! { <Plans v /> }.into_any(),
        Some(access) => view! { <Feed v access paging /> }.into_any(),
    }
}

#[component]
fn Plans(v: DashboardView) -> impl IntoView {
    view! {
        <h1>"Get access to the signals"</h1>
        <p data-testid="no-access">"You have no active access. Pick a plan:"</p>
        <ul class="plan-list" data-testid="plans">
            {v.plans.into_iter().map(|p| view! {
                <li class="plan">
                    <h3>{p.tier}</h3>
                    <p>{format!("{} days", p.days)}</p>
                    <crate::pages::home::ChannelList channels=p.channels />
                </li>
            }).collect_view()}
        </ul>
        {v.storefront_url.map(|u| view! {
            <p><a class="button primary" href=u rel="noopener noreferrer" data-testid="storefront">"Buy access"</a></p>
        })}
    }
}

#[component]
fn Feed(v: DashboardView, access: AccessCard, paging: bool) -> impl IntoView {
    let cards = RwSignal::new(v.signals);
    let state = RwSignal::new(if paging { "paused" } else { "connecting" });
    let ended = RwSignal::new(access.seconds_left <= 0);
    #[cfg(feature = "hydrate")]
    if !paging {
        let live = crate::live_feed::Live { cards, state, ended };
        let head = v.head;
        Effect::new(move |_| crate::live_feed::follow(head, live));
    }
    let label = move || match state.get() {
        "live" => "Live",
        "reconnecting" => "Reconnecting…",
        "resyncing" => "Resyncing…",
        "ended" => "Stopped",
        "signed_out" => "Signed out",
        "paused" => "Older signals (not live)",
        _ => "Connecting…",
    };
    view! {
        <header class="feed-head">
            <h1>"Signals"</h1>
            <p class="connection" data-testid="connection" data-state=move || state.get() role="status">{label}</p>
        </header>
        <section class="access-panel" data-testid="access-panel">
            <p><strong data-testid="access-tier">{access.tier}</strong>
               {format!(" · access until {} · ", short_utc(&access.ends_at))}
               <Countdown seconds=access.seconds_left /> " left"</p>
            <p class="muted" data-testid="open-channels">
                {if access.channels.is_empty() {
                    "No channel is open to your tier yet.".to_owned()
                } else {
                    format!("Your tier opens {}.", access.channels.iter().map(|c| format!("#{c}")).collect::<Vec<_>>().join(", "))
                }}
            </p>
            {(!access.locked.is_empty()).then(|| view! {
                <p class="muted" data-testid="locked-channels">
                    {format!(
                        "Upgrade to read {}.",
                        access.locked.iter().map(|(c, t)| format!("#{c} ({t})")).collect::<Vec<_>>().join(", ")
                    )}
                </p>
            })}
            {move || match (ended.get(), state.get()) {
                (true, "signed_out") => Some(view! {
                    <p class="error" role="alert" data-testid="signed-out">
                        "You were signed out on this browser: the feed has stopped. "
                        <a href="/login?next=/dashboard">"Sign in again"</a>
                    </p>
                }.into_any()),
                (true, _) => Some(view! {
                    <p class="error" role="alert" data-testid="access-ended">"Your access has ended: the feed has stopped. Renew to continue."</p>
                }.into_any()),
                _ => None,
            }}
        </section>
        {move || (cards.with(Vec::is_empty)).then(|| view! {
            <p class="muted" data-testid="feed-empty">"No signals yet. New ones appear here the moment they are posted."</p>
        })}
        <ol class="feed" data-testid="feed">
            <For
                each=move || cards.get()
                // Whatever changes a card's face: an edit, a delete, an attachment now stored.
                key=|c| (
                    c.id,
                    c.edited_at.clone(),
                    c.deleted_at.clone(),
                    c.content.clone(),
                    serde_json::to_string(&c.embeds).unwrap_or_default(),
                    c.attachments.iter().map(|a| a.state.clone()).collect::<Vec<_>>(),
                )
                children=|c| view! { <SignalItem c /> }
            />
        </ol>
        {v.older.map(|id| view! { <p><a href=format!("/dashboard?before={id}") data-testid="older">"Older signals →"</a></p> })}
        {paging.then(|| view! { <p><a href="/dashboard">"← Back to the live feed"</a></p> })}
    }
}

#[component]
fn SignalItem(c: SignalCard) -> impl IntoView {
    let state = if c.deleted_at.is_some() {
        "deleted"
    } else if c.edited_at.is_some() {
        "edited"
    } else {
        "live"
    };
    let place = match &c.thread {
        Some(t) if !t.is_empty() => format!("#{} › {t}", c.channel),
        _ => format!("#{}", c.channel),
    };
    view! {
        <li class="signal" data-testid="signal" data-id=c.id.to_string() data-state=state>
            <header class="signal-head">
                <span class="channel">{place}</span>
                <strong class="author">{c.author.clone()}</strong>
                {c.posted_at.clone().map(|rfc3339| view! { <PostedAt rfc3339 /> })}
                {c.edited_at.as_deref().filter(|_| c.deleted_at.is_none()).map(|t| view! {
                    <span class="edited" data-testid="edited">{format!("edited {}", short_utc(t))}</span>
                })}
            </header>
            {match c.deleted_at.as_deref() {
                Some(at) => view! {
                    <p class="deleted" data-testid="deleted">{format!("Deleted at source {}", short_utc(at))}</p>
                }.into_any(),
                None => view! {
                    <MessageBody content=c.content.clone() names=c.mentions.clone() />
                    <Embeds embeds=crate::embed::embeds(&serde_json::Value::Array(c.embeds.clone())) names=c.mentions.clone() />
                    <div class="attachments">
                        {c.attachments.into_iter().map(|a| view! { <Attachment a /> }).collect_view()}
                    </div>
                }.into_any(),
            }}
        </li>
    }
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{} KB", b / 1024),
        b => format!("{b} B"),
    }
}

#[component]
fn Attachment(a: AttachmentCard) -> impl IntoView {
    let kind = a.content_type.clone().unwrap_or_else(|| "unknown type".into());
    match (a.display.as_str(), a.url.clone()) {
        ("inline", Some(url)) => view! {
            <img class="inline-image" data-testid="attachment-inline" src=url alt=a.filename.clone()
                width=a.width.map(|w| w.to_string()) height=a.height.map(|h| h.to_string()) loading="lazy" />
        }.into_any(),
        ("link", Some(url)) => view! {
            <a class="file" data-testid="attachment-link" href=url rel="noopener noreferrer" target="_blank">
                {format!("{} ({kind}, {})", a.filename, human_size(a.size))}
            </a>
        }.into_any(),
        ("blocked", _) => view! {
            <span class="file blocked" data-testid="attachment-blocked">{format!("{} — blocked: this type is never opened here", a.filename)}</span>
        }.into_any(),
        _ if a.state == "pending" => view! {
            <span class="file muted" data-testid="attachment-pending">{format!("{} — being saved…", a.filename)}</span>
        }.into_any(),
        _ => view! {
            <span class="file muted" data-testid="attachment-unavailable">{format!("{} — unavailable", a.filename)}</span>
        }.into_any(),
    }
}
