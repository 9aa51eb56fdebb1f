//! A bar per minute over the last hour, scaled to the highest; each bar's title says what it
//! stands for (the queues and mirror pages).

use leptos::prelude::*;

#[component]
pub fn MinuteChart(bars: Vec<(u64, String)>, caption: String, testid: &'static str) -> impl IntoView {
    let top = bars.iter().map(|(n, _)| *n).max().unwrap_or(0).max(1);
    view! {
        <figure class="minute-chart" data-testid=testid>
            <div class="bars" aria-hidden="true">
                {bars.into_iter().map(|(n, title)| {
                    let h = n * 100 / top;
                    view! { <span class="bar" style=format!("height:{h}%") title=title></span> }
                }).collect_view()}
            </div>
            <figcaption class="muted">{caption}</figcaption>
        </figure>
    }
}
