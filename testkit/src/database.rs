//! A database that exists for one test — a temporary SQLite file, or a PostgreSQL database
//! created on `TEST_POSTGRES_URL`'s server and dropped afterwards — for the server's and the
//! bot's tests alike.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, Database};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The name the app reports for this backend (readyz, status).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The PostgreSQL server tests create their databases on. Trust auth on this machine kind.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists for one test and is removed when this is dropped. Each has a data
/// directory of its own too (the SQLite file, stored attachments).
pub enum TestDatabase {
    Sqlite { dir: tempfile::TempDir },
    Postgres { name: String, dir: tempfile::TempDir },
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => TestDatabase::Sqlite {
                dir: tempfile::tempdir().expect("temp dir"),
            },
            Backend::Postgres => {
                let name = format!("t_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(postgres_admin_url())
                    .await
                    .expect("PostgreSQL must be running for the postgres tests (see README: Tests)");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                TestDatabase::Postgres {
                    name,
                    dir: tempfile::tempdir().expect("temp dir"),
                }
            }
        }
    }

    /// Settings that point the app at this database.
    pub fn settings(&self) -> BTreeMap<String, String> {
        let mut s = BTreeMap::new();
        match self {
            TestDatabase::Sqlite { dir } => {
                s.insert("DATA_DIR".into(), dir.path().join("data").display().to_string());
            }
            TestDatabase::Postgres { name, dir } => {
                let mut url = url::Url::parse(&postgres_admin_url()).expect("admin url");
                url.set_path(name);
                s.insert("DATABASE_URL".into(), url.to_string());
                s.insert("DATA_DIR".into(), dir.path().join("data").display().to_string());
            }
        }
        s
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { name, .. } = self {
            let name = name.clone();
            // Drop runs inside the test's runtime; do the async cleanup on a thread of its own.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(admin) = Database::connect(postgres_admin_url()).await {
                        let _ = admin
                            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .await;
                        admin.close().await.ok();
                    }
                });
            })
            .join()
            .ok();
        }
    }
}
