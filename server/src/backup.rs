//! `server backup --to FILE` and `server restore --from FILE [--force]`.
//!
//! On SQLite a backup is one gzipped tar: a consistent copy of the database taken while the
//! server runs (`VACUUM INTO`, a single read transaction: writers go on, and the copy is the
//! database as of one commit), then the blob store's files. Blobs are written before any row
//! names them and never change, so copying them after the database gives every blob the copy
//! names. On PostgreSQL the database is `pg_dump`'s job: the command prints the exact commands
//! (the URL read from `$DATABASE_URL`, never printed) after checking that the installed `pg_dump`
//! can dump this server, and the archive holds the blob store.
//!
//! A restore refuses to replace a database that holds data unless `--force` is given; the server
//! must be stopped first (a running one keeps the replaced file open).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use domain::Config;
use domain::config::{BlobStoreTarget, DatabaseTarget};
use sea_orm::{ConnectionTrait, DatabaseConnection};

/// The archive's first entry: what it holds.
const MANIFEST: &str = "manifest.json";
/// The SQLite copy inside the archive.
const DATABASE: &str = "signaldesk.db";
/// The blob store's files inside the archive.
const BLOBS: &str = "blobs";
const FORMAT: u32 = 1;

#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    format: u32,
    engine: String,
    created_at: chrono::DateTime<chrono::Utc>,
    version: String,
    /// Whether the blob store's files are in the archive (not when it is object storage).
    blobs: bool,
}

fn err(context: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{context}: {e}")
}

pub async fn backup(config: &Config, to: &Path) -> Result<String, String> {
    let db = domain::database::connect(config).await.map_err(|e| e.to_string())?;
    let work = tempfile::Builder::new()
        .prefix(".signaldesk-backup-")
        .tempdir_in(
            to.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
        .map_err(err("cannot make a working directory next to --to"))?;
    let mut notes = Vec::new();
    let engine = match &config.database {
        DatabaseTarget::Sqlite { .. } => {
            let copy = work.path().join(DATABASE);
            let quoted = copy.display().to_string().replace('\'', "''");
            db.execute_unprepared(&format!("VACUUM INTO '{quoted}'"))
                .await
                .map_err(|e| format!("copying the database: {e}"))?;
            "sqlite"
        }
        DatabaseTarget::Postgres { .. } => {
            notes.push(pg_commands(&db, to).await?);
            "postgres"
        }
    };
    db.close().await.ok();
    let blobs = match &config.blob_store {
        BlobStoreTarget::Local(dir) => Some(dir.clone()),
        BlobStoreTarget::S3 { bucket, .. } => {
            notes.push(format!(
                "blobs are in the bucket {bucket}: back them up with the bucket's versioning or replication (not in this file)"
            ));
            None
        }
    };
    let manifest = Manifest {
        format: FORMAT,
        engine: engine.to_owned(),
        created_at: chrono::Utc::now(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        blobs: blobs.is_some(),
    };
    let partial = work.path().join("backup.tar.gz");
    let counted = write_archive(&partial, &manifest, work.path().join(DATABASE), blobs.as_deref())?;
    std::fs::rename(&partial, to).map_err(err("cannot move the backup into place"))?;
    let mut out = format!(
        "backup written to {} ({} database, {counted} blob files)",
        to.display(),
        if engine == "sqlite" { "with the" } else { "without the" }
    );
    for n in notes {
        out.push('\n');
        out.push_str(&n);
    }
    Ok(out)
}

/// Checks that the installed `pg_dump` can dump this server, and says how to dump and restore.
async fn pg_commands(db: &DatabaseConnection, to: &Path) -> Result<String, String> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT current_setting('server_version_num')::int AS v",
        ))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the server did not say its version")?;
    let server: i32 = row.try_get("", "v").map_err(|e| e.to_string())?;
    let server_major = server / 10_000;
    let out = std::process::Command::new("pg_dump")
        .arg("--version")
        .output()
        .map_err(|_| format!("pg_dump is not installed: install the PostgreSQL {server_major} client tools (postgresql-client-{server_major})"))?;
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    let dump_major: i32 = said
        .split_whitespace()
        .find_map(|w| w.split('.').next()?.parse().ok())
        .ok_or_else(|| format!("cannot read pg_dump's version from {said:?}"))?;
    if dump_major < server_major {
        return Err(format!(
            "pg_dump {dump_major} cannot dump a PostgreSQL {server_major} server: install postgresql-client-{server_major}"
        ));
    }
    let dump = format!("{}.pgdump", to.display());
    Ok(format!(
        "the database is PostgreSQL {server_major} (pg_dump {dump_major} can dump it); with DATABASE_URL set as for the server:\n\
         \x20 back up:  pg_dump --format=custom --no-owner --file='{dump}' \"$DATABASE_URL\"\n\
         \x20 restore:  pg_restore --no-owner --exit-on-error --dbname=\"$DATABASE_URL\" '{dump}'   (into an empty database; the server stopped)"
    ))
}

