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
use crate::dashboard_api::{
    AccessCard, AttachmentCard, ChangeCard, DashboardView, RevisionCard, SearchForm, SignalCard, TradeCard, dashboard,
};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let before = move || query.read().get("before").and_then(|b| b.parse::<i64>().ok());
    let search = move || {
        let q = query.read();
        let get = |k: &str| q.get(k).unwrap_or_default();
        let form = SearchForm {
            q: get("q"),
            channel: get("channel"),
            pair: get("pair"),
            side: get("side"),
        };
        (!form.is_empty()).then_some(form)
    };
    let data = Resource::new(
        move || (before(), search()),
        |(before, search)| dashboard(before, search),
    );
    // The feed's state, shown in the header too.
    let not_live = before().is_some() || search().is_some();
    let live = crate::components::desk_nav::LiveState(RwSignal::new(if not_live { "paused" } else { "connecting" }));
    provide_context(live);
    view! {
        <crate::components::desk_nav::DeskNav current="dashboard" />
        <main class="page wide" id="main">
            <Suspense fallback=|| view! { <p class="muted">"Loading your feed…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(v) => {
                            let paging = before().is_some() || v.search.is_some();
                            view! { <DashboardBody v paging state=live.0 /> }.into_any()
                        }
                        Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn DashboardBody(v: DashboardView, paging: bool, state: RwSignal<&'static str>) -> impl IntoView {
    match v.access.clone() {
        None => view! { <Plans v /> }.into_any(),
        Some(access) => view! { <Feed v access paging state /> }.into_any(),
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
/// `state` is the page's (the header shows it too); passed in, as context does not reach
/// through the page's `Suspend`.
fn Feed(v: DashboardView, access: AccessCard, paging: bool, state: RwSignal<&'static str>) -> impl IntoView {
    let searching = v.search.is_some();
    let form = v.search.clone().unwrap_or_default();
    let older_href = v.older.map(|id| match &v.search {
        Some(s) => format!("/dashboard?{}&before={id}", s.query_string()),
        None => format!("/dashboard?before={id}"),
    });
    let cards = RwSignal::new(v.signals);
    state.set(if paging { "paused" } else { "connecting" });
    let ended = RwSignal::new(access.seconds_left <= 0);
    let alerts = crate::components::alerts_panel::Alerts::new();
    provide_context(alerts);
    #[cfg(feature = "hydrate")]
    if !paging {
        let live = crate::live_feed::Live {
            cards,
            state,
            ended,
            alerts,
        };
        let head = v.head;
        Effect::new(move |_| crate::live_feed::follow(head, live));
    }
    let label = move || match state.get() {
        "paused" if searching => "Search results (not live)",
        "paused" => "Older signals (not live)",
        other => crate::components::desk_nav::live_label(other),
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
        {(!paging).then(|| view! { <crate::components::alerts_panel::AlertsPanel alerts channels=v.channels.clone() /> })}
        <SearchBox form channels=v.channels.clone() />
        {move || (cards.with(Vec::is_empty)).then(|| if searching {
            view! {
                <p class="muted" data-testid="search-empty">
                    "Nothing matches. Try fewer words, another channel or no side, or "
                    <a href="/dashboard">"go back to the live feed"</a>"."
                </p>
            }.into_any()
        } else {
            view! {
                <p class="muted" data-testid="feed-empty">"No signals yet. New ones appear here the moment they are posted."</p>
            }.into_any()
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
        {older_href.map(|href| view! { <p><a href=href data-testid="older">{if searching { "Older results →" } else { "Older signals →" }}</a></p> })}
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
    // Arrived while the tab was hidden.
    let fresh = {
        let alerts = use_context::<crate::components::alerts_panel::Alerts>();
        let id = c.id;
        move || alerts.and_then(|a| a.fresh.with(|f| f.contains(&id)).then_some("true"))
    };
    let place = match &c.thread {
        Some(t) if !t.is_empty() => format!("#{} › {t}", c.channel),
        _ => format!("#{}", c.channel),
    };
    view! {
        <li class="signal" data-testid="signal" data-id=c.id.to_string() data-state=state data-new=fresh>
            <header class="signal-head">
                {move || fresh().map(|_| view! { <span class="new-badge" data-testid="new-since">"New since you looked"</span> })}
                <span class="channel">{place}</span>
                // Decorative: the name beside it says who posted. No referrer: Discord's CDN learns nothing of our pages.
                {c.avatar_url.clone().map(|src| view! {
                    <img class="avatar" data-testid="avatar" src=src alt="" width="24" height="24"
                        loading="lazy" referrerpolicy="no-referrer" />
                })}
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
                    {c.trade.clone().map(|t| view! { <TradeLine t /> })}
                    {(!c.changes.is_empty()).then(|| view! { <LevelChanges changes=c.changes.clone() /> })}
                    <MessageBody content=c.content.clone() names=c.mentions.clone() />
                    <Embeds embeds=crate::embed::embeds(&serde_json::Value::Array(c.embeds.clone())) names=c.mentions.clone() />
                    <div class="attachments">
                        {c.attachments.into_iter().map(|a| view! { <Attachment a /> }).collect_view()}
                    </div>
                    {(!c.history.is_empty()).then(|| view! { <History history=c.history.clone() names=c.mentions.clone() /> })}
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

/// The search form: a plain GET form, so it works before the wasm loads and its URL can be shared.
#[component]
fn SearchBox(form: SearchForm, channels: Vec<(String, String)>) -> impl IntoView {
    let side = form.side.clone();
    view! {
        <form class="search" method="get" action="/dashboard" role="search" data-testid="search">
            <label>"Search" <input type="search" name="q" value=form.q.clone() maxlength="200"
                placeholder="e.g. ETH breakout" data-testid="search-q" /></label>
            <label>"Channel"
                <select name="channel" data-testid="search-channel">
                    <option value="">"All channels"</option>
                    {channels.into_iter().map(|(id, name)| {
                        let selected = id == form.channel;
                        view! { <option value=id selected=selected>{format!("#{name}")}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>"Pair" <input type="text" name="pair" value=form.pair.clone() maxlength="24"
                placeholder="BTC/USDT" data-testid="search-pair" /></label>
            <label>"Side"
                <select name="side" data-testid="search-side">
                    <option value="" selected=side.is_empty()>"Any"</option>
                    <option value="long" selected=side == "long">"Long / buy"</option>
                    <option value="short" selected=side == "short">"Short / sell"</option>
                </select>
            </label>
            <button class="button" type="submit">"Search"</button>
        </form>
    }
}

/// "BTC/USDT LONG · Entry 64,000–64,500 · TP 65,200 / 66,000 · SL 62,900".
#[component]
fn TradeLine(t: TradeCard) -> impl IntoView {
    let join = |levels: &[crate::dashboard_api::LevelCard], sep: &str| {
        levels.iter().map(|l| l.text.clone()).collect::<Vec<_>>().join(sep)
    };
    let direction = if matches!(t.side.as_str(), "long" | "buy") {
        "long"
    } else {
        "short"
    };
    view! {
        <p class="trade" data-testid="trade">
            <strong class="pair" data-testid="trade-pair">{t.pair.clone()}</strong>
            " "
            <span class=format!("side {direction}") data-testid="trade-side">{t.side.to_uppercase()}</span>
            {(!t.entry.is_empty()).then(|| view! { <span class="level">" · Entry "{join(&t.entry, "–")}</span> })}
            {(!t.targets.is_empty()).then(|| view! { <span class="level" data-testid="trade-targets">" · TP "{join(&t.targets, " / ")}</span> })}
            {t.stop.clone().map(|s| view! { <span class="level" data-testid="trade-stop">" · SL "{s.text}</span> })}
        </p>
    }
}

#[component]
fn LevelChanges(changes: Vec<ChangeCard>) -> impl IntoView {
    view! {
        <p class="level-changes" data-testid="level-changes">
            {changes.into_iter().map(|c| view! {
                <span class="level-change" data-testid="level-change">{format!("{} {} → {}", c.label, c.from, c.to)}</span>
            }).collect_view()}
        </p>
    }
}

/// Earlier versions, newest first: a `<details>`, so it opens without the wasm too.
#[component]
fn History(history: Vec<RevisionCard>, names: crate::components::message_body::Names) -> impl IntoView {
    let count = history.len();
    view! {
        <details class="history" data-testid="history">
            <summary>{format!("Edit history ({count} earlier version{})", if count == 1 { "" } else { "s" })}</summary>
            <ol>
                {history.into_iter().map(|r| {
                    let label = match &r.edited_at {
                        Some(at) => format!("Edited {} · replaced {}", short_utc(at), short_utc(&r.replaced_at)),
                        None => format!("Original · replaced {}", short_utc(&r.replaced_at)),
                    };
                    view! {
                        <li data-testid="revision">
                            <p class="muted">{label}</p>
                            <MessageBody content=r.content names=names.clone() testid="revision-content" />
                            <Embeds embeds=crate::embed::embeds(&serde_json::Value::Array(r.embeds)) names=names.clone() />
                        </li>
                    }
                }).collect_view()}
            </ol>
        </details>
    }
}
