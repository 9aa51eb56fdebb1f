//! `/admin/discord`: the bot processes and what they report, the customers' server with its
//! roles (position, and whether the bot can give each), and the tier → roles mapping.

use leptos::prelude::*;

use crate::components::field::FormError;
use crate::components::time::short_utc;
use crate::discord_admin_api::{ResyncEveryone, SetTierRoles, discord_admin};

#[component]
pub fn DiscordPage() -> impl IntoView {
    let set = ServerAction::<SetTierRoles>::new();
    let resync = ServerAction::<ResyncEveryone>::new();
    let data = Resource::new(move || set.version().get(), |_| discord_admin());
    let set_error = Signal::derive(move || set.value().get().and_then(Result::err));
    view! {
        <h1>"Discord"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! {
                        <section aria-labelledby="bots-title">
                            <h2 id="bots-title">"Bot"</h2>
                            {if d.bots.is_empty() {
                                view! { <p class="muted" data-testid="no-bot">"No bot process has reported yet. Start one with DISCORD_BOT_TOKEN set (see README: Discord)."</p> }.into_any()
                            } else {
                                view! {
                                    <ul class="bot-list" data-testid="bots">
                                        {d.bots.into_iter().map(|b| view! {
                                            <li data-testid="bot" data-state=b.state.clone()>
                                                <strong>{if b.online { b.state.clone() } else { format!("{} (not seen lately)", b.state) }}</strong>
                                                {format!(" · {} · {} job(s) · seen {}", if b.bot_user.is_empty() { "unknown bot user".to_owned() } else { b.bot_user }, b.jobs_done, short_utc(&b.seen_at))}
                                                <br /><span class="muted">{b.detail}</span>
                                            </li>
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }}
                        </section>
                        <section aria-labelledby="guild-title">
                            <h2 id="guild-title">"Customers' server"</h2>
                            {if d.guild_id.is_empty() {
                                view! { <p class="muted">"CUSTOMER_GUILD_ID is not set: no roles are given."</p> }.into_any()
                            } else {
                                view! {
                                    <p>{format!("{} ({}) · {} linked customer(s)", if d.guild_name.is_empty() { "name not reported yet".to_owned() } else { d.guild_name.clone() }, d.guild_id, d.linked_customers)}</p>
                                    <table class="table" data-testid="roles">
                                        <thead><tr><th>"Role"</th><th>"Id"</th><th>"Position"</th><th>"Bot can give it"</th></tr></thead>
                                        <tbody>
                                            {d.roles.into_iter().map(|r| view! {
                                                <tr data-testid="role" data-manageable=r.manageable.to_string()>
                                                    <td>{r.name}</td><td><code>{r.id}</code></td><td>{r.position}</td>
                                                    <td>{if r.manageable { "yes".to_owned() } else { format!("no: {}", r.reason) }}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                    <h2>"Tier roles"</h2>
                                    <p class="muted">"Role ids, separated by commas. Saving queues role sync for every linked customer."</p>
                                    {d.tiers.into_iter().map(|t| { let testid = format!("tier-{}", t.tier); view! {
                                        <ActionForm action=set attr:class="form inline" attr:data-testid=testid>
                                            <input type="hidden" name="tier" value=t.tier_id />
                                            <label>{t.tier.clone()}
                                                <input name="roles" value=t.roles aria-label=format!("Roles for {}", t.tier) />
                                            </label>
                                            <span class="muted">{t.names.join(", ")}</span>
                                            <button type="submit" class="button small">"Save"</button>
                                        </ActionForm>
                                    }}).collect_view()}
                                    <FormError error=set_error />
                                    <p class="success" role="status" data-testid="mapping-saved">
                                        {move || set.value().get().and_then(Result::ok).map(|n| format!("Saved. Role sync queued for {n} linked customer(s)."))}
                                    </p>
                                    <ActionForm action=resync>
                                        <button type="submit" class="button" data-testid="resync">"Resync every linked customer"</button>
                                    </ActionForm>
                                    <p class="success" role="status">
                                        {move || resync.value().get().and_then(Result::ok).map(|n| format!("Role sync queued for {n} customer(s)."))}
                                    </p>
                                }.into_any()
                            }}
                        </section>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}
