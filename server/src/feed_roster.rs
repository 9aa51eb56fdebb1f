//! The open feed sockets of this process, each with the rights it streams under, and the
//! backstop that checks them all at once.
//!
//! The rights-change log wakes a socket the moment its user's session or access changes
//! ([`crate::rights_watch::RightsWatch`]). Should a wake-up ever be missed — a change written
//! without its log row, the log unreadable for longer than its read window — every
//! `FEED_RECHECK_SECONDS` the process reads the sessions and grants behind all its open sockets
//! in one batched read ([`sweep`]) and wakes only the users whose sockets hold rights that
//! differ from the stored ones. A socket itself reads the database only when it opens, replays an
//! old gap, or is woken: never in steady state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use domain::AppContext;
use domain::entitlements::CustomerAccess;

/// What a socket may receive now: events of the channels `rank` opens, until `until` — the end of
/// the current tier's stretch (a lower tier or the end of access follows), when it looks again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights {
    pub rank: i32,
    pub until: DateTime<Utc>,
    pub access_ends: DateTime<Utc>,
}

impl Rights {
    pub fn of(a: &CustomerAccess) -> Self {
        Self {
            rank: a.tier.rank,
            until: a.tier_ends.min(a.access_ends),
            access_ends: a.access_ends,
        }
    }
}

/// Where a socket's viewer stands, from their session and their access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    SignedOut,
    Ended,
    Active(Rights),
}

impl Standing {
    pub fn of(session_live: bool, access: Option<&CustomerAccess>) -> Self {
        match (session_live, access) {
            (false, _) => Self::SignedOut,
            (true, None) => Self::Ended,
            (true, Some(a)) => Self::Active(Rights::of(a)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Seated {
    user: i64,
    session: i64,
    rights: Rights,
}

#[derive(Default)]
struct Roll {
    next: u64,
    seats: HashMap<u64, Seated>,
}

/// This process's open feed sockets.
#[derive(Clone, Default)]
pub struct FeedRoster(Arc<Mutex<Roll>>);

impl FeedRoster {
    /// Enters a socket of `user`'s `session` streaming under `rights`; it leaves when the seat is
    /// dropped.
    pub fn seat(&self, user: i64, session: i64, rights: Rights) -> Seat {
        let mut roll = self.lock();
        roll.next += 1;
        let id = roll.next;
        roll.seats.insert(id, Seated { user, session, rights });
        Seat {
            roster: self.clone(),
            id,
            user,
            session,
        }
    }

    pub fn len(&self) -> usize {
        self.lock().seats.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Roll> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One open socket's place on the roster.
pub struct Seat {
    roster: FeedRoster,
    id: u64,
    pub user: i64,
    pub session: i64,
}

impl Seat {
    /// The socket now streams under `rights`.
    pub fn holds(&self, rights: Rights) {
        if let Some(s) = self.roster.lock().seats.get_mut(&self.id) {
            s.rights = rights;
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.roster.lock().seats.remove(&self.id);
    }
}

/// Reads the sessions and the access behind every seat on `roster` in one batched read, and
/// returns the users with a socket whose rights differ from them (each once).
pub async fn sweep(ctx: &AppContext, roster: &FeedRoster) -> Result<Vec<i64>, sea_orm::DbErr> {
    let seated: Vec<Seated> = roster.lock().seats.values().copied().collect();
    if seated.is_empty() {
        return Ok(Vec::new());
    }
    let mut sessions: Vec<i64> = seated.iter().map(|s| s.session).collect();
    sessions.sort_unstable();
    sessions.dedup();
    let mut users: Vec<i64> = seated.iter().map(|s| s.user).collect();
    users.sort_unstable();
    users.dedup();
    let live = domain::sessions::live_among(&ctx.db, &sessions).await?;
    let access = domain::entitlements::access_of_each(&ctx.db, &ctx.tiers, &users, Utc::now()).await?;
    let mut stale: Vec<i64> = seated
        .iter()
        .filter(|s| Standing::of(live.contains(&s.session), access.get(&s.user)) != Standing::Active(s.rights))
        .map(|s| s.user)
        .collect();
    stale.sort_unstable();
    stale.dedup();
    Ok(stale)
}
