use migration::{Migrator, MigratorTrait};
use sea_orm::EntityTrait;

use crate::helpers::{Backend, TestDatabase};
use crate::on_both_databases;

on_both_databases!(migrations_go_up_down_and_up_again);

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
