//! Discord's rate limits as a client meets them: a bucket per route and top-level resource
//! (channel, guild, webhook) announced in `X-RateLimit-*` headers, and a global per-second limit
//! per bot. Over a limit the answer is 429 with `retry_after` in float seconds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests per second per bot across every route; 0 = no global limit.
    pub global_per_second: u32,
    /// Requests per bucket per window; 0 = no per-route limit.
    pub per_bucket: u32,
    pub bucket_window: Duration,
}

impl Limits {
    /// What Discord does: 50 requests/s globally; 5 per second per route bucket here (Discord
    /// does not publish bucket sizes: clients must read them from the headers).
    pub fn discord() -> Self {
        Limits {
            global_per_second: 50,
            per_bucket: 5,
            bucket_window: Duration::from_secs(1),
        }
    }

    /// No limits at all (throughput benchmarks).
    pub fn none() -> Self {
        Limits {
            global_per_second: 0,
            per_bucket: 0,
            bucket_window: Duration::from_secs(1),
        }
    }
}

struct Window {
    started: Instant,
    used: u32,
}

impl Window {
    /// Counts one request in a fixed window; `Err(wait)` when the window is full.
    fn take(&mut self, limit: u32, length: Duration, now: Instant) -> Result<u32, Duration> {
        if now.duration_since(self.started) >= length {
            self.started = now;
            self.used = 0;
        }
        if self.used >= limit {
            return Err(length - now.duration_since(self.started));
        }
        self.used += 1;
        Ok(limit - self.used)
    }

    fn reset_after(&self, length: Duration, now: Instant) -> Duration {
        length.saturating_sub(now.duration_since(self.started))
    }
}

pub(super) struct RateLimits {
    limits: Limits,
    global: Window,
    buckets: HashMap<String, Window>,
}

/// What the headers of an answer say about its bucket.
pub(super) struct BucketState {
    pub bucket: String,
    pub limit: u32,
    pub remaining: u32,
    pub reset_after: Duration,
}

pub(super) enum Verdict {
    Allowed(Option<BucketState>),
    Limited {
        retry_after: Duration,
        global: bool,
        state: Option<BucketState>,
    },
}

impl RateLimits {
    pub fn new(limits: Limits) -> Self {
        let now = Instant::now();
        RateLimits {
            limits,
            global: Window { started: now, used: 0 },
            buckets: HashMap::new(),
        }
    }

    /// Checks one request against the global limit and its route's bucket.
    pub fn check(&mut self, bucket: &str, now: Instant) -> Verdict {
        let l = self.limits;
        if l.global_per_second > 0
            && let Err(wait) = self.global.take(l.global_per_second, Duration::from_secs(1), now)
        {
            return Verdict::Limited {
                retry_after: wait,
                global: true,
                state: None,
            };
        }
        if l.per_bucket == 0 {
            return Verdict::Allowed(None);
        }
        let w = self
            .buckets
            .entry(bucket.to_owned())
            .or_insert(Window { started: now, used: 0 });
        let hash = bucket_hash(bucket);
        match w.take(l.per_bucket, l.bucket_window, now) {
            Ok(remaining) => Verdict::Allowed(Some(BucketState {
                bucket: hash,
                limit: l.per_bucket,
                remaining,
                reset_after: w.reset_after(l.bucket_window, now),
            })),
            Err(wait) => Verdict::Limited {
                retry_after: wait,
                global: false,
                state: Some(BucketState {
                    bucket: hash,
                    limit: l.per_bucket,
                    remaining: 0,
                    reset_after: wait,
                }),
            },
        }
    }
}

/// Discord's bucket ids are opaque hashes of the route (not of the resource).
fn bucket_hash(bucket: &str) -> String {
    let route = bucket.split('|').next().unwrap_or(bucket);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in route.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The bucket of a request: its route with ids replaced, plus the top-level resource's id
/// (`channels/{id}`, `guilds/{id}`, `webhooks/{id}`), which gets buckets of its own.
pub(super) fn bucket_of(method: &str, path: &str) -> String {
    let rest = path.trim_start_matches("/api/v10/");
    let segments: Vec<&str> = rest.split('/').collect();
    let major = match segments.as_slice() {
        [top @ ("channels" | "guilds" | "webhooks"), id, ..] => format!("{top}/{id}"),
        _ => String::new(),
    };
    let route: Vec<&str> = segments
        .iter()
        .map(|s| {
            if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
                ":id"
            } else {
                s
            }
        })
        .collect();
    format!("{method} {}|{major}", route.join("/"))
}