/// Writes the archive: the manifest, the database copy (if there is one), the blob files.
/// Returns how many blob files it holds.
fn write_archive(to: &Path, manifest: &Manifest, database: PathBuf, blobs: Option<&Path>) -> Result<usize, String> {
    let file = std::fs::File::create(to).map_err(err("cannot write the backup"))?;
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    let json = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(manifest.created_at.timestamp().max(0) as u64);
    tar.append_data(&mut header, MANIFEST, json.as_slice())
        .map_err(err("writing the backup"))?;
    if database.exists() {
        tar.append_path_with_name(&database, DATABASE)
            .map_err(err("writing the backup"))?;
    }
    let mut counted = 0;
    if let Some(dir) = blobs.filter(|d| d.exists()) {
        for entry in walk(dir).map_err(err("reading the blob store"))? {
            let name = Path::new(BLOBS).join(entry.strip_prefix(dir).expect("walked under dir"));
            tar.append_path_with_name(&entry, name)
                .map_err(err("writing the backup"))?;
            counted += 1;
        }
    }
    let gz = tar.into_inner().map_err(err("writing the backup"))?;
    let file = gz.finish().map_err(err("writing the backup"))?;
    file.sync_all().map_err(err("writing the backup"))?;
    Ok(counted)
}

/// Every file under `dir` (a blob's name is its digest; nothing else lives there but partial
/// writes, which `object_store` names with a `#` suffix and which are left out).
fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                todo.push(path);
            } else if !path.to_string_lossy().contains('#') {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

pub async fn restore(config: &Config, from: &Path, force: bool) -> Result<String, String> {
    let manifest = read_manifest(from)?;
    if manifest.format != FORMAT {
        return Err(format!(
            "{} is a backup of format {}; this version reads format {FORMAT}",
            from.display(),
            manifest.format
        ));
    }
    let held = holds_data(config).await?;
    if let (Some(what), false) = (&held, force) {
        return Err(format!(
            "the database already holds data ({what}); stop the server and pass --force to replace it"
        ));
    }
    let mut out = Vec::new();
    match (&config.database, manifest.engine.as_str()) {
        (DatabaseTarget::Sqlite { path }, "sqlite") => {
            let staged = path.with_extension("restoring");
            let blobs = match &config.blob_store {
                BlobStoreTarget::Local(dir) => Some(dir.as_path()),
                BlobStoreTarget::S3 { .. } => None,
            };
            let counted = unpack(from, Some(&staged), blobs)?;
            // The old database's write-ahead log must not be replayed onto the restored file.
            for suffix in ["-wal", "-shm"] {
                let mut side = path.clone().into_os_string();
                side.push(suffix);
                let _ = std::fs::remove_file(side);
            }
            std::fs::rename(&staged, path).map_err(err("cannot move the restored database into place"))?;
            out.push(format!(
                "restored the database to {} and {counted} blob files (backup of {})",
                path.display(),
                manifest.created_at.to_rfc3339()
            ));
        }
        (DatabaseTarget::Postgres { .. }, "postgres") => {
            let blobs = match &config.blob_store {
                BlobStoreTarget::Local(dir) => Some(dir.as_path()),
                BlobStoreTarget::S3 { .. } => None,
            };
            let counted = unpack(from, None, blobs)?;
            out.push(format!(
                "restored {counted} blob files; restore the database with the pg_restore command `server backup` printed ({}.pgdump)",
                from.display()
            ));
        }
        (_, engine) => {
            return Err(format!(
                "{} is a backup of a {engine} database; DATABASE_URL names the other kind",
                from.display()
            ));
        }
    }
    Ok(out.join("\n"))
}

fn open_archive(from: &Path) -> Result<tar::Archive<flate2::read::GzDecoder<std::fs::File>>, String> {
    let file = std::fs::File::open(from).map_err(|e| format!("--from {}: {e}", from.display()))?;
    Ok(tar::Archive::new(flate2::read::GzDecoder::new(file)))
}

fn read_manifest(from: &Path) -> Result<Manifest, String> {
    let not_ours = || format!("{} is not a SignalDesk backup", from.display());
    let mut archive = open_archive(from)?;
    let mut entries = archive.entries().map_err(|_| not_ours())?;
    let mut first = entries.next().ok_or_else(not_ours)?.map_err(|_| not_ours())?;
    if first.path().map_err(|_| not_ours())?.as_ref() != Path::new(MANIFEST) {
        return Err(not_ours());
    }
    let mut json = String::new();
    first.read_to_string(&mut json).map_err(|_| not_ours())?;
    serde_json::from_str(&json).map_err(|_| not_ours())
}

/// Unpacks the database copy to `database` and the blob files under `blobs`; returns the count
/// of blob files. Entries are written only by name under those two places (never by the
/// archive's own paths, so a crafted archive cannot write elsewhere).
fn unpack(from: &Path, database: Option<&Path>, blobs: Option<&Path>) -> Result<usize, String> {
    let mut archive = open_archive(from)?;
    let mut counted = 0;
    for entry in archive.entries().map_err(err("reading the backup"))? {
        let mut entry = entry.map_err(err("reading the backup"))?;
        let name = entry.path().map_err(err("reading the backup"))?.into_owned();
        let target = if name == Path::new(DATABASE) {
            database.map(Path::to_path_buf)
        } else if let Ok(rest) = name.strip_prefix(BLOBS) {
            let safe = rest.components().all(|c| matches!(c, std::path::Component::Normal(_)));
            if !safe {
                return Err(format!(
                    "the backup names a file outside the blob store: {}",
                    name.display()
                ));
            }
            counted += 1;
            blobs.map(|b| b.join(rest))
        } else {
            None
        };
        let Some(target) = target else { continue };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(err("restoring"))?;
        }
        let mut out = std::fs::File::create(&target).map_err(err("restoring"))?;
        std::io::copy(&mut entry, &mut out).map_err(err("restoring"))?;
        out.flush().map_err(err("restoring"))?;
        out.sync_all().map_err(err("restoring"))?;
    }
    Ok(counted)
}

/// What the configured database already holds, if anything (`None`: empty or not there).
async fn holds_data(config: &Config) -> Result<Option<String>, String> {
    if let DatabaseTarget::Sqlite { path } = &config.database
        && !path.exists()
    {
        return Ok(None);
    }
    let db = domain::database::connect(config).await.map_err(|e| e.to_string())?;
    let mut held = Vec::new();
    for (table, what) in [
        ("user_account", "accounts"),
        ("signal", "signals"),
        ("entitlement_grant", "grants"),
    ] {
        let count = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await;
        // A table that is not there (a database never migrated) holds nothing.
        if let Ok(Some(row)) = count {
            let n: i64 = row.try_get("", "n").map_err(|e| e.to_string())?;
            if n > 0 {
                held.push(format!("{n} {what}"));
            }
        }
    }
    db.close().await.ok();
    Ok((!held.is_empty()).then(|| held.join(", ")))
}
