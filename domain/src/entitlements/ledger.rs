//! The access ledger's arithmetic: from the grants a customer holds, when they have which tier.
//! One rule produces every behaviour the storefront promises:
//!
//! > At any instant the customer has the highest tier with paid time left, and only that tier's
//! > time runs down.
//!
//! So buying the same tier again extends from the current end (its time queues behind); buying
//! a higher tier starts at once and the lower tier's remaining days resume after it ends (they
//! are paused, not spent); a refund removes exactly that order's days (the timeline is simply
//! recomputed without it, so later time shifts back). No paid second is created or lost: the
//! timeline is never idle while any grant has time left.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

/// One grant as the ledger sees it. `rank` orders tiers (higher is better).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub rank: i32,
    /// When the time becomes usable (the purchase or admin action).
    pub starts: DateTime<Utc>,
    pub length: Duration,
}

/// A stretch of time with one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub rank: i32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The customer's access over time, from the grants still in force (revoked ones left out).
pub fn timeline(grants: &[Grant]) -> Vec<Segment> {
    let mut pending: Vec<&Grant> = grants.iter().filter(|g| g.length > Duration::zero()).collect();
    pending.sort_by_key(|g| g.starts);
    let mut pending = pending.into_iter().peekable();
    let mut balance: BTreeMap<i32, Duration> = BTreeMap::new();
    let mut segments: Vec<Segment> = Vec::new();
    let Some(first) = pending.peek() else {
        return segments;
    };
    let mut now = first.starts;
    loop {
        while let Some(g) = pending.next_if(|g| g.starts <= now) {
            *balance.entry(g.rank).or_insert_with(Duration::zero) += g.length;
        }
        let Some((&rank, &left)) = balance.iter().next_back() else {
            match pending.peek() {
                Some(g) => {
                    now = g.starts;
                    continue;
                }
                None => break,
            }
        };
        let runs_out = now + left;
        let until = match pending.peek() {
            Some(g) if g.starts < runs_out => g.starts,
            _ => runs_out,
        };
        let used = until - now;
        if used == left {
            balance.remove(&rank);
        } else {
            balance.insert(rank, left - used);
        }
        push(
            &mut segments,
            Segment {
                rank,
                start: now,
                end: until,
            },
        );
        now = until;
    }
    segments
}

fn push(segments: &mut Vec<Segment>, s: Segment) {
    if s.start == s.end {
        return;
    }
    match segments.last_mut() {
        Some(last) if last.rank == s.rank && last.end == s.start => last.end = s.end,
        _ => segments.push(s),
    }
}

/// The tier at an instant, if any.
pub fn tier_at(segments: &[Segment], at: DateTime<Utc>) -> Option<i32> {
    segments.iter().find(|s| s.start <= at && at < s.end).map(|s| s.rank)
}

/// What a customer has right now: the current tier, when it changes, and when access ends
/// altogether (the end of the unbroken run of segments from now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub rank: i32,
    pub tier_ends: DateTime<Utc>,
    pub access_ends: DateTime<Utc>,
}

pub fn access_at(segments: &[Segment], at: DateTime<Utc>) -> Option<Access> {
    let i = segments.iter().position(|s| s.start <= at && at < s.end)?;
    let mut access_ends = segments[i].end;
    for s in &segments[i + 1..] {
        if s.start != access_ends {
            break;
        }
        access_ends = s.end;
    }
    Some(Access {
        rank: segments[i].rank,
        tier_ends: segments[i].end,
        access_ends,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn day(n: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(n)
    }

    fn grant(rank: i32, starts: i64, days: i64) -> Grant {
        Grant {
            rank,
            starts: day(starts),
            length: Duration::days(days),
        }
    }

    #[test]
    fn same_tier_again_extends_from_the_current_end() {
        let t = timeline(&[grant(1, 0, 30), grant(1, 10, 30)]);
        assert_eq!(
            t,
            vec![Segment {
                rank: 1,
                start: day(0),
                end: day(60)
            }]
        );
    }

    #[test]
    fn after_a_lapse_time_starts_at_the_purchase() {
        let t = timeline(&[grant(1, 0, 30), grant(1, 40, 30)]);
        assert_eq!(access_at(&t, day(35)), None);
        assert_eq!(access_at(&t, day(45)).unwrap().access_ends, day(70));
    }

    #[test]
    fn a_higher_tier_starts_now_and_the_lower_resumes_after_it() {
        // basic for 30 days; on day 10 buy pro for 30 days.
        let t = timeline(&[grant(1, 0, 30), grant(3, 10, 30)]);
        assert_eq!(
            t,
            vec![
                Segment {
                    rank: 1,
                    start: day(0),
                    end: day(10)
                },
                Segment {
                    rank: 3,
                    start: day(10),
                    end: day(40)
                },
                Segment {
                    rank: 1,
                    start: day(40),
                    end: day(60)
                },
            ]
        );
        let now = access_at(&t, day(15)).unwrap();
        assert_eq!((now.rank, now.tier_ends, now.access_ends), (3, day(40), day(60)));
    }

    #[test]
    fn a_refund_removes_exactly_that_orders_days() {
        let all = [grant(1, 0, 30), grant(1, 5, 30), grant(1, 6, 30)];
        let refunded_second = [all[0].clone(), all[2].clone()];
        assert_eq!(access_at(&timeline(&all), day(1)).unwrap().access_ends, day(90));
        assert_eq!(
            access_at(&timeline(&refunded_second), day(1)).unwrap().access_ends,
            day(60)
        );
    }

    /// The reference: walk time in whole hours, holding a balance per tier, spending only the
    /// highest tier's balance.
    fn reference(grants: &[Grant], hours: i64) -> Vec<Option<i32>> {
        let mut balance: BTreeMap<i32, i64> = BTreeMap::new();
        (0..hours)
            .map(|h| {
                let at = day(0) + Duration::hours(h);
                for g in grants.iter().filter(|g| g.starts == at) {
                    *balance.entry(g.rank).or_default() += g.length.num_hours();
                }
                let top = balance.iter().rev().find(|(_, left)| **left > 0).map(|(r, _)| *r);
                if let Some(r) = top {
                    *balance.get_mut(&r).unwrap() -= 1;
                }
                top
            })
            .collect()
    }

    #[test]
    fn random_ledgers_match_the_reference_and_conserve_paid_time() {
        let mut rng = StdRng::seed_from_u64(0x1ED6E5);
        for case in 0..3_000 {
            let mut grants: Vec<Grant> = (0..rng.gen_range(0..8))
                .map(|_| Grant {
                    rank: rng.gen_range(1..=3),
                    starts: day(0) + Duration::hours(rng.gen_range(0..200)),
                    length: Duration::hours(rng.gen_range(0..72)),
                })
                .collect();
            // Refunds: drop random grants; what remains must still be consistent.
            grants.retain(|_| rng.gen_bool(0.85));
            let t = timeline(&grants);
            let paid: Duration = grants.iter().map(|g| g.length).sum();
            let used: Duration = t.iter().map(|s| s.end - s.start).sum();
            assert_eq!(used, paid, "case {case}: paid time created or lost: {grants:?}");
            let want = reference(&grants, 800);
            for (h, expected) in want.iter().enumerate() {
                let at = day(0) + Duration::hours(h as i64);
                assert_eq!(tier_at(&t, at), *expected, "case {case}, hour {h}: {grants:?}");
            }
            for w in t.windows(2) {
                assert!(w[0].end <= w[1].start, "segments overlap");
            }
        }
    }
}
