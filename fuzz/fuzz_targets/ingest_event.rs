//! What a connector posts to `/api/v1/events`: any bytes, parsed as the server parses them. The
//! parser must never panic, and whatever it accepts must respect the documented bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a valid instant");
    if let Ok(domain::ingest::Event::MessageCreated(m) | domain::ingest::Event::MessageUpdated(m)) =
        domain::ingest::parse(value, now)
    {
        assert!(m.snapshot.content.chars().count() <= domain::ingest::event::CONTENT_MAX_CHARS);
        assert!(m.posted_at <= now + domain::ingest::event::FUTURE_SKEW);
        assert!(m.snapshot.edited_at.is_none_or(|t| t <= now + domain::ingest::event::FUTURE_SKEW));
    }
});
