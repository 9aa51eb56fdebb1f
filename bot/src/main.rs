//! The Discord worker. It runs the job kinds it knows (role sync, role-drift sweeps, mirroring) against Discord's REST API
//! with one rate limiter per process, and reports its state to the database for the admin
//! console. Any number of bot processes may share one database: the queue hands each job to one.
//! Without DISCORD_BOT_TOKEN it says clearly that it is idle, and why.

mod capture;
mod discord_api;
mod mirror;
mod rate_limit;
mod reminder_dm;
mod role_drift;
mod role_sync;
mod status;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use domain::Config;
use domain::jobs::{self, JobKind};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::sync::{Notify, watch};

use crate::discord_api::DiscordApi;
use crate::status::Status;

/// Jobs one process works on at once.
const CONCURRENCY: usize = 4;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const REPORT_EVERY: Duration = Duration::from_secs(15);
/// How often each process recounts the live processes to take its share of the global limit.
const SHARE_EVERY: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let config = Config::load_or_exit();
    domain::telemetry::init(config.log_format);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("{line}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), String> {
    let mut shutdown = Shutdown::listen();
    let db = domain::database::connect(&config).await.map_err(|e| e.to_string())?;
    // The server owns migrations; the bot only checks it can talk to the same database.
    domain::database::ping(&db)
        .await
        .map_err(|e| format!("database error: {e}"))?;
    let backend = domain::Backend::of(&db).as_str();
    let status = Arc::new(Status::new());
    let Some(token) = config.discord_bot_token.as_ref() else {
        let why = "DISCORD_BOT_TOKEN is not set, so there is no Discord work to do";
        tracing::info!(database = backend, "bot idle: {why}");
        report(&db, &status, "idle", why, None, &json!([])).await;
        shutdown.wait().await;
        report(&db, &status, "stopped", "stopped by a signal", None, &json!([])).await;
        return close(db).await;
    };
    let files = mirror::Files {
        blobs: domain::blobs::BlobStore::open(&config.blob_store).map_err(|e| {
            format!("{e} (the bot reads the attachments the server stored: check DATA_DIR or BLOB_STORE_URL)")
        })?,
        public_url: config.public_url.clone(),
    };
    let api = Arc::new(DiscordApi::new(
        token.expose(),
        config.discord_api_url.as_str(),
        REQUEST_TIMEOUT,
        config.discord_requests_per_second,
    ));
    // Counted among the live processes before the first request, and quiet for one recount
    // period, so the others have shrunk their share of the global limit when this one starts
    // using its own.
    report(&db, &status, "starting", "connecting to Discord", None, &json!([])).await;
    tokio::time::sleep(SHARE_EVERY + Duration::from_millis(100)).await;
    share_once(&db, &api, config.discord_requests_per_second).await;
    let (stop_tx, stop) = watch::channel(false);
    let reporter = tokio::spawn(keep_reporting(
        db.clone(),
        api.clone(),
        status.clone(),
        config.customer_guild_id,
        stop.clone(),
    ));
    let sharer = tokio::spawn(share_global_limit(
        db.clone(),
        api.clone(),
        config.discord_requests_per_second,
        stop.clone(),
    ));
    let wake = Arc::new(Notify::new());
    let listener = tokio::spawn(relay_wake_ups(db.clone(), wake.clone(), stop.clone()));
    let settings = jobs::worker::Settings {
        kinds: vec![
            JobKind::RoleSync,
            JobKind::RoleDrift,
            JobKind::Mirror,
            JobKind::ReminderDm,
        ],
        lease: chrono::Duration::from_std(config.job_lease).unwrap_or(chrono::Duration::seconds(60)),
        // PostgreSQL wakes workers with NOTIFY at once, so its poll is only the fallback;
        // SQLite has no cross-process wake-up, so it polls often (one indexed query).
        poll: if domain::Backend::of(&db) == domain::Backend::Postgres {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(100)
        },
    };
    if let Some(guild) = domain::role_sync::RoleGuild::from_config(&config) {
        // The hourly sweep: at most one waits, so every process scheduling it on start is fine,
        // and one that came due while every process was down runs at once.
        let next = chrono::Utc::now() + domain::role_drift::EVERY;
        if let Err(e) = domain::role_drift::schedule(&db, &guild, next).await {
            tracing::warn!(error = %e, "cannot schedule the hourly role-drift sweep");
        }
    }
    let capturer = tokio::spawn(capture::run(
        db.clone(),
        api.clone(),
        capture::Settings {
            token: token.expose().to_owned(),
            api_url: config.discord_api_url.to_string(),
            // Which process captures, for the operator (and a test that kills it).
            instance: format!("{}@pid{}", status.id, std::process::id()),
            attachment_sources: config.attachment_sources.clone(),
            recheck_messages: config.capture_recheck_messages,
            sweep: config.capture_sweep,
        },
        stop.clone(),
    ));
    tracing::info!(database = backend, instance = %status.id, "bot working: gateway capture, role sync, role-drift sweeps, mirroring, reminder DMs");
    let shared_config = Arc::new(config.clone());
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (db, api, status, files) = (db.clone(), api.clone(), status.clone(), files.clone());
            let config = Arc::clone(&shared_config);
            tokio::spawn(jobs::worker::run(
                db.clone(),
                settings.clone(),
                wake.clone(),
                stop.clone(),
                move |job| {
                    let (db, api, status, files) = (db.clone(), api.clone(), status.clone(), files.clone());
                    let config = Arc::clone(&config);
                    async move {
                        let outcome = match job.job.kind {
                            JobKind::RoleSync => role_sync::run(&db, &api, &job).await,
                            JobKind::RoleDrift => role_drift::run(&db, &api, &job).await,
                            JobKind::Mirror => mirror::run(&db, &api, &files, &job).await,
                            JobKind::ReminderDm => reminder_dm::run(&db, &config, &api, &job).await,
                            // Never claimed here (not in `settings.kinds`): the server runs them.
                            JobKind::AttachmentFetch | JobKind::ReminderMail => jobs::worker::Outcome::Retry {
                                error: "attachment fetches and reminder mails run in the server".into(),
                                after: None,
                            },
                        };
                        status.job_finished();
                        outcome
                    }
                },
            ))
        })
        .collect();
    shutdown.wait().await;
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let _ = reporter.await;
    let _ = sharer.await;
    let _ = capturer.await;
    listener.abort();
    report(&db, &status, "stopped", "stopped by a signal", None, &json!([])).await;
    close(db).await
}

