//! A bar per day as an SVG drawn in the server render (so it shows before the wasm loads, and
//! without scripts), scaled to the largest value; negative values hang below the zero line. The
//! same numbers follow as a table for screen readers (the picture itself is hidden from them).

use leptos::prelude::*;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 140.0;
/// Room under the bars for the first and last day's label.
const LABELS: f64 = 16.0;

/// `points`: (day label, value, value as text) oldest first.
#[component]
pub fn DayChart(
    points: Vec<(String, i64, String)>,
    title: String,
    caption: String,
    testid: &'static str,
) -> impl IntoView {
    let top = points.iter().map(|p| p.1).max().unwrap_or(0).max(0);
    let bottom = points.iter().map(|p| p.1).min().unwrap_or(0).min(0);
    let span = ((top - bottom) as f64).max(1.0);
    let plot = HEIGHT - LABELS;
    // The zero line, from the top of the picture.
    let zero = plot * top as f64 / span;
    let slot = WIDTH / points.len().max(1) as f64;
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, (day, value, text))| {
            let h = (plot * (*value as f64).abs() / span).max(if *value == 0 { 0.0 } else { 1.0 });
            let y = if *value >= 0 { zero - h } else { zero };
            let class = if *value < 0 { "bar negative" } else { "bar" };
            view! {
                <rect class=class x=format!("{:.1}", i as f64 * slot + 1.0) y=format!("{y:.1}")
                    width=format!("{:.1}", (slot - 2.0).max(1.0)) height=format!("{h:.1}")>
                    <title>{format!("{day}: {text}")}</title>
                </rect>
            }
        })
        .collect_view();
    let first = points.first().map(|p| p.0.clone()).unwrap_or_default();
    let last = points.last().map(|p| p.0.clone()).unwrap_or_default();
    let peak = points
        .iter()
        .max_by_key(|p| p.1)
        .map(|p| p.2.clone())
        .unwrap_or_default();
    let rows = points
        .into_iter()
        .map(|(day, _, text)| view! { <tr><th scope="row">{day}</th><td>{text}</td></tr> })
        .collect_view();
    view! {
        <figure class="day-chart" data-testid=testid>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") preserveAspectRatio="none" aria-hidden="true" focusable="false">
                <line class="axis" x1="0" x2=WIDTH.to_string() y1=format!("{zero:.1}") y2=format!("{zero:.1}") />
                {bars}
                <text class="label" x="0" y=(HEIGHT - 3.0).to_string()>{first}</text>
                <text class="label" x=WIDTH.to_string() y=(HEIGHT - 3.0).to_string() text-anchor="end">{last}</text>
                <text class="label" x="2" y="11">{format!("peak {peak}")}</text>
            </svg>
            <figcaption class="muted">{caption}</figcaption>
            <table class="visually-hidden" data-testid=format!("{testid}-table")>
                <caption>{title.clone()}</caption>
                <thead><tr><th scope="col">"Day"</th><th scope="col">{title}</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </figure>
    }
}
