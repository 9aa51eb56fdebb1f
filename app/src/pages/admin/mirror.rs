//! `/admin/mirror`: how fast copies reach the customers' server (per operation p50/p95/p99 over
//! the last hour, and a chart), mirror jobs that fail, and the gap audit — signals with no copy in
//! a mapped target and nothing queued to make one — each with a Re-queue button.

use leptos::prelude::*;

use crate::components::minute_chart::MinuteChart;
use crate::components::time::short_utc;
use crate::mirror_api::{RequeueCopy, mirror_overview};

#[component]
pub fn MirrorPage() -> impl IntoView {
    let requeue = ServerAction::<RequeueCopy>::new();
    let data = Resource::new(move || requeue.version().get(), |_| mirror_overview());
    view! {
        <h1>"Mirror"</h1>
        <p class="muted">"Copies of signals in the customers' server: from the moment ingest accepts a change to Discord's answer."</p>
        <p role="status" class="error">{move || requeue.value().get().and_then(Result::err).map(|e| e.to_string())}</p>
        <Transition fallback=|| view! { <p class="muted">"Loading the mirror ledger…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(m) => {
                        let total: u64 = m.minutes.iter().map(|(_, n)| *n).sum();
                        let caption = if total == 0 {
                            "Delivery latency, last hour: nothing was delivered.".to_owned()
                        } else {
                            format!("Delivery latency (accepted → Discord answered), p95 per minute, last hour: {total} operation(s).")
                        };
                        let bars = m.minutes.iter().map(|(p95, n)| (*p95, format!("{n} operation(s) · p95 {p95} ms"))).collect();
                        view! {
                            <table class="table" data-testid="mirror-latency">
                                <thead><tr><th>"Operation"</th><th>"Count (1 h)"</th><th>"p50"</th><th>"p95"</th><th>"p99"</th></tr></thead>
                                <tbody>
                                    {m.ops.into_iter().map(|o| view! {
                                        <tr data-testid=format!("op-{}", o.op)>
                                            <td>{o.op.clone()}</td><td>{o.count}</td>
                                            <td>{format!("{} ms", o.p50_ms)}</td><td>{format!("{} ms", o.p95_ms)}</td><td>{format!("{} ms", o.p99_ms)}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <MinuteChart bars=bars caption=caption testid="mirror-chart" />
                            <h2>"Failures"</h2>
                            {if m.failures.is_empty() {
                                view! { <p class="muted" data-testid="mirror-failures-empty">"No mirror job is failing."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="cards">
                                        {m.failures.into_iter().map(|f| view! {
                                            <article class="card" data-testid="mirror-failure">
                                                <header class="card-head">
                                                    <h3>{format!("{} #{}", if f.dead { "Dead" } else { "Retrying" }, f.job_id)}</h3>
                                                    <span class="muted">{format!("{} · {} attempt(s) · {}", f.copy, f.attempts, short_utc(&f.updated_at))}</span>
                                                </header>
                                                <p class="error">{f.error}</p>
                                            </article>
                                        }).collect_view()}
                                    </div>
                                    <p class="muted">"Dead jobs are retried or discarded on "<a href="/admin/queues">"Queues"</a>" once the fault is fixed."</p>
                                }.into_any()
                            }}
                            <h2>"Gap audit (last 24 hours)"</h2>
                            {if m.gaps.is_empty() {
                                view! { <p class="muted" data-testid="gaps-empty">"No gaps: every signal in a mapped channel has its copies, or one is on the way."</p> }.into_any()
                            } else {
                                view! {
                                    <table class="table" data-testid="gaps">
                                        <thead><tr><th>"Signal"</th><th>"Target"</th><th>"Why"</th><th></th></tr></thead>
                                        <tbody>
                                            {m.gaps.into_iter().map(|g| view! {
                                                <tr data-testid="gap">
                                                    <td><code>{g.message_id}</code>" "{g.content}</td>
                                                    <td><code>{g.target.clone()}</code></td>
                                                    <td class="muted">{g.why}</td>
                                                    <td>
                                                        <ActionForm action=requeue>
                                                            <input type="hidden" name="signal" value=g.signal_id />
                                                            <input type="hidden" name="target" value=g.target />
                                                            <button type="submit" class="button small" data-testid="requeue">"Re-queue"</button>
                                                        </ActionForm>
                                                    </td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any()
                            }}
                        }.into_any()
                    }
                    Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                }
            })}
        </Transition>
    }
}
