//! The customer's access panel on `/account`: tier, end time with a live countdown, order history.

use leptos::prelude::*;

use crate::access_api::my_access;
use crate::components::countdown::Countdown;
use crate::components::time::short_utc;

#[component]
pub fn AccessPanel() -> impl IntoView {
    let access = Resource::new(|| (), |_| my_access());
    view! {
        <section aria-labelledby="access-title" class="access-panel" data-testid="access-panel">
            <h2 id="access-title">"Your access"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading your access…"</p> }>
                {move || Suspend::new(async move {
                    match access.await {
                        Ok(a) => view! {
                            {match (a.tier.clone(), a.access_ends.clone()) {
                                (Some(tier), Some(ends)) => view! {
                                    <p class="access-tier">
                                        <strong data-testid="access-tier">{tier}</strong>
                                        {format!(" until {}", short_utc(a.tier_ends.as_deref().unwrap_or(&ends)))}
                                    </p>
                                    <p>"Access ends " <span data-testid="access-ends">{short_utc(&ends)}</span>
                                       " — " <Countdown seconds=a.seconds_left /> " left"</p>
                                }.into_any(),
                                _ => view! {
                                    <p data-testid="no-access">"You have no active access."</p>
                                    {a.storefront_url.clone().map(|u| view! {
                                        <p><a class="button primary" href=u rel="noopener noreferrer">"Buy access"</a></p>
                                    })}
                                }.into_any(),
                            }}
                            <h3>"Orders"</h3>
                            {if a.orders.is_empty() {
                                view! { <p class="muted" data-testid="orders-empty">"No orders yet."</p> }.into_any()
                            } else {
                                view! {
                                    <table class="table" data-testid="orders">
                                        <thead><tr><th>"Order"</th><th>"Tier"</th><th>"Days"</th><th>"Paid"</th><th>"When"</th><th>"State"</th></tr></thead>
                                        <tbody>
                                            {a.orders.into_iter().map(|o| view! {
                                                <tr>
                                                    <td>{o.reference}</td>
                                                    <td>{o.tier}</td>
                                                    <td>{o.days}</td>
                                                    <td>{o.paid.unwrap_or_else(|| "—".into())}</td>
                                                    <td>{short_utc(&o.at)}</td>
                                                    <td>{o.revoked.map_or_else(|| "active".to_owned(), |r| format!("taken back: {r}"))}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
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
