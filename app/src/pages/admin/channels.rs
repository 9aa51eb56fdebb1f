//! `/admin/channels`: the guilds connectors reported, one guild's channels with their Source and
//! Target flags, "Fetch channels" (asks the guild's connector for a fresh list), and mappings
//! from source to target channels. Choosing a guild is a GET form, so it works before the wasm.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::connectors::ticker;
use crate::capture_api::{
    ChannelRow, CreateMapping, DeleteMapping, FetchChannels, ReassignGuild, SetChannelFlag, SetChannelTier,
    list_channels, list_guilds, list_mappings,
};
use crate::components::field::FormError;

#[component]
pub fn ChannelsPage() -> impl IntoView {
    let query = use_query_map();
    let selected = move || query.read().get("guild").unwrap_or_default();
    let guilds = Resource::new(|| (), |_| list_guilds());
    let flag = ServerAction::<SetChannelFlag>::new();
    let tier = ServerAction::<SetChannelTier>::new();

    view! {
        <h1>"Channels"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading guilds…"</p> }>
            {move || Suspend::new(async move {
                match guilds.await {
                    Ok(list) if list.is_empty() => view! {
                        <p class="muted" data-testid="guilds-empty">
                            "No guilds yet. They appear once a connector posts its guild snapshot."
                        </p>
                    }.into_any(),
                    Ok(list) => {
                        let current = selected();
                        view! {
                            <form method="get" action="/admin/channels" class="search">
                                <label for="guild-picker">"Guild"</label>
                                <select id="guild-picker" name="guild" data-testid="guild-picker">
                                    <option value="">"Choose a guild"</option>
                                    {list.into_iter().map(|g| {
                                        let label = if g.present { g.name.clone() } else { format!("{} (gone)", g.name) };
                                        view! { <option value=g.id.clone() selected=g.id == current>{label}</option> }
                                    }).collect_view()}
                                </select>
                                <button type="submit" class="button" data-testid="show-guild">"Show channels"</button>
                            </form>
                        }.into_any()
                    }
                    Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                }
            })}
        </Transition>
        {move || {
            let guild = selected();
            (!guild.is_empty()).then(|| view! { <GuildChannels guild flag tier /> })
        }}
        <Mappings flag tier />
    }
}

