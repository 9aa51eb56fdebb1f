//! `GET /api/v1/feed/ws?after=<seq>`: the live feed for a signed-in customer with access.
//! The browser's session cookie authenticates; the `Origin` must be ours (a cookie-carrying
//! websocket is otherwise open to any site). The gap after `after` is replayed from the feed log,
//! then changes stream as they commit. Every event is sent only while the customer's access
//! lasts (checked against its end time before each send, and a timer ends the stream at that
//! second). Each connection reads the feed log itself, so a slow client only delays itself; one
//! that stops reading is dropped after `SEND_TIMEOUT` and reconnects from its last sequence.
//!
//! Envelope: `{"type":"event","seq","op","signal"}`, `{"type":"access","state":"active"|"ended","ends_at"}`,
//! `{"type":"resync"}` (the client must reload its list), `{"type":"heartbeat"}`.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use domain::AppContext;
use domain::feed::view;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::ApiError;

/// A client that cannot take a message for this long is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(2);
const HEARTBEAT: Duration = Duration::from_secs(15);
const PAGE: u64 = 500;
/// A client further behind than this is told to resync instead of being replayed event by event.
const REPLAY_MAX: i64 = 5_000;

#[derive(Deserialize)]
pub struct FeedQuery {
    #[serde(default)]
    pub after: Option<i64>,
}

pub async fn feed_ws(
    State(ctx): State<AppContext>,
    headers: HeaderMap,
    Query(q): Query<FeedQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !origin.is_some_and(|o| super::security::origin_is_ours(o, &ctx.config.public_url, host)) {
        tracing::warn!(
            origin = origin.unwrap_or("-"),
            "feed websocket from a foreign origin refused"
        );
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            "the feed only opens from this site's pages",
        )
        .into_response();
    }
    let token = app::auth::token_from_headers(&headers, app::auth::cookie_name(&ctx.config));
    let signed_in = match token {
        Some(t) => match domain::sessions::resolve(&ctx.db, &t).await {
            Ok(s) => s,
            Err(e) => return super::connector_auth::db_unavailable(e).into_response(),
        },
        None => None,
    };
    let Some(signed_in) = signed_in else {
        return ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in to open the feed").into_response();
    };
    let user = signed_in.account.id;
    match domain::entitlements::access_at(&ctx.db, user, Utc::now()).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "no_access",
                "your access has ended; renew it to follow the feed",
            )
            .into_response();
        }
        Err(e) => return super::connector_auth::db_unavailable(e).into_response(),
    }
    ws.on_upgrade(move |socket| async move {
        if let Err(reason) = stream(ctx, socket, user, q.after).await {
            tracing::debug!(%reason, "feed websocket closed");
        }
    })
}

async fn send(
    tx: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    value: serde_json::Value,
) -> Result<(), String> {
    match tokio::time::timeout(SEND_TIMEOUT, tx.send(Message::Text(value.to_string().into()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("send failed: {e}")),
        Err(_) => Err("client too slow: dropped".into()),
    }
}

/// Sends every visible change after `*last` (advancing it), while access lasts.
async fn catch_up(
    ctx: &AppContext,
    tx: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    last: &mut i64,
    ends: chrono::DateTime<Utc>,
) -> Result<(), String> {
    loop {
        let (events, scanned) = view::events_after(&ctx.db, *last, PAGE)
            .await
            .map_err(|e| e.to_string())?;
        for event in events {
            if Utc::now() >= ends {
                return Ok(());
            }
            send(
                tx,
                json!({"type": "event", "seq": event.seq, "op": event.op, "signal": event.signal}),
            )
            .await?;
        }
        // `scanned` is the last feed row looked at (rows of other channels included).
        if scanned <= *last {
            return Ok(());
        }
        *last = scanned;
    }
}

async fn stream(ctx: AppContext, socket: WebSocket, user: i64, after: Option<i64>) -> Result<(), String> {
    let (mut tx, mut rx) = socket.split();
    // Subscribe before reading the head, so nothing committed in between is missed.
    let mut wake = ctx.feed.subscribe();
    let head = view::head(&ctx.db).await.map_err(|e| e.to_string())?;
    let mut last = match after {
        Some(a) if a >= 0 && head - a <= REPLAY_MAX => a.min(head),
        Some(_) => {
            send(&mut tx, json!({"type": "resync", "seq": head})).await?;
            head
        }
        None => head,
    };
    let mut ends = match domain::entitlements::access_at(&ctx.db, user, Utc::now())
        .await
        .map_err(|e| e.to_string())?
    {
        Some(a) => a.access_ends,
        None => {
            send(&mut tx, json!({"type": "access", "state": "ended"})).await?;
            return Ok(());
        }
    };
    send(&mut tx, json!({"type": "access", "state": "active", "ends_at": ends})).await?;
    catch_up(&ctx, &mut tx, &mut last, ends).await?;
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    loop {
        let until_end = (ends - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            woke = wake.recv() => match woke {
                Ok(_) | Err(RecvError::Lagged(_)) => catch_up(&ctx, &mut tx, &mut last, ends).await?,
                Err(RecvError::Closed) => return Ok(()),
            },
            _ = tokio::time::sleep(until_end) => {
                // The access may have been extended meanwhile: look again before ending.
                match domain::entitlements::access_at(&ctx.db, user, Utc::now()).await.map_err(|e| e.to_string())? {
                    Some(a) if a.access_ends > ends => {
                        ends = a.access_ends;
                        send(&mut tx, json!({"type": "access", "state": "active", "ends_at": ends})).await?;
                    }
                    _ => {
                        send(&mut tx, json!({"type": "access", "state": "ended"})).await?;
                        let _ = tx.send(Message::Close(None)).await;
                        return Ok(());
                    }
                }
            },
            _ = heartbeat.tick() => send(&mut tx, json!({"type": "heartbeat", "seq": last})).await?,
            incoming = rx.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
        }
    }
}
