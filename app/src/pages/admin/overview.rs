//! `/admin`: how the business is doing. Open alerts first, then customers with access by tier,
//! 30 days of revenue (refunds subtracted), purchases and renewals, expiries and signals as
//! charts drawn in the server render (each with its numbers as a table), the mirror's delivery
//! latency and the queues' health.

use leptos::prelude::*;

use crate::components::day_chart::DayChart;
use crate::overview_api::{DAYS, DayRow, business_overview};

fn series(days: &[DayRow], value: impl Fn(&DayRow) -> (i64, String)) -> Vec<(String, i64, String)> {
    days.iter()
        .map(|d| {
            let (n, text) = value(d);
            (d.day.clone(), n, text)
        })
        .collect()
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| business_overview());
    view! {
        <h1>"Overview"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading the overview…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => {
                        let total: u64 = o.active_by_tier.iter().map(|t| t.1).sum();
                        let sum = |f: fn(&DayRow) -> u64| o.days.iter().map(f).sum::<u64>();
                        let (firsts, renewals, expiries, signals) = (
                            sum(|d| d.first_purchases),
                            sum(|d| d.renewals),
                            sum(|d| d.expiries),
                            sum(|d| d.signals),
                        );
                        let currency = o.currency.clone();
                        view! {
                            <section aria-labelledby="alerts-h">
                                <h2 id="alerts-h">"Needs you"</h2>
                                {if o.alerts.is_empty() {
                                    view! { <p class="muted" data-testid="alerts-none">"Nothing: payments, queues and the mirror are healthy."</p> }.into_any()
                                } else {
                                    view! { <ul data-testid="alerts">{o.alerts.into_iter().map(|a| view! { <li class="error">{a}</li> }).collect_view()}</ul> }.into_any()
                                }}
                            </section>
                            <section aria-labelledby="active-h">
                                <h2 id="active-h">{format!("Customers with access now: {total}")}</h2>
                                <table class="table" data-testid="active-by-tier">
                                    <thead><tr><th scope="col">"Tier"</th><th scope="col">"Customers"</th></tr></thead>
                                    <tbody>
                                        {o.active_by_tier.into_iter().map(|(tier, n)| view! {
                                            <tr><th scope="row">{tier}</th><td>{n}</td></tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </section>
                            <section aria-labelledby="money-h">
                                <h2 id="money-h">{format!("The last {DAYS} days")}</h2>
                                {if currency.is_empty() {
                                    view! { <p class="muted" data-testid="revenue-none">"No payment with an amount has been recorded in these days."</p> }.into_any()
                                } else {
                                    let cur = currency.clone();
                                    view! {
                                        <DayChart points=series(&o.days, |d| (d.revenue_minor, d.revenue.clone()))
                                            title=format!("Revenue ({cur})")
                                            caption=format!("Revenue per day in {cur}, refunds, voids and disputes subtracted on the day they happened: {} in all.", o.revenue_total)
                                            testid="chart-revenue" />
                                    }.into_any()
                                }}
                                {(!o.other_currencies.is_empty()).then(|| view! {
                                    <p class="muted" data-testid="other-currencies">{format!("Also in these days: {}.", o.other_currencies.join(", "))}</p>
                                })}
                                <DayChart points=series(&o.days, |d| ((d.first_purchases + d.renewals) as i64, format!("{} new, {} renewals", d.first_purchases, d.renewals)))
                                    title="Purchases".to_owned()
                                    caption=format!("Purchases per day: {firsts} first purchases and {renewals} renewals.")
                                    testid="chart-purchases" />
                                <DayChart points=series(&o.days, |d| (d.expiries as i64, d.expiries.to_string()))
                                    title="Expiries".to_owned()
                                    caption=format!("Customers whose access ran out, per day: {expiries} in all.")
                                    testid="chart-expiries" />
                                <DayChart points=series(&o.days, |d| (d.signals as i64, d.signals.to_string()))
                                    title="Signals".to_owned()
                                    caption=format!("Signals captured per day: {signals} in all.")
                                    testid="chart-signals" />
                            </section>
                            <section aria-labelledby="delivery-h">
                                <h2 id="delivery-h">"Delivery, last hour"</h2>
                                <p data-testid="dashboard-latency">{match o.dashboard {
                                    Some((n, p50, p95)) => format!("Live dashboards: {n} change(s) went out, signal committed → sent to every open feed of this server process in p50 {p50} ms, p95 {p95} ms."),
                                    None => "Live dashboards: no change went out from this server process in the last hour.".to_owned(),
                                }}</p>
                                {if o.mirror.iter().all(|m| m.1 == 0) {
                                    view! { <p class="muted" data-testid="mirror-idle">"The mirror answered nothing in the last hour."</p> }.into_any()
                                } else {
                                    view! {
                                        <table class="table" data-testid="mirror-latency">
                                            <caption>"Mirror into the customers' server: signal stored → Discord answered"</caption>
                                            <thead><tr><th scope="col">"Operation"</th><th scope="col">"Count"</th><th scope="col">"p50"</th><th scope="col">"p95"</th></tr></thead>
                                            <tbody>
                                                {o.mirror.into_iter().map(|(op, n, p50, p95)| view! {
                                                    <tr><th scope="row">{op}</th><td>{n}</td><td>{format!("{p50} ms")}</td><td>{format!("{p95} ms")}</td></tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    }.into_any()
                                }}
                                <table class="table" data-testid="queue-health">
                                    <caption>"Queues"</caption>
                                    <thead><tr><th scope="col">"Kind"</th><th scope="col">"Queued"</th><th scope="col">"Dead"</th><th scope="col">"Oldest due waits"</th></tr></thead>
                                    <tbody>
                                        {o.queues.into_iter().map(|(kind, queued, dead, wait)| view! {
                                            <tr><th scope="row">{kind}</th><td>{queued}</td><td>{dead}</td>
                                                <td>{wait.map(|s| format!("{s} s")).unwrap_or_else(|| "—".to_owned())}</td></tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                <p class="muted"><a href="/admin/mirror">"Mirror details"</a>" · "<a href="/admin/queues">"Queue details"</a></p>
                            </section>
                        }.into_any()
                    }
                    Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                }
            })}
        </Transition>
    }
}
