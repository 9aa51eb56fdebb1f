//! Opening the database the configuration names (SQLite file by default, PostgreSQL for scale),
//! running migrations, and the one-line errors an operator sees when that fails.

use std::path::Path;
use std::time::{Duration, Instant};

use migration::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

use crate::config::{Config, DatabaseTarget};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(db: &DatabaseConnection) -> Self {
        match db.get_database_backend() {
            DbBackend::Postgres => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("database error: data directory {dir} is not usable: {reason} (set DATA_DIR to a writable directory)")]
    DataDirUnusable { dir: String, reason: String },
    #[error("database error: cannot open SQLite database {path}: {reason}")]
    SqliteOpen { path: String, reason: String },
    #[error(
        "database error: cannot connect to PostgreSQL at {target}: {reason} (check DATABASE_URL and that the server is running)"
    )]
    PostgresUnreachable { target: String, reason: String },
    #[error("database error: migrations failed: {0}")]
    Migration(String),
}

/// How long start-up waits for PostgreSQL before giving up with a clear error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite waits this long for a competing writer instead of failing with SQLITE_BUSY.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn connect(config: &Config) -> Result<DatabaseConnection, DatabaseError> {
    match &config.database {
        DatabaseTarget::Sqlite { path } => connect_sqlite(path, config.pool_size).await,
        DatabaseTarget::Postgres { url } => connect_postgres(url.expose(), config.pool_size).await,
    }
}

async fn connect_sqlite(path: &Path, pool_size: u32) -> Result<DatabaseConnection, DatabaseError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    ensure_writable_dir(&dir)?;

    let mut options = ConnectOptions::new(format!("sqlite://{}?mode=rwc", path.display()));
    options
        .max_connections(pool_size)
        .min_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts: SqliteConnectOptions| {
            // WAL lets readers (the dashboard) run while a writer (ingest) commits.
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
        });
    Database::connect(options).await.map_err(|e| DatabaseError::SqliteOpen {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// SQLite's own error for an unusable directory ("unable to open database file") names no cause,
/// so the directory is created and probed first.
fn ensure_writable_dir(dir: &Path) -> Result<(), DatabaseError> {
    let unusable = |reason: String| DatabaseError::DataDirUnusable {
        dir: dir.display().to_string(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| unusable(format!("cannot create it ({e})")))?;
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| unusable(format!("cannot write to it ({e})")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

async fn connect_postgres(url: &str, pool_size: u32) -> Result<DatabaseConnection, DatabaseError> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(pool_size)
        .min_connections(1)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(CONNECT_TIMEOUT)
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .map_err(|e| DatabaseError::PostgresUnreachable {
            target: redacted_target(url),
            reason: e.to_string(),
        })
}

/// `host:port/database` of a PostgreSQL URL: enough to find the server, never the credentials.
pub fn redacted_target(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}{}",
            u.host_str().unwrap_or("?"),
            u.port().unwrap_or(5432),
            u.path()
        ),
        Err(_) => "(unparseable URL)".into(),
    }
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DatabaseError> {
    let failed = |e: sea_orm::DbErr| DatabaseError::Migration(e.to_string());
    // Inside one exclusive transaction (both engines have transactional DDL, so a failed
    // migration leaves nothing half-done); a process that waited finds nothing left to do.
    let txn = begin_exclusive(db).await.map_err(failed)?;
    migration::Migrator::up(&txn, None).await.map_err(failed)?;
    txn.commit().await.map_err(failed)
}

/// A write transaction no other process holds at the same time: for the start-up work several
/// processes (servers, bots, the CLI) may begin together on one database — migrating, seeding —
/// where the first does it and the others, having waited, find it done. PostgreSQL: a
/// transaction-scoped advisory lock. SQLite: the write lock an immediate transaction takes at
/// `BEGIN` (waited for under `busy_timeout`).
pub async fn begin_exclusive(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    let txn = begin_write(db).await?;
    if Backend::of(db) == Backend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({STARTUP_LOCK})"))
            .await?;
    }
    Ok(txn)
}

/// Ids per `IN (…)` list in batched reads: far under SQLite's and PostgreSQL's bind limits.
pub const IN_LIST: usize = 1000;

/// The advisory lock key of [`begin_exclusive`] on PostgreSQL ("sdmigrat" in ASCII).
const STARTUP_LOCK: i64 = 0x7364_6d69_6772_6174;

/// Round-trips one query; used by readiness checks. Returns how long it took.
pub async fn ping(db: &DatabaseConnection) -> Result<Duration, sea_orm::DbErr> {
    let started = Instant::now();
    db.execute_unprepared("SELECT 1").await?;
    Ok(started.elapsed())
}

/// Opens a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`IMMEDIATE`): a deferred transaction that reads and then writes fails at once ("database is
/// locked", 517) when another connection commits in between — the server's own background
/// workers, or the bot — while an immediate one waits its turn under `busy_timeout`. Every
/// transaction that writes opens with this; PostgreSQL ignores the mode.
pub async fn begin_write<C: sea_orm::TransactionTrait<Transaction = sea_orm::DatabaseTransaction>>(
    db: &C,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_target_hides_credentials() {
        let t = redacted_target("postgres://app:s3cret@db.internal:6543/signals");
        assert_eq!(t, "db.internal:6543/signals");
        assert_eq!(redacted_target("postgres://h/db"), "h:5432/db");
    }

    #[test]
    fn unusable_data_dir_is_reported_with_its_path() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let err = ensure_writable_dir(&file.join("data")).unwrap_err().to_string();
        assert!(err.starts_with("database error: data directory"), "{err}");
        assert!(err.contains("a-file/data"), "{err}");
        assert!(err.contains("DATA_DIR"), "{err}");
    }
}
