//! Timestamps shown to people: "2026-11-27 14:03 UTC" (the same on server and browser, so
//! hydration never disagrees).

pub fn short_utc(rfc3339: &str) -> String {
    // "2026-11-27T14:03:11.123+00:00" → "2026-11-27 14:03 UTC"
    match (rfc3339.get(0..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => rfc3339.to_owned(),
    }
}
