use migration::{Migrator, MigratorTrait};
use sea_orm::EntityTrait;

use crate::helpers::{Backend, TestDatabase};
use crate::on_both_databases;

on_both_databases!(
    migrations_go_up_down_and_up_again,
    processes_starting_together_migrate_one_database_once,
    servers_starting_together_seed_the_tier_roles_once,
);

/// Two server processes built at the same moment on one fresh database with `TIER_ROLES` set:
/// both start (one migrates and seeds the role mapping, the other waits and finds it done), and
/// the mapping holds each role once.
async fn servers_starting_together_seed_the_tier_roles_once(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let mut settings = database.settings();
    settings.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
    settings.insert("CUSTOMER_GUILD_ID".into(), "1300000000000000000".into());
    settings.insert(
        "TIER_ROLES".into(),
        "basic=1300000000000000001,advanced=1300000000000000002,pro=1300000000000000003".into(),
    );
    let build = || {
        let config = domain::Config::from_sources(&Default::default(), |k| settings.get(k).cloned()).unwrap();
        server::Application::build(config)
    };
    let (one, two) = tokio::join!(build(), build());
    let (one, _two) = (one.expect("first server"), two.expect("second server"));
    let rows = entity::tier_role::Entity::find().all(&one.context().db).await.unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
}

/// Several processes (`server migrate`, like servers and bots starting together in a
/// deployment) migrate one fresh database at the same moment: every one succeeds, and each
/// migration is applied once.
async fn processes_starting_together_migrate_one_database_once(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let settings = database.settings();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let settings = settings.clone();
            tokio::task::spawn_blocking(move || crate::helpers::server_cli(&["migrate"], &settings))
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
