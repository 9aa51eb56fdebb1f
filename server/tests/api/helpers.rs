//! `spawn_app`: the real server, in-process, on port 0, against a database of its own
//! (a temporary SQLite file, or a PostgreSQL database created here and dropped afterwards).

use std::collections::BTreeMap;
use std::sync::Once;

use domain::{AppContext, Config};
use sea_orm::{ConnectionTrait, Database};
use server::Application;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` as two tests: `<name>::sqlite` and `<name>::postgres`.
/// The PostgreSQL variant fails (never skips) when PostgreSQL is unreachable.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )+};
}

/// The PostgreSQL server tests create their databases on. Trust auth on this machine kind.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

static LOGGING: Once = Once::new();

/// Quiet by default; `TEST_LOG=1` shows the server's logs.
fn init_logging() {
    LOGGING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            domain::telemetry::init(domain::config::LogFormat::Text);
        }
    });
}

/// A database that exists for one test and is removed when this is dropped.
pub enum TestDatabase {
    Sqlite { dir: tempfile::TempDir },
    Postgres { name: String },
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
                TestDatabase::Postgres { name }
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
            TestDatabase::Postgres { name } => {
                let mut url = url::Url::parse(&postgres_admin_url()).expect("admin url");
                url.set_path(name);
                s.insert("DATABASE_URL".into(), url.to_string());
            }
        }
        s
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { name } = self {
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

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub ctx: AppContext,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    // Declared last: dropped after the server is told to stop.
    _database: TestDatabase,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// Starts the app with extra settings layered over the test defaults.
pub async fn spawn_app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    init_logging();
    let database = TestDatabase::create(backend).await;
    let site_root = tempfile::tempdir().expect("site root").keep();
    let mut settings = database.settings();
    settings.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
    settings.insert("SITE_ROOT".into(), site_root.display().to_string());
    for (k, v) in extra {
        settings.insert((*k).into(), (*v).into());
    }
    let config = Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).expect("valid test config");

    let app = Application::build(config).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let ctx = app.context().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        address,
        client,
        ctx,
        shutdown: Some(tx),
        _database: database,
    }
}
