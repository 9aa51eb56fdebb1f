//! Gateway capture: while this process holds the capture lease (one process at a time, taken
//! over within seconds when its holder dies), it runs a serenity gateway client whose events go
//! through [`handler`] into the domain's ingest, in-process. Losing the lease (or stopping)
//! shuts the client down; a refused Message Content intent raises the connector's alert and the
//! client tries again half a minute later, so enabling the intent is all the operator has to do.

mod backfill;
mod discovery;
mod handler;
mod source;

use std::sync::Arc;
use std::time::Duration;

use domain::capture::{self, lease};
use sea_orm::DatabaseConnection;
use serenity::all::{GatewayIntents, ShardManager};
use serenity::http::HttpBuilder;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::discord_api::DiscordApi;

pub use handler::Handler;

/// How long the capture lease lasts without renewal: a killed holder is replaced after at most
/// this plus one renewal period.
const LEASE: chrono::Duration = chrono::Duration::seconds(6);
const RENEW_EVERY: Duration = Duration::from_secs(2);
/// After the client ends with an error (Discord refused us), the wait before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Settings {
    pub token: String,
    pub api_url: String,
    pub instance: String,
    pub attachment_sources: Vec<url::Origin>,
    /// How many of each channel's newest messages the re-check after a backfill reads (0: off).
    pub recheck_messages: usize,
    /// How often every Source channel is read after its cursor while the session runs.
    pub sweep: Duration,
}

pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::MESSAGE_CONTENT
}

/// A running gateway client.
struct Session {
    task: JoinHandle<Result<(), serenity::Error>>,
    shards: Arc<ShardManager>,
    handler: Handler,
    next_sweep: tokio::time::Instant,
    sweeping: Option<JoinHandle<()>>,
}

impl Session {
    async fn start(db: &DatabaseConnection, api: &Arc<DiscordApi>, settings: &Settings) -> Result<Session, String> {
        let connector = capture::bot_connector(db).await.map_err(|e| e.to_string())?;
        let handler = Handler::new(db.clone(), api.clone(), connector, settings.clone());
        let events = handler.clone();
        let http = HttpBuilder::new(&settings.token)
            .proxy(settings.api_url.trim_end_matches('/'))
            .ratelimiter_disabled(true)
            .build();
        let mut client = serenity::client::ClientBuilder::new_with_http(http, intents())
            .raw_event_handler(events)
            .await
            .map_err(|e| e.to_string())?;
        let shards = client.shard_manager.clone();
        let task = tokio::spawn(async move { client.start().await });
        tracing::info!("gateway capture started");
        Ok(Session {
            task,
            shards,
            handler,
            next_sweep: tokio::time::Instant::now() + settings.sweep,
            sweeping: None,
        })
    }

    /// What a running session does besides listening: the periodic sweep, and the operator's
    /// "Fetch channels" (answered with a REST read through the bot).
    async fn tend(&mut self, settings: &Settings) {
        let shared = self.handler.0.clone();
        let now = tokio::time::Instant::now();
        if now >= self.next_sweep && self.sweeping.as_ref().is_none_or(JoinHandle::is_finished) {
            self.next_sweep = now + settings.sweep;
            self.sweeping = Some(tokio::spawn(async move { backfill::sweep(&shared).await }));
        }
        discovery::answer_requests(&self.handler.0).await;
    }

    async fn stop(self) {
        if let Some(s) = &self.sweeping {
            s.abort();
        }
        self.shards.shutdown_all().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        tracing::info!("gateway capture stopped");
    }
}

/// Holds (or waits for) the capture lease and runs the gateway client while it is held.
pub async fn run(db: DatabaseConnection, api: Arc<DiscordApi>, settings: Settings, mut stop: watch::Receiver<bool>) {
    let mut session: Option<Session> = None;
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        let held = match lease::hold(&db, lease::CAPTURE, &settings.instance, LEASE).await {
            Ok(h) => h,
            Err(e) => {
                // Unsure whether we still hold it: stop capturing rather than risk two captures
                // for long (two would only duplicate work: ingest is idempotent).
                tracing::warn!(error = %e, "cannot renew the capture lease");
                false
            }
        };
        if let Some(s) = &session
            && s.task.is_finished()
        {
            let s = session.take().expect("checked");
            match s.task.await {
                Ok(Err(serenity::Error::Gateway(serenity::gateway::GatewayError::DisallowedGatewayIntents))) => {
                    alert(&db, Some(capture::NO_MESSAGE_CONTENT)).await;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "gateway capture ended; retrying"),
                Ok(Ok(())) => tracing::info!("gateway capture ended"),
                Err(e) => tracing::warn!(error = %e, "gateway capture task failed"),
            }
            retry_at = Some(tokio::time::Instant::now() + RETRY_AFTER);
        }
        match (held, session.is_some()) {
            (true, false) if retry_at.is_none_or(|t| tokio::time::Instant::now() >= t) => {
                retry_at = None;
                match Session::start(&db, &api, &settings).await {
                    Ok(s) => session = Some(s),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot start the gateway capture");
                        retry_at = Some(tokio::time::Instant::now() + RETRY_AFTER);
                    }
                }
            }
            (false, true) => {
                tracing::warn!("capture lease lost: another bot process captures now");
                session.take().expect("checked").stop().await;
            }
            (true, true) => session.as_mut().expect("checked").tend(&settings).await,
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(RENEW_EVERY) => {}
            _ = stop.changed() => break,
        }
    }
    if let Some(s) = session {
        s.stop().await;
    }
    if let Err(e) = lease::release(&db, lease::CAPTURE, &settings.instance).await {
        tracing::warn!(error = %e, "cannot release the capture lease");
    }
}

async fn alert(db: &DatabaseConnection, text: Option<&str>) {
    match capture::bot_connector(db).await {
        Ok(c) => {
            if let Err(e) = capture::set_alert(db, &c, text).await {
                tracing::warn!(error = %e, "cannot record the capture alert");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot find the bot's connector"),
    }
}
