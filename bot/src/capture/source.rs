//! What the capture knows about where messages are: which channels are Source channels (read
//! from the database, refreshed every few seconds so the operator's flags apply at once), which
//! threads sit under which channel, and which guild a channel is in.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use domain::capture::discord::Place;
use domain::connectors::Connector;
use sea_orm::DatabaseConnection;

/// A message in a channel not known as Source re-reads the flags (a few indexed reads), so a
/// channel just flagged is captured from its very next message.
pub const ON_MISS: Duration = Duration::ZERO;

#[derive(Default)]
struct Known {
    /// Source channel → its guild.
    sources: HashMap<u64, u64>,
    /// Thread → (its channel, its guild).
    threads: HashMap<u64, (u64, u64)>,
    loaded_at: Option<Instant>,
}

#[derive(Default)]
pub struct Sources {
    known: Mutex<Known>,
}

impl Sources {
    /// Reloads the Source flags if they are older than `max_age`.
    pub async fn refresh(&self, db: &DatabaseConnection, connector: &Connector, max_age: Duration) {
        let due = self
            .known
            .lock()
            .unwrap()
            .loaded_at
            .is_none_or(|t| t.elapsed() >= max_age);
        if !due {
            return;
        }
        match domain::discovery::runtime_config(db, connector).await {
            Ok(rc) => {
                let mut k = self.known.lock().unwrap();
                k.sources = rc
                    .source_channels
                    .iter()
                    .map(|s| (s.channel_id.get() as u64, s.guild_id.get() as u64))
                    .collect();
                k.loaded_at = Some(Instant::now());
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the source channels"),
        }
    }

    pub fn remember_thread(&self, thread: u64, channel: u64, guild: u64) {
        self.known.lock().unwrap().threads.insert(thread, (channel, guild));
    }

    pub fn forget_thread(&self, thread: u64) {
        self.known.lock().unwrap().threads.remove(&thread);
    }

    /// Where a message posted in `channel_id` (a channel or a thread) belongs, if it is captured.
    pub fn place(&self, channel_id: u64) -> Option<Place> {
        let k = self.known.lock().unwrap();
        if let Some(guild) = k.sources.get(&channel_id) {
            return Some(Place {
                guild_id: *guild,
                channel_id,
                thread_id: None,
            });
        }
        let (parent, guild) = k.threads.get(&channel_id)?;
        k.sources.contains_key(parent).then_some(Place {
            guild_id: *guild,
            channel_id: *parent,
            thread_id: Some(channel_id),
        })
    }

    pub fn is_source(&self, channel_id: u64) -> bool {
        self.known.lock().unwrap().sources.contains_key(&channel_id)
    }

    /// Source channels of `guild`, and the threads known under them (each with its place).
    pub fn of_guild(&self, guild: u64) -> Vec<(u64, Place)> {
        let k = self.known.lock().unwrap();
        let channels: HashSet<u64> = k
            .sources
            .iter()
            .filter(|(_, g)| **g == guild)
            .map(|(c, _)| *c)
            .collect();
        let mut out: Vec<(u64, Place)> = channels
            .iter()
            .map(|c| {
                (
                    *c,
                    Place {
                        guild_id: guild,
                        channel_id: *c,
                        thread_id: None,
                    },
                )
            })
            .collect();
        for (t, (parent, g)) in &k.threads {
            if channels.contains(parent) {
                out.push((
                    *t,
                    Place {
                        guild_id: *g,
                        channel_id: *parent,
                        thread_id: Some(*t),
                    },
                ));
            }
        }
        out.sort_by_key(|(id, _)| *id);
        out
    }
}
