//! `testkit smtp --port P --http-port H`: the SMTP sink for browser tests and local runs. Mail
//! sent to `smtp://127.0.0.1:P` is kept in memory and listed as JSON at
//! `GET http://127.0.0.1:H/mails?to=<address>` (subject, decoded text, links).

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
    let Command::Smtp { port, http_port } = Cli::parse().command;
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
