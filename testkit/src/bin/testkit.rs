//! Local fakes for browser tests, the demo and local runs:
//! - `testkit smtp --port P --http-port H`: the SMTP sink. Mail sent to `smtp://127.0.0.1:P` is
//!   kept in memory and listed as JSON at `GET http://127.0.0.1:H/mails?to=<address>`.
//! - `testkit discord --port P --guild G --roles basic=ID,pro=ID --redirect-uri URI`: the fake
//!   Discord (REST, OAuth2, the gateway at `ws://…/gateway`, rate limits) with the customers'
//!   server `G`, its tier roles (below the bot's own role) and the app's registered redirect URI;
//!   its state at `GET /_fake/state`; `POST /_fake/members` sets a member's roles by hand,
//!   `POST /_fake/messages` posts as a user (gateway sessions get MESSAGE_CREATE).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use clap::{Parser, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};
use testkit::smtp_sink::SmtpSink;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the SMTP sink and its HTTP view until stopped.
    Smtp {
        #[arg(long, default_value_t = 2525)]
        port: u16,
        #[arg(long, default_value_t = 2580)]
        http_port: u16,
    },
    /// Runs the fake Discord until stopped.
    Discord {
        #[arg(long, default_value_t = 2590)]
        port: u16,
        /// The customers' server id.
        #[arg(long)]
        guild: u64,
        /// Roles to create, `name=id` pairs separated by commas, lowest first.
        #[arg(long, default_value = "")]
        roles: String,
        /// The app's OAuth callback, registered exactly (repeatable).
        #[arg(long)]
        redirect_uri: Vec<String>,
    },
}

#[derive(Deserialize)]
struct MailQuery {
    to: Option<String>,
}

async fn mails(State(sink): State<Arc<SmtpSink>>, Query(q): Query<MailQuery>) -> Json<Value> {
    let list = match q.to {
        Some(to) => sink.mails_to(&to),
        None => sink.mails(),
    };
    Json(Value::Array(
        list.iter()
            .map(|m| json!({"from": m.from, "to": m.to, "subject": m.header("Subject"), "text": m.text()}))
            .collect(),
    ))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    match Cli::parse().command {
        Command::Smtp { port, http_port } => smtp(port, http_port).await,
        Command::Discord {
            port,
            guild,
            roles,
            redirect_uri,
        } => discord(port, guild, &roles, redirect_uri).await,
    }
}

async fn discord(port: u16, guild: u64, roles: &str, redirect_uris: Vec<String>) -> std::io::Result<()> {
    let fake = testkit::discord::FakeDiscord::start(port).await?;
    let mut problems = Vec::new();
    fake.with(|w| {
        w.add_guild(guild, "Customers", 100);
        for (position, pair) in roles.split(',').filter(|p| !p.trim().is_empty()).enumerate() {
            match pair
                .split_once('=')
                .and_then(|(name, id)| Some((name.trim(), id.trim().parse::<u64>().ok()?)))
            {
                Some((name, id)) => w.add_role(guild, id, name, position as i64 + 1),
                None => problems.push(pair.to_owned()),
            }
        }
        w.redirect_uris.extend(redirect_uris);
    });
    if !problems.is_empty() {
        eprintln!("--roles wants name=id pairs; cannot read {problems:?}");
        std::process::exit(2);
    }
    println!("discord {}", fake.url());
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}

async fn smtp(port: u16, http_port: u16) -> std::io::Result<()> {
    let sink = Arc::new(SmtpSink::start(port).await?);
    let http = tokio::net::TcpListener::bind(("127.0.0.1", http_port)).await?;
    println!("smtp {} http {}", sink.addr(), http.local_addr()?);
    let app = Router::new()
        .route("/mails", get(mails))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(sink);
    axum::serve(http, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
