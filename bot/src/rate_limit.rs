//! One rate limiter per bot process. serenity's own limiter is off (it would bypass the proxy
//! our tests and demo point at), so Discord's limits are ours to keep: the global limit per
//! second, and each route bucket as its `X-RateLimit-*` headers describe it. A request that
//! would only be refused waits here; a wait too long to sit out becomes the job's `retry_after`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serenity::http::RatelimitingBucket;

/// Waits up to this long in process; longer, and the job is re-queued instead.
pub const LONGEST_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    remaining: u32,
    limit: u32,
    reset_at: Instant,
}

pub struct RateLimiter {
    /// This process's share of the bot's global limit.
    per_second: AtomicU32,
    /// The earliest moment the next request may go (requests are spaced evenly, never sent in a
    /// burst: in any one-second window, however it falls, a process sends at most its share).
    next_global: Mutex<Instant>,
    paused_until: Mutex<Option<Instant>>,
    buckets: Mutex<HashMap<RatelimitingBucket, Bucket>>,
}

/// What the answer's headers said about its bucket.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub limit: u32,
    pub remaining: u32,
    pub reset_after: Duration,
}

impl RateLimiter {
    pub fn new(per_second: u32) -> Self {
        RateLimiter {
            per_second: AtomicU32::new(per_second),
            next_global: Mutex::new(Instant::now()),
            paused_until: Mutex::new(None),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a slot for one request on `bucket`, waiting if it must. `Err(wait)` when the wait
    /// is longer than [`LONGEST_WAIT`]: the caller re-queues its job for then.
    pub async fn acquire(&self, bucket: RatelimitingBucket) -> Result<(), Duration> {
        loop {
            let wait = self.try_take(bucket, Instant::now());
            match wait {
                None => return Ok(()),
                Some(w) if w > LONGEST_WAIT => return Err(w),
                Some(w) => tokio::time::sleep(w).await,
            }
        }
    }

    fn try_take(&self, bucket: RatelimitingBucket, now: Instant) -> Option<Duration> {
        if let Some(until) = *self.paused_until.lock().unwrap()
            && until > now
        {
            return Some(until - now);
        }
        {
            let mut buckets = self.buckets.lock().unwrap();
            if let Some(b) = buckets.get_mut(&bucket) {
                if b.reset_at <= now {
                    b.remaining = b.limit;
                    b.reset_at = now + Duration::from_secs(3600);
                }
                if b.remaining == 0 {
                    return Some(b.reset_at - now);
                }
            }
        }
        let per_second = self.per_second.load(Ordering::Relaxed);
        if per_second > 0 {
            let mut next = self.next_global.lock().unwrap();
            if *next > now {
                return Some(*next - now);
            }
            // n requests spaced 1/(n-1) s apart fit n into any one-second window, not n+1.
            *next = now + Duration::from_secs(1) / per_second.saturating_sub(1).max(1);
        }
        if let Some(b) = self.buckets.lock().unwrap().get_mut(&bucket) {
            b.remaining -= 1;
        }
        None
    }

    /// The global limit is per bot token: with `processes` bot processes running, each keeps to
    /// its share of `total`.
    pub fn share(&self, total: u32, processes: usize) {
        let share = (total / processes.max(1) as u32).max(1);
        self.per_second.store(share, Ordering::Relaxed);
    }

    /// Learns from an answer's headers.
    pub fn observe(&self, bucket: RatelimitingBucket, seen: Seen) {
        let now = Instant::now();
        let reset_at = now + seen.reset_after;
        let mut buckets = self.buckets.lock().unwrap();
        let b = buckets.entry(bucket).or_insert(Bucket {
            remaining: seen.remaining,
            limit: seen.limit,
            reset_at,
        });
        b.limit = seen.limit;
        // A new window: believe the header. The same window: answers can arrive out of order
        // while our own later requests are in flight, so keep the lower count.
        if reset_at > b.reset_at + Duration::from_millis(50) || b.reset_at <= now {
            b.remaining = seen.remaining;
        } else {
            b.remaining = b.remaining.min(seen.remaining);
        }
        b.reset_at = reset_at;
    }

    /// A 429: nothing more on this bucket (or at all, when global) until `retry_after` passes.
    pub fn limited(&self, bucket: RatelimitingBucket, retry_after: Duration, global: bool) {
        let until = Instant::now() + retry_after;
        if global {
            *self.paused_until.lock().unwrap() = Some(until);
            return;
        }
        let mut buckets = self.buckets.lock().unwrap();
        let b = buckets.entry(bucket).or_insert(Bucket {
            remaining: 0,
            limit: 1,
            reset_at: until,
        });
        b.remaining = 0;
        b.reset_at = until;
    }
}
