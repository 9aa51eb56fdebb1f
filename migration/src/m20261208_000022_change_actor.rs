//! Who made an access change gets a column of its own (`access_change.actor`: an admin's
//! address, `command line`, the storefront event), so `cause` stays a short word of a known set
//! (`payment`, `admin`, `import`, `expiry`, `signup`, `proof`). Before, an admin's address was
//! written into the 32-character `cause`, which PostgreSQL refused for addresses of 27 characters
//! or more. Rows written before move over: `admin <email>` and `order.… #id` become a cause and
//! an actor.
//!
//! `entitlement_grant.order_id` holds an order id (up to 64 characters) with its line (`:49`) or
//! an admin form's key (`admin:` + 64): it is widened to 128 so neither can overflow it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccessChange {
    Table,
    Actor,
}

const MOVE_UP: &[&str] = &[
    "UPDATE access_change SET actor = 'command line', cause = 'admin' WHERE cause = 'admin (command line)'",
    "UPDATE access_change SET actor = substr(cause, 7), cause = 'admin' WHERE cause LIKE 'admin %'",
    "UPDATE access_change SET actor = 'Sell.app ' || cause, cause = 'payment' WHERE cause LIKE 'order.%'",
];

const MOVE_DOWN: &[&str] = &[
    "UPDATE access_change SET cause = substr(actor, 10) WHERE cause = 'payment' AND actor LIKE 'Sell.app %'",
    "UPDATE access_change SET cause = substr('admin ' || actor, 1, 32) WHERE cause = 'admin' AND actor IS NOT NULL",
];

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    for sql in statements {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AccessChange::Table)
                    .add_column(ColumnDef::new(AccessChange::Actor).text().null())
                    .to_owned(),
            )
            .await?;
        run(manager, MOVE_UP).await?;
        // SQLite does not enforce a declared length; PostgreSQL does.
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            run(
                manager,
                &["ALTER TABLE entitlement_grant ALTER COLUMN order_id TYPE varchar(128)"],
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, MOVE_DOWN).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AccessChange::Table)
                    .drop_column(AccessChange::Actor)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            // Fails, changing nothing, while a key longer than the old width is stored.
            run(
                manager,
                &["ALTER TABLE entitlement_grant ALTER COLUMN order_id TYPE varchar(64)"],
            )
            .await?;
        }
        Ok(())
    }
}
