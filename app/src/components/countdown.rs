//! A live countdown. The server renders the time left when the page was made; in the browser it
//! then ticks every second (the first render is the same text on both sides, so hydration agrees).

use std::time::Duration;

use leptos::prelude::*;

pub fn format_left(secs: i64) -> String {
    if secs <= 0 {
        return "ended".into();
    }
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h:02}h {m:02}m {s:02}s")
    } else {
        format!("{h:02}h {m:02}m {s:02}s")
    }
}

#[component]
pub fn Countdown(seconds: i64) -> impl IntoView {
    let (left, set_left) = signal(seconds);
    Effect::new(move |_| {
        // Stopped when the page goes (client-side navigation), so it never ticks a disposed signal.
        if let Ok(handle) = set_interval_with_handle(
            move || set_left.update(|l| *l = (*l - 1).max(0)),
            Duration::from_secs(1),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    view! {
        <span class="countdown" data-testid="countdown" data-seconds=move || left.get().to_string() role="timer">
            {move || format_left(left.get())}
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::format_left;

    #[test]
    fn formats_days_hours_minutes_seconds() {
        assert_eq!(format_left(0), "ended");
        assert_eq!(format_left(59), "00h 00m 59s");
        assert_eq!(format_left(30 * 86_400 - 1), "29d 23h 59m 59s");
    }
}