async fn close(db: DatabaseConnection) -> Result<(), String> {
    db.close().await.map_err(|e| format!("database error on close: {e}"))?;
    tracing::info!("bot stopped");
    Ok(())
}

async fn report(
    db: &DatabaseConnection,
    status: &Status,
    state: &str,
    detail: &str,
    user: Option<&str>,
    guilds: &serde_json::Value,
) {
    if let Err(e) = status.report(db, state, detail, user, guilds).await {
        tracing::warn!(error = %e, "cannot record the bot's status");
    }
}

/// Says who the bot is and what it sees, now and every REPORT_EVERY.
async fn keep_reporting(
    db: DatabaseConnection,
    api: Arc<DiscordApi>,
    status: Arc<Status>,
    guild: Option<i64>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (state, detail, user, guilds) = match api.current_user().await {
            Ok(me) => {
                let guilds = match guild {
                    Some(g) => status::guild_view(&api, g as u64, me.id.get()).await,
                    None => Ok(json!([])),
                };
                match guilds {
                    Ok(g) => ("connected", "working on role sync".to_owned(), Some(me.username), g),
                    Err(e) => (
                        "error",
                        format!("cannot read the customers' server: {e}"),
                        Some(me.username),
                        json!([]),
                    ),
                }
            }
            Err(e) => (
                "error",
                format!("Discord does not accept the bot: {e}"),
                None,
                json!([]),
            ),
        };
        if state != "connected" {
            tracing::warn!(detail = %detail, "bot status");
        }
        report(&db, &status, state, &detail, user.as_deref(), &guilds).await;
        tokio::select! {
            _ = tokio::time::sleep(REPORT_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn share_once(db: &DatabaseConnection, api: &DiscordApi, total: u32) {
    match status::live_processes(db).await {
        Ok(n) => api.share_global_limit(total, n.max(1)),
        Err(e) => tracing::warn!(error = %e, "cannot count the bot processes"),
    }
}

/// Discord's global limit belongs to the bot token, not to a process: every second each process
/// takes its share of it by the number of live bot processes.
async fn share_global_limit(db: DatabaseConnection, api: Arc<DiscordApi>, total: u32, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SHARE_EVERY) => {}
            _ = stop.changed() => return,
        }
        share_once(&db, &api, total).await;
    }
}

/// On PostgreSQL, a job's NOTIFY wakes a worker at once (the poll is the fallback, J7/J8).
async fn relay_wake_ups(db: DatabaseConnection, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    use sea_orm::sqlx::postgres::PgListener;
    if domain::Backend::of(&db) != domain::Backend::Postgres {
        return;
    }
    loop {
        let listener = async {
            let mut l = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
            l.listen(jobs::NOTIFY_CHANNEL).await?;
            loop {
                l.recv().await?;
                wake.notify_one();
            }
            #[allow(unreachable_code)]
            Ok::<(), sea_orm::sqlx::Error>(())
        };
        tokio::select! {
            r = listener => if let Err(e) = r {
                tracing::warn!(error = %e, "job wake-ups lost; polling until LISTEN is back");
            },
            _ = stop.changed() => return,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// SIGTERM and SIGINT, listened for from the start: a signal that arrives while the bot is still
/// starting stops it gracefully too (it would otherwise end the process before it reports).
struct Shutdown {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Shutdown {
    fn listen() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Shutdown {
            term: signal(SignalKind::terminate()).expect("install SIGTERM handler"),
            int: signal(SignalKind::interrupt()).expect("install SIGINT handler"),
        }
    }

    async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
        tracing::info!("shutdown signal received");
    }
}
