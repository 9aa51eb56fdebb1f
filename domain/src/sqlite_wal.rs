//! Changes to a SQLite database's write-ahead log, as wake-ups: SQLite's stand-in for
//! PostgreSQL's NOTIFY. Every commit, whichever process makes it (the capturing bot, the replay
//! CLI), appends to `<database>-wal`; on Linux inotify reports that write within microseconds,
//! which is what lets a signal the bot captured reach open dashboards as fast as one ingested in
//! the server's own process. Elsewhere, or when the directory
//! cannot be watched, [`WalChanges::watch`] fails and the caller polls instead.

use std::path::Path;

#[cfg(target_os = "linux")]
pub struct WalChanges {
    events: inotify::EventStream<[u8; 4096]>,
    log: std::ffi::OsString,
}

#[cfg(target_os = "linux")]
impl WalChanges {
    pub fn watch(database: &Path) -> std::io::Result<Self> {
        use inotify::{Inotify, WatchMask};
        let dir = match database.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let Some(file) = database.file_name() else {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"));
        };
        let mut log = file.to_owned();
        log.push("-wal");
        let inotify = Inotify::init()?;
        // The directory, not the file: the log is created and recreated by SQLite as it likes.
        inotify.watches().add(dir, WatchMask::MODIFY | WatchMask::CREATE)?;
        Ok(WalChanges {
            events: inotify.into_event_stream([0; 4096])?,
            log,
        })
    }

    /// Waits until the log changes; `false` when the watch broke (the caller falls back to
    /// polling).
    pub async fn changed(&mut self) -> bool {
        use futures_util::StreamExt;
        loop {
            match self.events.next().await {
                Some(Ok(e)) if e.name.as_deref() == Some(self.log.as_os_str()) => return true,
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "watching the SQLite log failed; polling instead");
                    return false;
                }
                None => return false,
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub struct WalChanges;

#[cfg(not(target_os = "linux"))]
impl WalChanges {
    pub fn watch(_: &Path) -> std::io::Result<Self> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    pub async fn changed(&mut self) -> bool {
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::Duration;

    use sea_orm::ConnectionTrait;
    use tokio::time::timeout;

    use super::WalChanges;

    #[tokio::test]
    async fn a_commit_through_another_connection_wakes_the_watcher() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watched.db");
        let db = sea_orm::Database::connect(format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        db.execute_unprepared("PRAGMA journal_mode=WAL").await.unwrap();
        db.execute_unprepared("CREATE TABLE t (x INTEGER)").await.unwrap();
        // Another database in the same directory is not ours to follow.
        let other = sea_orm::Database::connect(format!("sqlite://{}?mode=rwc", dir.path().join("other.db").display()))
            .await
            .unwrap();
        other.execute_unprepared("PRAGMA journal_mode=WAL").await.unwrap();
        other.execute_unprepared("CREATE TABLE t (x INTEGER)").await.unwrap();

        let mut changes = WalChanges::watch(&path).unwrap();
        other.execute_unprepared("INSERT INTO t VALUES (1)").await.unwrap();
        assert!(
            timeout(Duration::from_millis(300), changes.changed()).await.is_err(),
            "nothing was committed to the watched database"
        );
        db.execute_unprepared("INSERT INTO t VALUES (1)").await.unwrap();
        assert!(timeout(Duration::from_secs(5), changes.changed()).await.unwrap());
    }
}
