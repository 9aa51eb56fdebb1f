//! The Discord worker. Until Discord is configured (DISCORD_BOT_TOKEN) it connects to the database,
//! says clearly that it is idle, and waits for a shutdown signal.

use std::process::ExitCode;

use domain::Config;

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
    let db = domain::database::connect(&config).await.map_err(|e| e.to_string())?;
    // The server owns migrations; the bot only checks it can talk to the same database.
    domain::database::ping(&db)
        .await
        .map_err(|e| format!("database error: {e}"))?;
    let backend = domain::Backend::of(&db).as_str();
    if config.discord_bot_token.is_none() {
        tracing::info!(
            database = backend,
            "bot idle: DISCORD_BOT_TOKEN is not set, so there is no Discord work to do"
        );
    } else {
        tracing::info!(
            database = backend,
            "bot ready: Discord work arrives with the mirror and role-sync queues"
        );
    }
    wait_for_shutdown().await;
    db.close().await.map_err(|e| format!("database error on close: {e}"))?;
    tracing::info!("bot stopped");
    Ok(())
}

async fn wait_for_shutdown() {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutdown signal received");
}
