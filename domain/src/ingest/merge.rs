//! The convergence rules for one source message. Reports arrive duplicated, late and out of
//! order; applying any permutation of the same reports, with any repeats, must end in the same
//! state. `apply` decides what one report does to what is stored:
//! - the newest version wins: ordered by edited timestamp (never edited < edited), ties broken by
//!   content so the winner never depends on arrival order;
//! - a delete is a tombstone: nothing after it resurrects or edits the message, and of several
//!   deletes the earliest time is kept.

use chrono::{DateTime, Utc};

/// The part of a message that edits change. Embeds and attachments are kept as their canonical
/// JSON so versions compare as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub content: String,
    pub embeds_json: String,
    pub attachments_json: String,
    /// Follows the content it names; not part of a version's identity.
    pub mentions_json: String,
    pub edited_at: Option<DateTime<Utc>>,
}

impl Snapshot {
    /// Total order of versions: later edit first, then a content tie-break (see module docs).
    fn version(&self) -> (Option<DateTime<Utc>>, &str, &str, &str) {
        (self.edited_at, &self.content, &self.embeds_json, &self.attachments_json)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Created(Snapshot),
    Updated(Snapshot),
    Deleted { at: DateTime<Utc> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Live(Snapshot),
    Deleted { at: DateTime<Utc> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// The same version (or deletion) is already stored.
    Duplicate,
    /// An older version than the one stored.
    Stale,
    /// The message is deleted; creates and edits after that never bring it back.
    AfterDelete,
}

impl Ignored {
    pub fn reason(self) -> &'static str {
        match self {
            Ignored::Duplicate => "duplicate",
            Ignored::Stale => "older than the stored version",
            Ignored::AfterDelete => "message already deleted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was stored; store this.
    Insert(Stored),
    /// Replace what is stored with this.
    Replace(Stored),
    Ignored(Ignored),
}

pub fn apply(current: Option<&Stored>, report: &Report) -> Outcome {
    match (current, report) {
        (None, Report::Created(s) | Report::Updated(s)) => Outcome::Insert(Stored::Live(s.clone())),
        (None, Report::Deleted { at }) => Outcome::Insert(Stored::Deleted { at: *at }),
        (Some(Stored::Live(cur)), Report::Created(s) | Report::Updated(s)) => match s.version().cmp(&cur.version()) {
            std::cmp::Ordering::Greater => Outcome::Replace(Stored::Live(s.clone())),
            std::cmp::Ordering::Equal => Outcome::Ignored(Ignored::Duplicate),
            std::cmp::Ordering::Less => Outcome::Ignored(Ignored::Stale),
        },
        (Some(Stored::Live(_)), Report::Deleted { at }) => Outcome::Replace(Stored::Deleted { at: *at }),
        (Some(Stored::Deleted { .. }), Report::Created(_) | Report::Updated(_)) => {
            Outcome::Ignored(Ignored::AfterDelete)
        }
        (Some(Stored::Deleted { at: stored }), Report::Deleted { at }) => {
            if at < stored {
                Outcome::Replace(Stored::Deleted { at: *at })
            } else {
                Outcome::Ignored(Ignored::Duplicate)
            }
        }
    }
}

/// Applies reports in order; the state a store would end in.
pub fn fold<'a>(reports: impl IntoIterator<Item = &'a Report>) -> Option<Stored> {
    reports
        .into_iter()
        .fold(None, |state, report| match apply(state.as_ref(), report) {
            Outcome::Insert(s) | Outcome::Replace(s) => Some(s),
            Outcome::Ignored(_) => state,
        })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_764_000_000 + secs, 0).unwrap()
    }

    fn snap(content: &str, edited: Option<i64>) -> Snapshot {
        Snapshot {
            content: content.into(),
            embeds_json: "[]".into(),
            attachments_json: "[]".into(),
            mentions_json: "{}".into(),
            edited_at: edited.map(t),
        }
    }

    #[test]
    fn repeat_create_is_a_duplicate() {
        let c = Report::Created(snap("buy BTC", None));
        let stored = fold([&c]);
        assert_eq!(apply(stored.as_ref(), &c), Outcome::Ignored(Ignored::Duplicate));
    }

    #[test]
    fn older_edit_after_newer_is_stale() {
        let newer = Report::Updated(snap("buy BTC at 90k", Some(20)));
        let older = Report::Updated(snap("buy BTC at 91k", Some(10)));
        let stored = fold([&newer]);
        assert_eq!(apply(stored.as_ref(), &older), Outcome::Ignored(Ignored::Stale));
    }

    #[test]
    fn nothing_resurrects_a_deleted_message() {
        let stored = fold([&Report::Deleted { at: t(30) }]);
        for late in [Report::Created(snap("x", None)), Report::Updated(snap("y", Some(99)))] {
            assert_eq!(apply(stored.as_ref(), &late), Outcome::Ignored(Ignored::AfterDelete));
        }
    }

    #[test]
    fn an_edit_before_its_create_wins_over_the_create() {
        let state = fold([
            &Report::Updated(snap("edited", Some(5))),
            &Report::Created(snap("original", None)),
        ]);
        assert_eq!(state, Some(Stored::Live(snap("edited", Some(5)))));
    }

    /// The reference model: deleted at the earliest delete if any, else the greatest version.
    fn expected(reports: &[Report]) -> Option<Stored> {
        let first_delete = reports
            .iter()
            .filter_map(|r| {
                if let Report::Deleted { at } = r {
                    Some(*at)
                } else {
                    None
                }
            })
            .min();
        if let Some(at) = first_delete {
            return Some(Stored::Deleted { at });
        }
        reports
            .iter()
            .filter_map(|r| match r {
                Report::Created(s) | Report::Updated(s) => Some(s),
                Report::Deleted { .. } => None,
            })
            .max_by(|a, b| a.version().cmp(&b.version()))
            .map(|s| Stored::Live(s.clone()))
    }

    #[test]
    fn any_order_with_any_repeats_converges_to_the_reference_state() {
        let mut rng = StdRng::seed_from_u64(0x5157_4e41_4c53);
        for case in 0..5_000 {
            let mut reports = vec![Report::Created(snap("v0", None))];
            for i in 0..rng.gen_range(0..5) {
                // Few distinct timestamps, so equal edit times with different content occur often.
                let edited = rng.gen_range(1..4);
                reports.push(Report::Updated(snap(
                    &format!("v{i}-{}", rng.gen_range(0..3)),
                    Some(edited),
                )));
            }
            for _ in 0..rng.gen_range(0..3) {
                reports.push(Report::Deleted {
                    at: t(rng.gen_range(10..13)),
                });
            }
            let want = expected(&reports);
            for _ in 0..8 {
                let mut delivery: Vec<&Report> = reports.iter().collect();
                for _ in 0..rng.gen_range(0..4) {
                    delivery.push(&reports[rng.gen_range(0..reports.len())]);
                }
                delivery.shuffle(&mut rng);
                assert_eq!(fold(delivery.iter().copied()), want, "case {case}: {delivery:#?}");
            }
        }
    }
}
