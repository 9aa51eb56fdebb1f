//! Caps on open feed websockets in this process: per account (a leaked session or a script
//! opening tabs cannot take the process's sockets) and in all. A slot is taken before the
//! upgrade and given back when the socket's task ends, whatever the reason.
//!
//! Handshakes also queue for a turn at the database ([`FeedSlots::handshake`]): in a reconnect
//! storm thousands of sockets check their session and access at once, and without a bound they
//! would hold every pooled connection, so the hub reading new signals — live delivery for
//! everyone already connected — would wait behind them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
struct Counts {
    per_user: HashMap<i64, usize>,
    total: usize,
}

#[derive(Clone, Debug)]
pub struct FeedSlots {
    counts: Arc<Mutex<Counts>>,
    per_user: usize,
    total: usize,
    handshakes: Arc<tokio::sync::Semaphore>,
}

/// Why no slot was free.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    /// This account already has its maximum open.
    User(usize),
    /// The process has its maximum open.
    Process,
}

/// A held slot; dropping it gives it back.
#[derive(Debug)]
pub struct Slot {
    slots: FeedSlots,
    user: i64,
}

impl FeedSlots {
    /// `handshakes`: how many handshakes may use the database at once (keep it below the pool
    /// size, so the rest of the process always finds a connection).
    pub fn new(per_user: usize, total: usize, handshakes: usize) -> Self {
        Self {
            counts: Arc::new(Mutex::new(Counts {
                per_user: HashMap::new(),
                total: 0,
            })),
            per_user,
            total,
            handshakes: Arc::new(tokio::sync::Semaphore::new(handshakes.max(1))),
        }
    }

    /// Waits for a handshake's turn at the database; the turn ends when the permit is dropped.
    pub async fn handshake(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.handshakes
            .acquire()
            .await
            .expect("the handshake gate is never closed")
    }

    pub fn take(&self, user: i64) -> Result<Slot, Full> {
        let mut c = self.counts.lock().expect("feed slots lock");
        if c.total >= self.total {
            return Err(Full::Process);
        }
        let mine = c.per_user.entry(user).or_insert(0);
        if *mine >= self.per_user {
            return Err(Full::User(self.per_user));
        }
        *mine += 1;
        c.total += 1;
        Ok(Slot {
            slots: self.clone(),
            user,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.slots.counts.lock().expect("feed slots lock");
        c.total -= 1;
        if let Some(n) = c.per_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                c.per_user.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_user_and_in_all_and_come_back() {
        let slots = FeedSlots::new(2, 3, 1);
        let a1 = slots.take(1).unwrap();
        let _a2 = slots.take(1).unwrap();
        assert_eq!(slots.take(1).unwrap_err(), Full::User(2));
        let _b1 = slots.take(2).unwrap();
        assert_eq!(slots.take(3).unwrap_err(), Full::Process);
        drop(a1);
        let _a3 = slots.take(1).unwrap();
    }
}
