//! `server ingest --file events.jsonl`: posts a JSONL stream of events to a running server's
//! batch endpoint, with progress on stderr, so operators can backfill and developers can demo.
//! Lines are sent in order, in batches; a batch the server could not store (5xx, network) is
//! retried with backoff, since ingest is idempotent.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub sent: usize,
    pub accepted: usize,
    pub duplicate: usize,
    pub ignored: usize,
    pub rejected: usize,
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events: {} accepted, {} duplicate, {} ignored, {} rejected",
            self.sent, self.accepted, self.duplicate, self.ignored, self.rejected
        )
    }
}

const RETRIES: u32 = 5;

pub async fn run(
    file: &Path,
    base_url: &str,
    token: &str,
    batch_size: usize,
    progress: &mut impl Write,
) -> Result<Totals, String> {
    let reader = BufReader::new(std::fs::File::open(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?);
    let endpoint = format!("{}/api/v1/events/batch", base_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut batch: Vec<(usize, Value)> = Vec::with_capacity(batch_size);
    let mut lines = reader.lines().enumerate();
    loop {
        let next = lines.next();
        if let Some((i, line)) = &next {
            let line = line.as_ref().map_err(|e| format!("cannot read line {}: {e}", i + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(line).map_err(|e| format!("line {}: not JSON: {e}", i + 1))?;
            batch.push((i + 1, value));
        }
        if batch.len() >= batch_size || (next.is_none() && !batch.is_empty()) {
            post(&client, &endpoint, token, &batch, &mut totals, progress).await?;
            batch.clear();
            let rate = totals.sent as f64 / started.elapsed().as_secs_f64().max(1e-6);
            writeln!(progress, "{totals} ({rate:.0} events/s)").ok();
        }
        if next.is_none() {
            return Ok(totals);
        }
    }
}

async fn post(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
    batch: &[(usize, Value)],
    totals: &mut Totals,
    progress: &mut impl Write,
) -> Result<(), String> {
    let body = serde_json::json!({ "events": batch.iter().map(|(_, v)| v).collect::<Vec<_>>() });
    let mut delay = Duration::from_millis(250);
    for attempt in 1..=RETRIES {
        let res = client
            .post(endpoint)
            .bearer_auth(token)
            .header(
                "x-connector-version",
                concat!("signaldesk-replay ", env!("CARGO_PKG_VERSION")),
            )
            .json(&body)
            .send()
            .await;
        let retry_reason = match res {
            Ok(res) if res.status().is_success() => {
                let answer: Value = res.json().await.map_err(|e| format!("unreadable answer: {e}"))?;
                let results = answer["results"].as_array().cloned().unwrap_or_default();
                for ((line, _), result) in batch.iter().zip(&results) {
                    match result["status"].as_str() {
                        Some("accepted") => totals.accepted += 1,
                        Some("duplicate") => totals.duplicate += 1,
                        Some("ignored") => {
                            totals.ignored += 1;
                            writeln!(
                                progress,
                                "line {line}: ignored: {}",
                                result["reason"].as_str().unwrap_or("")
                            )
                            .ok();
                        }
                        _ => {
                            totals.rejected += 1;
                            writeln!(
                                progress,
                                "line {line}: rejected: {}",
                                result["reason"].as_str().unwrap_or("")
                            )
                            .ok();
                        }
                    }
                }
                totals.sent += batch.len();
                return Ok(());
            }
            Ok(res) if res.status().is_server_error() || res.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                format!("server answered {}", res.status())
            }
            Ok(res) => {
                let status = res.status();
                let text = res.text().await.unwrap_or_default();
                return Err(format!("server refused the batch ({status}): {text}"));
            }
            Err(e) => format!("cannot reach {endpoint}: {e}"),
        };
        if attempt == RETRIES {
            return Err(format!("{retry_reason}; gave up after {RETRIES} attempts"));
        }
        writeln!(progress, "{retry_reason}; retrying in {delay:?}").ok();
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    unreachable!("the loop returns on its last attempt")
}
