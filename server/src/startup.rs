//! Building the application from a validated config: database, migrations, listener, router.

use std::future::Future;
use std::net::SocketAddr;

use domain::{AppContext, Config, DatabaseError};
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("cannot listen on {addr}: {source} (set BIND_ADDR to a free address:port)")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot listen on {addr}: {source} (set METRICS_ADDR to a free address:port)")]
    BindMetrics { addr: SocketAddr, source: std::io::Error },
    #[error("{0} (check DATA_DIR or BLOB_STORE_URL)")]
    Blobs(#[from] domain::blobs::BlobError),
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    ctx: AppContext,
    /// Tells the background tasks to stop; the feed hub runs from `build` on, as the router needs it.
    stop: tokio::sync::watch::Sender<bool>,
    hub: tokio::task::JoinHandle<()>,
    rights: crate::rights_watch::RightsWatch,
    rights_task: tokio::task::JoinHandle<()>,
    /// `/metrics` without a token, when `METRICS_ADDR` asks for a listener of its own.
    metrics_listener: Option<TcpListener>,
    blobs: domain::blobs::BlobStore,
}

impl Application {
    pub async fn build(mut config: Config) -> Result<Self, StartupError> {
        let db = domain::database::connect(&config).await?;
        if config.run_migrations {
            domain::database::migrate(&db).await?;
        }
        // Signals stored before search existed get indexed in the background (a batch at a time).
        let backlog = db.clone();
        tokio::spawn(async move {
            match domain::feed::search::fill_missing(&backlog).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(signals = n, "indexed signals stored before search existed"),
                Err(e) => tracing::warn!(error = %e, "cannot index older signals for search"),
            }
        });
        // Servers starting together: one seeds, the others then find the rows there.
        let seeded = async {
            let txn = domain::database::begin_exclusive(&db).await?;
            domain::role_sync::seed_from_config(&txn, &config).await?;
            txn.commit().await
        };
        seeded.await.map_err(|e| {
            domain::database::DatabaseError::Migration(format!("seeding the tier roles from TIER_ROLES: {e}"))
        })?;
        let listener = TcpListener::bind(config.bind_addr)
            .await
            .map_err(|source| StartupError::Bind {
                addr: config.bind_addr,
                source,
            })?;
        // Listening on port 0 (tests, the demo): the default PUBLIC_URL names the port we got.
        let bound = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: config.bind_addr,
            source,
        })?;
        if config.public_url.port() == Some(0) {
            let _ = config.public_url.set_port(Some(bound.port()));
        }
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartupError::BindMetrics { addr, source })?,
            ),
            None => None,
        };
        let blobs = domain::blobs::BlobStore::open(&config.blob_store)?;
        let ctx = AppContext::new(db, config);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (feed_hub, hub) = crate::feed_hub::FeedHub::spawn(ctx.clone(), stopped.clone());
        let (rights, rights_task) = crate::rights_watch::RightsWatch::spawn(ctx.clone(), stopped);
        let router = crate::http::router(ctx.clone(), feed_hub, rights.clone(), blobs.clone());
        Ok(Self {
            listener,
            router,
            ctx,
            stop,
            hub,
            rights,
            rights_task,
            metrics_listener,
            blobs,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Where `/metrics` is served without a token, if `METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn context(&self) -> &AppContext {
        &self.ctx
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` resolves; tests use this to stop a server they started.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        tracing::info!(
            addr = %self.local_addr(),
            public_url = %self.ctx.config.public_url,
            database = domain::Backend::of(&self.ctx.db).as_str(),
            mail = self.ctx.mailer.describe(),
            "serving"
        );
        let stop = self.stop;
        let stopped = stop.subscribe();
        let worker = crate::payment_worker::spawn(self.ctx.clone(), stopped.clone());
        let fetchers = crate::attachment_worker::spawn(self.ctx.clone(), self.blobs.clone(), stopped.clone());
        let reminders = crate::reminder_worker::spawn(self.ctx.clone(), stopped.clone());
        let feed_listener = crate::feed_listener::spawn(self.ctx.clone(), self.rights, stopped.clone());
        let metrics = self.metrics_listener.map(|listener| {
            let ctx = self.ctx.clone();
            let router = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let ctx = ctx.clone();
                    async move { crate::http::health_render(&ctx).await }
                }),
            );
            let mut stopping = stopped.clone();
            tokio::spawn(async move {
                let stop = async move {
                    let _ = stopping.changed().await;
                };
                let limits = crate::http_server::Limits {
                    idle: std::time::Duration::from_secs(10),
                };
                crate::http_server::serve(listener, router, limits, stop).await
            })
        });
        let limits = crate::http_server::Limits {
            idle: self.ctx.config.http_idle_timeout,
        };
        let served = crate::http_server::serve(self.listener, self.router, limits, shutdown).await;
        // The worker finishes the event in hand (one transaction) and stops.
        let _ = stop.send(true);
        let _ = worker.await;
        for f in fetchers {
            let _ = f.await;
        }
        for r in reminders {
            let _ = r.await;
        }
        let _ = self.hub.await;
        let _ = self.rights_task.await;
        if let Some(m) = metrics {
            let _ = m.await;
        }
        if let Some(l) = feed_listener {
            let _ = l.await;
        }
        served?;
        self.ctx.db.clone().close().await.ok();
        tracing::info!("stopped");
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received, finishing in-flight requests");
}
