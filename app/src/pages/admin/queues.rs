//! `/admin/queues`: every job kind's counts by state and the oldest due job's wait, jobs
//! finished and claim latency per minute over the last hour, recent failures with their last error, and dead jobs
//! with Retry and Discard.

use leptos::prelude::*;

use crate::components::minute_chart::MinuteChart;
use crate::components::time::short_utc;
use crate::queues_api::{ActOnDeadJob, JobRowView, LatencyMinute, queues};

#[component]
fn PerMinute(minutes: Vec<u64>) -> impl IntoView {
    let total: u64 = minutes.iter().sum();
    let bars = minutes.into_iter().map(|n| (n, n.to_string())).collect();
    view! { <MinuteChart bars=bars caption=format!("Jobs finished per minute, last hour: {total} in all.") testid="jobs-per-minute" /> }
}

/// p95 claim latency per minute: how long due jobs waited for a free worker.
#[component]
fn ClaimLatency(minutes: Vec<LatencyMinute>) -> impl IntoView {
    let claims: u64 = minutes.iter().map(|m| m.claims).sum();
    let worst = minutes.iter().map(|m| m.max_ms).max().unwrap_or(0);
    let busiest_p95 = minutes.iter().map(|m| m.p95_ms).max().unwrap_or(0);
    let caption = if claims == 0 {
        "Claim latency (due → claimed by a worker), last hour: no job was claimed.".to_owned()
    } else {
        format!(
            "Claim latency (due → claimed by a worker), p95 per minute, last hour: {claims} claim(s), highest minute p95 {busiest_p95} ms, worst {worst} ms."
        )
    };
    let bars = minutes
        .into_iter()
        .map(|m| {
            (
                m.p95_ms,
                format!(
                    "{} claim(s) · p50 {} ms · p95 {} ms · max {} ms",
                    m.claims, m.p50_ms, m.p95_ms, m.max_ms
                ),
            )
        })
        .collect();
    view! { <MinuteChart bars=bars caption=caption testid="claim-latency" /> }
}

#[component]
fn JobList(jobs: Vec<JobRowView>, dead: bool, action: ServerAction<ActOnDeadJob>) -> impl IntoView {
    view! {
        <div class="cards">
            {jobs.into_iter().map(|j| {
                let actions = dead.then(|| {
                    let (retry_id, discard_id) = (j.id.clone(), j.id.clone());
                    view! {
                        <div class="row">
                            <ActionForm action=action>
                                <input type="hidden" name="id" value=retry_id />
                                <input type="hidden" name="action" value="retry" />
                                <button type="submit" class="button small" data-testid="retry-job">"Retry"</button>
                            </ActionForm>
                            <ActionForm action=action>
                                <input type="hidden" name="id" value=discard_id />
                                <input type="hidden" name="action" value="discard" />
                                <button type="submit" class="button small" data-testid="discard-job">"Discard"</button>
                            </ActionForm>
                        </div>
                    }
                });
                view! {
                    <article class="card" data-testid=if dead { "dead-job" } else { "failing-job" }>
                        <header class="card-head">
                            <h3>{format!("{} #{}", j.kind, j.id)}</h3>
                            <span class="muted">{format!("{} · {} attempt(s) · {}", j.key, j.attempts, short_utc(&j.updated_at))}</span>
                        </header>
                        <p class="error" data-testid="job-error">{j.last_error}</p>
                        {actions}
                    </article>
                }
            }).collect_view()}
        </div>
    }
}

#[component]
pub fn QueuesPage() -> impl IntoView {
    let act = ServerAction::<ActOnDeadJob>::new();
    let data = Resource::new(move || act.version().get(), |_| queues());
    view! {
        <h1>"Queues"</h1>
        <p class="muted">"Background work: role sync now, mirroring next. A dead job needs a fix first (its error names it), then Retry."</p>
        <p role="status" class="error">{move || act.value().get().and_then(Result::err).map(|e| e.to_string())}</p>
        <Transition fallback=|| view! { <p class="muted">"Loading queues…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(q) => view! {
                        <table class="table" data-testid="queue-table">
                            <thead><tr><th>"Kind"</th><th>"Queued"</th><th>"Running"</th><th>"Done"</th><th>"Dead"</th><th>"Oldest due waits"</th></tr></thead>
                            <tbody>
                                {q.kinds.into_iter().map(|k| view! {
                                    <tr data-testid=format!("queue-{}", k.kind.to_lowercase())>
                                        <td>{k.kind.clone()}</td><td>{k.queued}</td><td>{k.running}</td><td>{k.done}</td>
                                        <td>{k.dead}</td><td>{if k.oldest_due.is_empty() { "—".to_owned() } else { k.oldest_due }}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        <PerMinute minutes=q.per_minute />
                        <ClaimLatency minutes=q.claim_latency />
                        <h2>"Failing, still retrying"</h2>
                        {if q.failing.is_empty() {
                            view! { <p class="muted" data-testid="failing-empty">"No job is failing."</p> }.into_any()
                        } else {
                            view! { <JobList jobs=q.failing dead=false action=act /> }.into_any()
                        }}
                        <h2>"Dead"</h2>
                        {if q.dead.is_empty() {
                            view! { <p class="muted" data-testid="dead-empty">"No dead jobs."</p> }.into_any()
                        } else {
                            view! { <JobList jobs=q.dead dead=true action=act /> }.into_any()
                        }}
                    }.into_any(),
                    Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                }
            })}
        </Transition>
    }
}
