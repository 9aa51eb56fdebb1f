//! `/admin/customers`: find a customer by email (accounts and payers), see their access, every
//! grant and the timeline of changes with causes; grant days (or extend: grant more of the
//! current tier) and revoke a grant, each with a reason.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::time::short_utc;
use crate::customers_api::{AdminGrant, AdminRevoke, customer, search_customers};

#[component]
pub fn CustomersPage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let email = move || query.read().get("email").unwrap_or_default();
    let results = Resource::new(q, search_customers);
    let grant = ServerAction::<AdminGrant>::new();
    let revoke = ServerAction::<AdminRevoke>::new();
    let detail = Resource::new(
        move || (email(), grant.version().get(), revoke.version().get()),
        |(email, _, _)| async move {
            if email.is_empty() {
                Ok(None)
            } else {
                customer(email).await.map(Some)
            }
        },
    );
    let error = Signal::derive(move || {
        grant
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| revoke.value().get().and_then(Result::err))
    });
    view! {
        <h1>"Customers"</h1>
        <form method="get" action="/admin/customers" class="search" role="search">
            <label for="customer-search" class="visually-hidden">"Search by email"</label>
            <input id="customer-search" type="search" name="q" placeholder="Search by email" value=q />
            <button type="submit" class="button">"Search"</button>
        </form>
        <Transition fallback=|| view! { <p class="muted">"Searching…"</p> }>
            {move || Suspend::new(async move {
                match results.await {
                    Ok(list) if list.is_empty() => view! { <p class="muted" data-testid="customers-empty">"No customers match."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="customer-list" data-testid="customers">
                            {list.into_iter().map(|e| view! {
                                <li><a href=format!("/admin/customers?email={}", e.replace('+', "%2B"))>{e.clone()}</a></li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                }
            })}
        </Transition>
        <p class="form-error" role="alert" data-testid="customer-error">{move || error.get().map(|e| e.to_string())}</p>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(None) => ().into_any(),
                    Ok(Some(c)) => view! {
                        <section class="card" data-testid="customer">
                            <h2>{c.email.clone()}</h2>
                            <p data-testid="customer-account">{match (c.has_account, c.verified) {
                                (true, true) => "Has an account with this address, verified.",
                                (true, false) => "Has an account, but its address is not verified yet: grants wait until its owner confirms the address.",
                                (false, _) => "No account yet: grants wait until someone signs up with this address and confirms it.",
                            }}</p>
                            <p data-testid="customer-access">{match (c.tier.clone(), c.access_ends.clone()) {
                                (Some(t), Some(e)) => format!("{t} until {}", short_utc(&e)),
                                _ => "No access now.".to_owned(),
                            }}</p>
                            <h3>"Grant days"</h3>
                            <ActionForm action=grant attr:class="search">
                                <input type="hidden" name="email" value=c.email.clone() />
                                <input type="hidden" name="request" value=c.grant_key.clone() />
                                <select name="tier" aria-label="Tier">
                                    {c.tiers.iter().map(|(id, name)| view! { <option value=id.clone()>{name.clone()}</option> }).collect_view()}
                                </select>
                                <input name="days" type="number" min="1" max="3650" value="7" aria-label="Days" />
                                <input name="reason" placeholder="Reason (shown on the timeline)" aria-label="Reason" />
                                <button type="submit" class="button primary" data-testid="grant">"Grant"</button>
                            </ActionForm>
                            <h3>"Grants"</h3>
                            <table class="table" data-testid="grants">
                                <thead><tr><th>"What"</th><th>"Tier"</th><th>"Days"</th><th>"When"</th><th>"State"</th></tr></thead>
                                <tbody>
                                    {c.grants.into_iter().map(|g| view! {
                                        <tr>
                                            <td>{g.what}</td><td>{g.tier}</td><td>{g.days}</td><td>{short_utc(&g.at)}</td>
                                            <td>{match g.revoked {
                                                Some(r) => format!("revoked: {r}").into_any(),
                                                None => view! {
                                                    {g.waiting.then(|| view! {
                                                        <span data-testid="grant-waiting">"waiting for a verified account · "</span>
                                                    })}
                                                    <ActionForm action=revoke attr:class="inline">
                                                        <input type="hidden" name="id" value=g.id />
                                                        <input name="reason" placeholder="Reason" aria-label="Revoke reason" />
                                                        <button type="submit" class="button small" data-testid="revoke">"Revoke"</button>
                                                    </ActionForm>
                                                }.into_any(),
                                            }}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <h3>"Timeline"</h3>
                            <ol class="timeline" data-testid="timeline">
                                {c.timeline.into_iter().map(|t| view! {
                                    <li>{format!("{} · {} · {} — {}", short_utc(&t.at), t.kind, t.cause, t.detail)}</li>
                                }).collect_view()}
                            </ol>
                        </section>
                    }.into_any(),
                    Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                }
            })}
        </Transition>
    }
}
