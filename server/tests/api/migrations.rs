use migration::{Migrator, MigratorTrait};
use sea_orm::EntityTrait;

use crate::helpers::{Backend, TestDatabase};
use crate::on_both_databases;

on_both_databases!(
    migrations_go_up_down_and_up_again,
    processes_starting_together_migrate_one_database_once,
);

/// Several processes (`server migrate`, like servers and bots starting together in a
/// deployment) migrate one fresh database at the same moment: every one succeeds, and each
/// migration is applied once.
async fn processes_starting_together_migrate_one_database_once(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let settings = database.settings();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let settings = settings.clone();
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_server"))
                    .arg("migrate")
                    .env_clear()
                    .envs(settings)
                    .env("PATH", std::env::var("PATH").unwrap_or_default())
                    .current_dir(std::env::temp_dir())
                    .output()
                    .unwrap()
            })
        })
        .collect();
    for run in runs {
        let out = run.await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let config = domain::Config::from_sources(&Default::default(), |k| settings.get(k).cloned()).unwrap();
    let db = domain::database::connect(&config).await.unwrap();
    assert!(Migrator::get_pending_migrations(&db).await.unwrap().is_empty());
    assert_eq!(
        Migrator::get_applied_migrations(&db).await.unwrap().len(),
        Migrator::migrations().len()
    );
    assert_eq!(entity::tier::Entity::find().all(&db).await.unwrap().len(), 3);
    db.close().await.unwrap();
}

/// Every migration's `down` must undo its `up` exactly, on both engines.
async fn migrations_go_up_down_and_up_again(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let settings = database.settings();
    let config = domain::Config::from_sources(&Default::default(), |k| settings.get(k).cloned()).unwrap();
    let db = domain::database::connect(&config).await.unwrap();

    Migrator::up(&db, None).await.unwrap();
    assert_eq!(entity::tier::Entity::find().all(&db).await.unwrap().len(), 3);
    Migrator::down(&db, None).await.unwrap();
    assert!(
        entity::tier::Entity::find().all(&db).await.is_err(),
        "table should be gone"
    );
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(entity::tier::Entity::find().all(&db).await.unwrap().len(), 3);
    assert!(Migrator::get_pending_migrations(&db).await.unwrap().is_empty());
    db.close().await.unwrap();
}
