//! `spawn_app`: the real server, in-process, on port 0, against a database of its own
//! (a temporary SQLite file, or a PostgreSQL database created here and dropped afterwards).

use std::collections::BTreeMap;
use std::sync::Once;

use domain::{AppContext, Config};
use server::Application;
pub use testkit::database::{Backend, TestDatabase, postgres_admin_url};

/// Runs the real `server` binary — another process, as the operator runs it — with only
/// `settings` (and `PATH`) in its environment.
pub fn server_cli(args: &[&str], settings: &BTreeMap<String, String>) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .env_clear()
        .envs(settings)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the server binary runs")
}

/// A free loopback port for a server process to bind.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real `server` binary serving on a port of its own; `kill -9` when dropped.
pub struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn serve(settings: &BTreeMap<String, String>, port: u16) -> Served {
    Served(
        std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .env_clear()
            .envs(settings)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(std::env::temp_dir())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server binary starts"),
    )
}

/// What a command printed, stdout then stderr.
pub fn printed(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
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

static LOGGING: Once = Once::new();

/// Quiet by default; `TEST_LOG=1` shows the server's logs.
fn init_logging() {
    LOGGING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            domain::telemetry::init(domain::config::LogFormat::Text);
        }
    });
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub ctx: AppContext,
    /// Every mail the app sent (its `SMTP_URL` points here).
    pub mail: testkit::smtp_sink::SmtpSink,
    /// The private `/metrics` listener, when `METRICS_ADDR` was set.
    pub metrics_addr: Option<std::net::SocketAddr>,
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

    /// A page's server render as a signed-in browser gets it.
    pub async fn get_with_session(&self, path: &str, session: &str) -> String {
        let res = self
            .client
            .get(self.url(path))
            .header("cookie", format!("sd_session={session}"))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "{path}");
        res.text().await.unwrap()
    }

    /// Calls a server function the way a browser form does (url-encoded), with an optional session cookie.
    pub async fn call(&self, path: &str, form: &[(&str, &str)], session: Option<&str>) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url(path))
            .header("accept", "application/json")
            .form(form);
        if let Some(token) = session {
            req = req.header("cookie", format!("sd_session={token}"));
        }
        req.send().await.expect("request")
    }

    /// Signs up and returns the session token from the Set-Cookie header.
    pub async fn sign_up(&self, email: &str, password: &str) -> String {
        let res = self
            .call("/rpc/sign-up", &[("email", email), ("password", password)], None)
            .await;
        assert!(
            res.status().is_success() || res.status().is_redirection(),
            "sign-up failed: {}",
            res.status()
        );
        session_cookie(&res).expect("sign-up sets the session cookie")
    }

    /// Signs up and verifies the address through the real mail path: the verification mail is
    /// read from the SMTP sink and its token posted the way the link's page posts it. Returns the
    /// session the confirmation signed in (the proof signs out every session made before it).
    pub async fn sign_up_verified(&self, email: &str, password: &str) -> String {
        self.sign_up(email, password).await;
        let res = self.verify_from_mail(email, 1).await;
        session_cookie(&res).expect("confirming the address signs this browser in")
    }

    /// Uses the token of the `n`-th verification mail sent to `email`; returns the response.
    pub async fn verify_from_mail(&self, email: &str, n: usize) -> reqwest::Response {
        let token = self.mailed_token(email, n, "/verify-email?token=").await;
        let res = self.call("/rpc/email/verify", &[("token", &token)], None).await;
        assert!(
            res.status().is_success() || res.status().is_redirection(),
            "verification failed: {}",
            res.status()
        );
        res
    }

    /// The token of the `n`-th mail to `email` whose link has the path `path` (e.g. `/verify-email?token=`).
    pub async fn mailed_token(&self, email: &str, n: usize, path: &str) -> String {
        let mail = self
            .mail
            .wait_for(email, n, std::time::Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("mail #{n} to {email} never arrived"));
        // The link's host is PUBLIC_URL's (port 0 in tests); the path and token are what matter.
        let link = mail
            .link(path)
            .unwrap_or_else(|| panic!("no {path} link in {:?}", mail.text()));
        link.split_once("token=").expect("token in link").1.to_owned()
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.call("/rpc/sign-in", &[("email", email), ("password", password)], None)
            .await
    }

    /// The server-rendered HTML of `path`, for `session` if given.
    pub async fn page(&self, path: &str, session: Option<&str>) -> String {
        let mut req = self.client.get(self.url(path));
        if let Some(token) = session {
            req = req.header("cookie", format!("sd_session={token}"));
        }
        req.send().await.expect("request").text().await.expect("page text")
    }

    /// The signed-in email for a token, or None when the session is not valid.
    pub async fn whoami(&self, token: &str) -> Option<String> {
        let res = self.call("/rpc/viewer", &[], Some(token)).await;
        assert_eq!(res.status(), 200);
        let v: serde_json::Value = res.json().await.unwrap();
        v["email"].as_str().map(str::to_owned)
    }

    /// `/metrics` as the operator's scraper reads it (with the metrics token).
    pub async fn metrics(&self) -> String {
        let res = self
            .client
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "metrics");
        res.text().await.expect("metrics text")
    }

    /// The settings that point another process (the CLI) at this app's database.
    pub fn database_settings(&self) -> BTreeMap<String, String> {
        self._database.settings()
    }

    /// The id of the tier with this slug (basic, advanced, pro).
    pub async fn tier_id(&self, slug: &str) -> i32 {
        domain::entitlements::tiers(&self.ctx.db)
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.slug == slug)
            .unwrap()
            .id
    }

    pub async fn make_admin(&self, email: &str) {
        domain::accounts::set_role(&self.ctx.db, email, domain::accounts::Role::Admin)
            .await
            .unwrap();
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
    let mail = testkit::smtp_sink::SmtpSink::start(0).await.expect("SMTP sink");
    let mut settings = database.settings();
    settings.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
    settings.insert("SMTP_URL".into(), mail.url());
    settings.insert("METRICS_TOKEN".into(), METRICS_TOKEN.into());
    settings.insert("SITE_ROOT".into(), site_root.display().to_string());
    for (k, v) in extra {
        settings.insert((*k).into(), (*v).into());
    }
    let config = Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).expect("valid test config");

    let app = Application::build(config).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_addr = app.metrics_addr();
    let ctx = app.context().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));

    // A browser on our own pages sends its Origin with every POST; tests do the same
    // (security.rs sends foreign or missing origins on purpose).
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ORIGIN, address.parse().expect("origin header"));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("client");
    TestApp {
        address,
        client,
        ctx,
        mail,
        metrics_addr,
        shutdown: Some(tx),
        _database: database,
    }
}

/// The value of the `sd_session` cookie a response sets (None if it sets none or clears it).
pub fn session_cookie(res: &reqwest::Response) -> Option<String> {
    set_cookie_header(res).and_then(|c| {
        let value = c.split(';').next()?.trim().strip_prefix("sd_session=")?.to_owned();
        (!value.is_empty()).then_some(value)
    })
}

pub fn set_cookie_header(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub const PASSWORD: &str = "correct horse battery staple";
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";
