//! `server backup` while signals are being ingested, and `server restore` into a fresh
//! directory (or, on PostgreSQL, the printed `pg_dump`/`pg_restore` commands into a fresh
//! database): every signal acknowledged before the backup began, every grant and every stored
//! blob is there. A restore refuses to replace a database holding data without `--force`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use testkit::database::TestDatabase;

use crate::capture::{Source, create};
use crate::feed::customer_with_access;
use crate::helpers::{Backend, printed as said, server_cli as server};
use crate::on_both_databases;

on_both_databases!(a_backup_during_ingest_restores_every_acknowledged_signal_grant_and_blob);

/// Runs one of the commands `server backup` printed (`  back up:  pg_dump …`) through the shell,
/// with `DATABASE_URL` as given.
fn run_printed(printed: &str, label: &str, database_url: &str) {
    let line = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} command in: {printed}"));
    let command = line.split("   (").next().unwrap().trim();
    let out = Command::new("sh")
        .args(["-c", command])
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{command}: {}", said(&out));
}

async fn a_backup_during_ingest_restores_every_acknowledged_signal_grant_and_blob(backend: Backend) {
    let s = Arc::new(Source::start(backend).await);
    for i in 0..3 {
        customer_with_access(&s.app, &format!("c{i}@example.com"), chrono::Duration::days(9)).await;
    }
    let settings = s.app.database_settings();
    let blobs = domain::blobs::BlobStore::open(&domain::config::BlobStoreTarget::Local(
        Path::new(&settings["DATA_DIR"]).join("blobs"),
    ))
    .unwrap();
    let chart = blobs.put(b"a chart, stored".to_vec().into()).await.unwrap();

    // Ingest goes on before, during and after the backup.
    let stop = Arc::new(AtomicBool::new(false));
    let ingest = tokio::spawn({
        let (s, stop) = (s.clone(), stop.clone());
        async move {
            let mut acknowledged = Vec::new();
            let mut i = 1_000u64;
            while !stop.load(Ordering::Relaxed) {
                s.event(create(i, "during the backup")).await;
                acknowledged.push((i, std::time::Instant::now()));
                i += 1;
            }
            acknowledged
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("signaldesk.backup");
    let began = std::time::Instant::now();
    let out = tokio::task::spawn_blocking({
        let (settings, file) = (settings.clone(), file.clone());
        move || server(&["backup", "--to", file.to_str().unwrap()], &settings)
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", said(&out));
    let printed = said(&out);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let acknowledged = ingest.await.unwrap();
    let before: Vec<u64> = acknowledged
        .iter()
        .filter(|(_, at)| *at < began)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        before.len() > 5,
        "ingest ran before the backup ({} events)",
        before.len()
    );
    assert!(acknowledged.len() > before.len(), "and during it");

    // A fresh place to restore into.
    let fresh = TestDatabase::create(backend).await;
    let target = fresh.settings();
    let restore = |force: bool| {
        let (target, file) = (target.clone(), file.clone());
        tokio::task::spawn_blocking(move || {
            let mut args = vec!["restore", "--from", file.to_str().unwrap()];
            if force {
                args.push("--force");
            }
            server(&args, &target)
        })
    };
    let out = restore(false).await.unwrap();
    assert!(out.status.success(), "{}", said(&out));
    if backend == Backend::Postgres {
        assert!(printed.contains("pg_dump --format=custom"), "{printed}");
        assert!(
            !printed.contains(&settings["DATABASE_URL"]),
            "the URL is never printed: {printed}"
        );
        run_printed(&printed, "back up:", &settings["DATABASE_URL"]);
        run_printed(&printed, "restore:", &target["DATABASE_URL"]);
    }

    let config = domain::Config::from_sources(&BTreeMap::new(), |k| target.get(k).cloned()).unwrap();
    let restored = domain::database::connect(&config).await.unwrap();
    let signals: std::collections::HashSet<i64> = entity::signal::Entity::find()
        .all(&restored)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.message_id)
        .collect();
    let missing: Vec<&u64> = before.iter().filter(|id| !signals.contains(&(**id as i64))).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup and lost: {missing:?}"
    );
    let grants = entity::entitlement_grant::Entity::find()
        .filter(entity::entitlement_grant::Column::Email.like("c%@example.com"))
        .all(&restored)
        .await
        .unwrap();
    assert_eq!(grants.len(), 3, "every grant");
    let restored_blobs = domain::blobs::BlobStore::open(&config.blob_store).unwrap();
    assert_eq!(
        restored_blobs.get(&chart).await.unwrap().as_deref(),
        Some(&b"a chart, stored"[..]),
        "the stored blob"
    );
    restored.close().await.ok();

    // The restored database holds data now: a second restore is refused without --force.
    let again = restore(false).await.unwrap();
    assert!(!again.status.success());
    assert!(said(&again).contains("already holds data"), "{}", said(&again));
    if backend == Backend::Sqlite {
        let forced = restore(true).await.unwrap();
        assert!(forced.status.success(), "{}", said(&forced));
    }
}