#[component]
fn GuildChannels(
    guild: String,
    flag: ServerAction<SetChannelFlag>,
    tier: ServerAction<SetChannelTier>,
) -> impl IntoView {
    let fetch = ServerAction::<FetchChannels>::new();
    let reassign = ServerAction::<ReassignGuild>::new();
    let tick = ticker(Duration::from_secs(2));
    let g = guild.clone();
    let view_data = Resource::new(
        move || {
            (
                g.clone(),
                fetch.version().get(),
                flag.version().get(),
                reassign.version().get(),
                tier.version().get(),
                tick.get(),
            )
        },
        |(g, _, _, _, _, _)| list_channels(g),
    );
    let owner_guild = guild.clone();
    let flag_error = Signal::derive(move || flag.value().get().and_then(Result::err));
    let tier_error = Signal::derive(move || tier.value().get().and_then(Result::err));
    view! {
        <section aria-labelledby="channels-title">
            <h2 id="channels-title">"Channels of this guild"</h2>
            <ActionForm action=fetch>
                <input type="hidden" name="guild" value=guild.clone() />
                <button type="submit" class="button" data-testid="fetch-channels" disabled=fetch.pending()>
                    {move || if fetch.pending().get() { "Asking…" } else { "Fetch channels" }}
                </button>
            </ActionForm>
            <p class="form-error" role="alert" data-testid="flag-error">{move || flag_error.get().map(|e| e.to_string())}</p>
            <p class="form-error" role="alert" data-testid="tier-error">{move || tier_error.get().map(|e| e.to_string())}</p>
            <Transition fallback=|| view! { <p class="muted">"Loading channels…"</p> }>
                {move || {
                let owner_guild = owner_guild.clone();
                Suspend::new(async move {
                    match view_data.await {
                        Ok(v) => {
                            let status = match v.request.as_deref() {
                                Some("pending") => "Waiting for the connector to answer…",
                                Some("answered") => "The connector answered with this guild's channels.",
                                Some("expired") => "The connector restarted before answering; fetch again.",
                                _ => "",
                            };
                            let owner = Owner {
                                guild: owner_guild.clone(),
                                current: v.owner.clone(),
                                connectors: v.connectors.clone(),
                                reassigned: v.reassigned.clone(),
                            };
                            view! {
                                <OwnerPanel owner reassign />
                                <p class="muted" role="status" data-testid="fetch-status">{status}</p>
                                {if v.channels.is_empty() {
                                    view! { <p class="muted" data-testid="channels-empty">"No channels known yet: press Fetch channels."</p> }.into_any()
                                } else {
                                    view! {
                                        <table class="table" data-testid="channels">
                                            <thead><tr><th>"Channel"</th><th>"ID"</th><th>"Type"</th><th>"Source"</th><th>"Target"</th><th>"Open to"</th></tr></thead>
                                            <tbody>
                                                {v.channels.into_iter().map(|c| {
                                                    let tiers = v.tiers.clone();
                                                    view! { <ChannelLine c flag tier tiers /> }
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    }.into_any()
                                }}
                            }.into_any()
                        }
                        Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                    }
                })
                }}
            </Transition>
        </section>
    }
}

/// Who owns the guild, and the admin's way to move it to another connector.
#[derive(Clone)]
struct Owner {
    guild: String,
    current: Option<(String, String)>,
    connectors: Vec<(String, String)>,
    reassigned: Option<String>,
}

#[component]
fn OwnerPanel(owner: Owner, reassign: ServerAction<ReassignGuild>) -> impl IntoView {
    let error = Signal::derive(move || reassign.value().get().and_then(Result::err));
    let current_id = owner.current.as_ref().map(|c| c.0.clone()).unwrap_or_default();
    view! {
        <div class="owner" data-testid="guild-owner">
            <p>"Owned by "<strong data-testid="owner-name">{owner.current.map(|c| c.1).unwrap_or_else(|| "nobody".into())}</strong>
               ": only this connector may report this guild's channels and capture, edit or delete its messages."</p>
            {owner.reassigned.map(|r| view! { <p class="muted" data-testid="reassigned">{r}</p> })}
            <ActionForm action=reassign>
                <input type="hidden" name="guild" value=owner.guild />
                <label for="reassign-to">"Reassign to"</label>
                <select id="reassign-to" name="connector" data-testid="reassign-to">
                    {owner.connectors.into_iter().filter(|c| c.0 != current_id).map(|(id, name)| view! {
                        <option value=id>{name}</option>
                    }).collect_view()}
                </select>
                <label for="reassign-reason">"Reason"</label>
                <input id="reassign-reason" name="reason" required maxlength="500" data-testid="reassign-reason" />
                <button type="submit" class="button small" data-testid="reassign" disabled=reassign.pending()>
                    {move || if reassign.pending().get() { "Reassigning…" } else { "Reassign" }}
                </button>
            </ActionForm>
            <p class="form-error" role="alert" data-testid="reassign-error">{move || error.get().map(|e| e.to_string())}</p>
        </div>
    }
}

#[component]
fn ChannelLine(
    c: ChannelRow,
    flag: ServerAction<SetChannelFlag>,
    tier: ServerAction<SetChannelTier>,
    tiers: Vec<(String, String)>,
) -> impl IntoView {
    let toggle = move |id: String, role: &'static str, on: bool| {
        let label = match (role, on) {
            ("source", true) => "Source ✓",
            ("source", false) => "Make source",
            (_, true) => "Target ✓",
            (_, false) => "Make target",
        };
        view! {
            <ActionForm action=flag>
                <input type="hidden" name="channel" value=id />
                <input type="hidden" name="role" value=role />
                <input type="hidden" name="on" value=(!on).to_string() />
                <button type="submit" class=if on { "button small primary" } else { "button small" }
                    aria-pressed=on.to_string() data-testid=format!("{role}-toggle")>
                    {label}
                </button>
            </ActionForm>
        }
    };
    let name = if c.present {
        format!("#{}", c.name)
    } else {
        format!("#{} (gone)", c.name)
    };
    let tier_label = format!("Tier that opens #{}", c.name);
    view! {
        <tr data-testid="channel" data-name=c.name.clone()>
            <td>
                {name}
                {c.warning.clone().map(|w| view! {
                    <p class="error small" role="alert" data-testid="channel-warning">{format!("Not captured: {w}")}</p>
                })}
            </td>
            <td><code>{c.id.clone()}</code></td>
            <td>{c.kind.clone()}</td>
            <td>{toggle(c.id.clone(), "source", c.is_source)}</td>
            <td>{toggle(c.id.clone(), "target", c.is_target)}</td>
            <td>
                // Who may read the channel: on a Source, which customers see its signals; on a
                // Target, who can read it in the customers' server (mappings are checked).
                <ActionForm action=tier attr:class="inline-form">
                    <input type="hidden" name="channel" value=c.id.clone() />
                    <label class="visually-hidden" for=format!("tier-{}", c.id)>{tier_label}</label>
                    <select id=format!("tier-{}", c.id) name="tier" data-testid="channel-tier">
                        <option value="" selected=c.tier_id.is_empty()>"Every tier"</option>
                        {tiers.into_iter().map(|(id, name)| {
                            let selected = id == c.tier_id;
                            view! { <option value=id selected=selected>{format!("{name} and up")}</option> }
                        }).collect_view()}
                    </select>
                    <button type="submit" class="button small" data-testid="set-tier">"Set"</button>
                </ActionForm>
            </td>
        </tr>
    }
}

#[component]
fn Mappings(flag: ServerAction<SetChannelFlag>, tier: ServerAction<SetChannelTier>) -> impl IntoView {
    let create = ServerAction::<CreateMapping>::new();
    let delete = ServerAction::<DeleteMapping>::new();
    let data = Resource::new(
        move || {
            (
                flag.version().get(),
                tier.version().get(),
                create.version().get(),
                delete.version().get(),
            )
        },
        |_| list_mappings(),
    );
    let create_error = Signal::derive(move || create.value().get().and_then(Result::err));
    let option = |c: ChannelRow| {
        view! { <option value=c.id.clone()>{format!("#{} ({}, {})", c.name, c.id, c.tier_label)}</option> }
    };
    view! {
        <section aria-labelledby="mappings-title">
            <h2 id="mappings-title">"Mappings"</h2>
            <p class="muted">"Each source channel's signals are mirrored into its mapped target channels (for connectors with forwarding on). A target must be open to no more tiers than its source, so a copy never reaches customers who may not read the original."</p>
            <Transition fallback=|| view! { <p class="muted">"Loading mappings…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(v) => view! {
                            {if v.sources.is_empty() || v.targets.is_empty() {
                                view! { <p class="muted" data-testid="mapping-hint">"Mark at least one channel Source and one Target to map them."</p> }.into_any()
                            } else {
                                view! {
                                    <ActionForm action=create attr:class="search">
                                        <label for="map-source">"From"</label>
                                        <select id="map-source" name="source" data-testid="map-source">
                                            {v.sources.into_iter().map(option).collect_view()}
                                        </select>
                                        <label for="map-target">"to"</label>
                                        <select id="map-target" name="target" data-testid="map-target">
                                            {v.targets.into_iter().map(option).collect_view()}
                                        </select>
                                        <button type="submit" class="button primary" data-testid="create-mapping">"Create mapping"</button>
                                    </ActionForm>
                                }.into_any()
                            }}
                            <FormError error=create_error />
                            <p class="field-error">{move || create_error.get().and_then(|e| e.for_field("target").or(e.for_field("source")))}</p>
                            {if v.mappings.is_empty() {
                                view! { <p class="muted" data-testid="mappings-empty">"No mappings yet."</p> }.into_any()
                            } else {
                                view! {
                                    <ul class="mapping-list" data-testid="mappings">
                                        {v.mappings.into_iter().map(|m| view! {
                                            <li data-testid="mapping">
                                                <span>{format!("{} → {}", m.source, m.target)}</span>
                                                <ActionForm action=delete>
                                                    <input type="hidden" name="id" value=m.id.clone() />
                                                    <button type="submit" class="button small" data-testid="delete-mapping">"Remove"</button>
                                                </ActionForm>
                                            </li>
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }}
                        }.into_any(),
                        Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
