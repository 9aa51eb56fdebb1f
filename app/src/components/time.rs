//! Times shown to people. The server renders UTC ("2026-11-27 14:03:07 UTC", the same on server
//! and browser, so hydration agrees); once the page runs in the browser, [`LocalTime`] switches
//! to the reader's time zone and relative times ("3 hours ago", "12 s ago") tick from one shared
//! clock.

use leptos::prelude::*;

pub fn short_utc(rfc3339: &str) -> String {
    // "2026-11-27T14:03:11.123+00:00" → "2026-11-27 14:03 UTC"
    match (rfc3339.get(0..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => rfc3339.to_owned(),
    }
}

/// With seconds: "2026-11-27 14:03:11 UTC". Traders compare calls by the second.
pub fn seconds_utc(rfc3339: &str) -> String {
    match (rfc3339.get(0..10), rfc3339.get(11..19)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => rfc3339.to_owned(),
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`): the browser build has no date library, and server and browser must
/// render the same text.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

pub fn iso(unix: i64) -> String {
    let (y, mo, d) = civil(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

/// Seconds since the epoch of an ISO 8601 / RFC 3339 time ("2024-11-30T20:53:20.123+00:00"),
/// without a date library (the browser build has none).
pub fn unix_seconds(iso: &str) -> Option<i64> {
    let b = iso.as_bytes();
    let num = |r: std::ops::Range<usize>| iso.get(r)?.parse::<i64>().ok();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d, h, mi, s) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // The offset: Z, or ±hh:mm after any fraction of a second.
    let rest = iso[19..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match rest.as_bytes().first() {
        None | Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6).or(rest.get(3..5))?.parse().ok()?;
            let off = oh * 3600 + om * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + s - offset)
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A `<t:…>` timestamp in Discord's format for its style letter. `offset` is the reader's
/// offset from UTC in minutes when known (the browser), `None` on the server: then the text says
/// UTC. `R` (relative) needs the reader's clock, so on the server it shows the full time.
pub fn discord_time(unix: i64, style: char, offset: Option<i32>) -> String {
    let local = unix + i64::from(offset.unwrap_or(0)) * 60;
    let days = local.div_euclid(86_400);
    let (y, mo, d) = civil(days);
    let s = local.rem_euclid(86_400);
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let month = MONTHS[(mo - 1) as usize];
    let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
    let zone = if offset.is_some() { "" } else { " UTC" };
    match style {
        't' => format!("{h:02}:{m:02}{zone}"),
        'T' => format!("{h:02}:{m:02}:{sec:02}{zone}"),
        'd' => format!("{y:04}-{mo:02}-{d:02}"),
        'D' => format!("{d} {month} {y}"),
        'F' => format!("{weekday}, {d} {month} {y} {h:02}:{m:02}{zone}"),
        _ => format!("{d} {month} {y} {h:02}:{m:02}{zone}"),
    }
}

/// Discord's relative form: "in 5 minutes", "3 hours ago", "a few seconds ago".
pub fn relative(unix: i64, now: i64) -> String {
    let delta = unix - now;
    let n = delta.abs();
    if n < 45 {
        return if delta > 0 {
            "in a few seconds"
        } else {
            "a few seconds ago"
        }
        .into();
    }
    let (count, unit) = match n {
        n if n < 3_600 => ((n + 30) / 60, "minute"),
        n if n < 86_400 => ((n + 1_800) / 3_600, "hour"),
        n if n < 30 * 86_400 => ((n + 43_200) / 86_400, "day"),
        n if n < 365 * 86_400 => (n / (30 * 86_400), "month"),
        n => (n / (365 * 86_400), "year"),
    };
    let count = count.max(1);
    let phrase = if count == 1 {
        format!("{} {unit}", if unit == "hour" { "an" } else { "a" })
    } else {
        format!("{count} {unit}s")
    };
    if delta > 0 {
        format!("in {phrase}")
    } else {
        format!("{phrase} ago")
    }
}

/// The compact age of a signal: "12 s ago", "4 min ago", "3 h ago", "2 d ago".
pub fn age(unix: i64, now: i64) -> String {
    match (now - unix).max(0) {
        s if s < 60 => format!("{s} s ago"),
        s if s < 3_600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3_600),
        s => format!("{} d ago", s / 86_400),
    }
}

/// A `<t:…>` timestamp: UTC from the server, the reader's zone (and a ticking relative time for
/// style `R`) once the page runs in the browser.
#[component]
pub fn LocalTime(unix: i64, style: char) -> impl IntoView {
    let text = RwSignal::new(discord_time(unix, style, None));
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        // Only the relative style follows the clock; the others are set once.
        text.set(if style == 'R' {
            relative(unix, clock::now())
        } else {
            discord_time(unix, style, Some(clock::offset_minutes(unix)))
        });
    });
    view! {
        <time datetime=iso(unix) data-style=style.to_string() title=discord_time(unix, 'F', None)>
            {move || text.get()}
        </time>
    }
}

/// A signal's time: with seconds, and in the browser in the reader's zone with "12 s ago" ticking.
#[component]
pub fn PostedAt(rfc3339: String) -> impl IntoView {
    let unix = unix_seconds(&rfc3339);
    let text = RwSignal::new(seconds_utc(&rfc3339));
    let ago = RwSignal::new(String::new());
    #[cfg(feature = "hydrate")]
    if let Some(unix) = unix {
        Effect::new(move |_| {
            let now = clock::now();
            let local = discord_time(unix, 'd', Some(clock::offset_minutes(unix)));
            text.set(format!(
                "{local} {}",
                discord_time(unix, 'T', Some(clock::offset_minutes(unix)))
            ));
            ago.set(age(unix, now));
        });
    }
    view! {
        <time class="posted" datetime=unix.map(iso) title=unix.map(|u| discord_time(u, 'F', None))>
            <span data-testid="posted-at">{move || text.get()}</span>
            <span class="ago" data-testid="ago">{move || {
                let a = ago.get();
                (!a.is_empty()).then(|| format!(" · {a}"))
            }}</span>
        </time>
    }
}

/// One clock for the whole page: every relative time reads it, one timer moves it.
#[cfg(feature = "hydrate")]
mod clock {
    use std::time::Duration;

    use leptos::prelude::*;

    fn unix_now() -> i64 {
        (js_sys::Date::now() / 1000.0) as i64
    }

    thread_local! {
        // Reference-counted, not owned by the first component that asked: it outlives every card.
        static NOW: ArcRwSignal<i64> = {
            let now = ArcRwSignal::new(unix_now());
            let tick = now.clone();
            set_interval(move || tick.set(unix_now()), Duration::from_secs(1));
            now
        };
    }

    /// The current second, tracked: an effect that reads it runs again each second.
    pub fn now() -> i64 {
        NOW.with(|n| n.get())
    }

    /// The reader's offset from UTC at that moment, in minutes (east positive).
    pub fn offset_minutes(unix: i64) -> i32 {
        let at = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix as f64 * 1000.0));
        -(at.get_timezone_offset() as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discord_timestamps_in_each_style() {
        // 2024-11-30 20:53:20 UTC, a Saturday.
        let t = 1_733_000_000;
        assert_eq!(iso(t), "2024-11-30T20:53:20Z");
        assert_eq!(discord_time(t, 't', None), "20:53 UTC");
        assert_eq!(discord_time(t, 'T', None), "20:53:20 UTC");
        assert_eq!(discord_time(t, 'd', None), "2024-11-30");
        assert_eq!(discord_time(t, 'D', None), "30 November 2024");
        assert_eq!(discord_time(t, 'f', None), "30 November 2024 20:53 UTC");
        assert_eq!(discord_time(t, 'F', None), "Saturday, 30 November 2024 20:53 UTC");
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn in_the_readers_zone() {
        let t = 1_733_000_000;
        // UTC+5:30 crosses midnight into Sunday; UTC−8 stays on Saturday afternoon.
        assert_eq!(discord_time(t, 'F', Some(330)), "Sunday, 1 December 2024 02:23");
        assert_eq!(discord_time(t, 't', Some(-480)), "12:53");
        assert_eq!(discord_time(t, 'd', Some(330)), "2024-12-01");
    }

    #[test]
    fn relative_and_age() {
        let now = 1_733_000_000;
        assert_eq!(relative(now - 10, now), "a few seconds ago");
        assert_eq!(relative(now + 10, now), "in a few seconds");
        assert_eq!(relative(now - 60, now), "a minute ago");
        assert_eq!(relative(now - 3 * 3600, now), "3 hours ago");
        assert_eq!(relative(now + 3600, now), "in an hour");
        assert_eq!(relative(now - 2 * 86_400, now), "2 days ago");
        assert_eq!(relative(now - 800 * 86_400, now), "2 years ago");
        assert_eq!(age(now - 12, now), "12 s ago");
        assert_eq!(age(now - 300, now), "5 min ago");
        assert_eq!(age(now - 7_200, now), "2 h ago");
        assert_eq!(age(now + 5, now), "0 s ago");
        assert_eq!(seconds_utc("2026-11-27T14:03:11.123+00:00"), "2026-11-27 14:03:11 UTC");
    }

    #[test]
    fn times_with_offsets_and_fractions() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2024-11-30T20:53:20+00:00"), Some(1_733_000_000));
        assert_eq!(unix_seconds("2024-11-30T22:53:20.5+02:00"), Some(1_733_000_000));
        assert_eq!(unix_seconds("2024-11-30T15:53:20-0500"), Some(1_733_000_000));
        assert_eq!(unix_seconds("2000-02-29T00:00:00Z"), Some(951_782_400));
        for bad in [
            "",
            "2024-13-01T00:00:00Z",
            "2024-11-30",
            "2024-11-30T20:53:20+xx:00",
            "ééééééééééééééééééééé",
        ] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
    }
}
