//! What the bot's tests and benchmark share: the real `bot` binary as a child process, and
//! linked customers created in bulk.

// Each test binary uses some of these.
#![allow(dead_code)]

/// Runs each named `async fn(Backend)` as two tests: on SQLite and on PostgreSQL.
#[allow(unused_macros)]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(testkit::database::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(testkit::database::Backend::Postgres).await
            }
        }
    )+};
}

pub mod capture;
pub mod mirror;

use std::collections::BTreeMap;

use chrono::Utc;
use sea_orm::{DatabaseConnection, EntityTrait, Set};

/// A customer whose address is proven (as after its verification link): the only kind that
/// paid or given time, and so roles, reach. Returns the account id.
pub async fn proven_customer(db: &DatabaseConnection, email: &str) -> i64 {
    domain::accounts::create(
        db,
        email,
        domain::Secret::new("correct horse battery".into()),
        domain::accounts::Role::Customer,
    )
    .await
    .unwrap()
    .id
}

/// Starts the real bot binary with exactly `settings` (killed when dropped).
pub fn spawn_bot(settings: &BTreeMap<String, String>, log: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_bot"))
        .env_clear()
        .envs(settings)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", log)
        .current_dir(std::env::temp_dir())
        .kill_on_drop(true)
        .stdout(if std::env::var_os("BOT_LOG").is_some() {
            std::process::Stdio::inherit()
        } else {
            std::process::Stdio::null()
        })
        .spawn()
        .expect("the bot binary starts")
}

/// `n` customers (no password that signs in), each linked to Discord account
/// `first_member + i`. Returns their user ids in order.
pub async fn linked_customers(db: &DatabaseConnection, n: usize, first_member: u64) -> Vec<i64> {
    let now = Utc::now();
    let mut users = Vec::with_capacity(n);
    for i in 0..n {
        let user = entity::user_account::Entity::insert(entity::user_account::ActiveModel {
            pid: Set(format!("00000000-0000-0000-0000-{i:012}")),
            email: Set(format!("c{i}@example.com")),
            password_hash: Set("not-a-login".into()),
            role: Set("customer".into()),
            created_at: Set(now),
            password_changed_at: Set(now),
            email_verified_at: Set(Some(now)),
            ..Default::default()
        })
        .exec(db)
        .await
        .unwrap()
        .last_insert_id;
        domain::discord_link::link(db, None, user, (first_member + i as u64) as i64, "member")
            .await
            .unwrap();
        users.push(user);
    }
    users
}
