//! `/admin/discord`: the bot processes and what they report, the customers' server with its
//! roles (position, and whether the bot can give each), the tier → roles mapping, and role
//! drift: a sweep (dry run or repair) showing who would gain or lose which role.

use leptos::prelude::*;

use crate::components::field::FormError;
use crate::components::time::short_utc;
use crate::discord_admin_api::{
    CheckRoleDrift, DriftReport, ResyncEveryone, SetTierRoles, discord_admin, role_drift_report,
};

#[component]
pub fn DiscordPage() -> impl IntoView {
    let set = ServerAction::<SetTierRoles>::new();
    let resync = ServerAction::<ResyncEveryone>::new();
    // The drift section's action and report are made here, with the page, not inside the
    // Suspend that renders it: a resource made while a Suspend resolves is not matched up
    // reliably between the server render and hydration.
    let check = ServerAction::<CheckRoleDrift>::new();
    let tick = RwSignal::new(0u32);
    let report = Resource::new(move || (check.version().get(), tick.get()), |_| role_drift_report());
    Effect::new(move |_| {
        if let Some(Ok(Some(r))) = report.get()
            && r.pending()
        {
            set_timeout(move || tick.update(|t| *t += 1), std::time::Duration::from_secs(2));
        }
    });
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
                                    <RoleDrift check=check report=report />
                                }.into_any()
                            }}
                        </section>
                    }.into_any(),
                    Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The role-drift section: two buttons (dry run, repair) and the newest report, refreshed every
/// two seconds while its sweep waits for or runs on a bot.
#[component]
fn RoleDrift(
    check: ServerAction<CheckRoleDrift>,
    report: Resource<Result<Option<DriftReport>, crate::error::AppError>>,
) -> impl IntoView {
    let check_error = Signal::derive(move || check.value().get().and_then(Result::err));
    view! {
        <section aria-labelledby="drift-title">
            <h2 id="drift-title">"Role drift"</h2>
            <p class="muted">"Compares every linked customer's roles in the server with the ledger. The bot also repairs drift every hour on its own."</p>
            <div class="actions">
                <ActionForm action=check attr:class="form inline">
                    <input type="hidden" name="mode" value="dry_run" />
                    <button type="submit" class="button" data-testid="drift-dry-run">"Check (dry run)"</button>
                </ActionForm>
                <ActionForm action=check attr:class="form inline">
                    <input type="hidden" name="mode" value="repair" />
                    <button type="submit" class="button" data-testid="drift-repair">"Check and repair"</button>
                </ActionForm>
            </div>
            <FormError error=check_error />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match report.await {
                        Ok(Some(r)) => drift_report(r).into_any(),
                        Ok(None) => view! { <p class="muted" data-testid="drift-none">"No sweep yet."</p> }.into_any(),
                        Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

fn drift_report(r: DriftReport) -> impl IntoView {
    let kind = if r.dry_run { "Dry run" } else { "Repair" };
    let by = if r.requested_by == "hourly" {
        "the hourly sweep".to_owned()
    } else {
        r.requested_by.clone()
    };
    let head = match r.state.as_str() {
        "queued" => format!(
            "{kind} queued by {by} at {}: waiting for a bot…",
            short_utc(&r.created_at)
        ),
        "running" => format!("{kind} by {by}: a bot is reading members' roles…"),
        "failed" => format!("{kind} by {by} failed: {}", r.error),
        _ => format!(
            "{kind} by {by}, finished {}: {} linked customer(s) checked, {} drifted{}.",
            short_utc(&r.finished_at),
            r.checked,
            r.drifted,
            if r.dry_run || r.drifted == 0 {
                ""
            } else {
                "; role sync queued for them"
            }
        ),
    };
    let done = r.state == "done";
    let empty = done && r.rows.is_empty();
    view! {
        <p role="status" data-testid="drift-status" data-state=r.state.clone() aria-busy=r.pending().to_string()>{head}</p>
        {empty.then(|| view! { <p class="muted" data-testid="drift-clean">"No drift: every linked customer holds exactly the roles the ledger gives."</p> })}
        {(done && !r.rows.is_empty()).then(|| view! {
            <table class="table" data-testid="drift">
                <thead><tr><th>"Customer"</th><th>"Discord"</th><th>{if r.dry_run { "Would gain" } else { "Gains" }}</th><th>{if r.dry_run { "Would lose" } else { "Loses" }}</th><th>"Note"</th></tr></thead>
                <tbody>
                    {r.rows.into_iter().map(|row| view! {
                        <tr data-testid="drift-row">
                            <td>{row.email}</td><td>{row.discord}</td>
                            <td>{row.gain.join(", ")}</td><td>{row.lose.join(", ")}</td><td class="muted">{row.note}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        })}
    }
}
