//! `GET /api/v1/feed/ws?after=<seq>`: the live feed for a signed-in customer with access.
//! The browser's session cookie authenticates; the `Origin` must be ours (a cookie-carrying
//! websocket is otherwise open to any site). The gap after `after` is replayed from the feed log,
//! then changes stream as they commit. Every event is sent only while the customer's access
//! lasts and only if their tier opens the event's channel (`domain::channel_tiers`: checked
//! before each send against the end of the current tier's stretch, and a timer re-checks at that
//! second; a new tier makes the client reload its list, so an upgrade opens history at once and
//! a downgrade closes it). When the user's sessions or access change anywhere (sign-out, sign out everywhere,
//! password change, demotion, refund, dispute, admin revoke — see [`RightsWatch`]) the socket
//! re-checks its session and access at once and closes or adjusts; every few minutes the process
//! checks all its sockets' rights in one read, as a backstop ([`crate::feed_roster`]).
//! Live changes come from the process's [`FeedHub`] (read and serialised once for all), and so
//! does the replay of a recent gap; a connection reads the feed log itself only for an older
//! one. Each connection writes from its own task, so a slow client only delays itself; one that
//! stops reading is dropped after `SEND_TIMEOUT` and reconnects from its last sequence.
//!
//! Envelope: `{"type":"event","seq","op","signal"}`,
//! `{"type":"access","state":"active"|"ended"|"signed_out","ends_at"}`,
//! `{"type":"resync","reason"?}` (the client must reload its list), `{"type":"heartbeat"}`.

use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::AppContext;
use domain::feed::view;
use domain::metrics::Metrics;
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use super::ApiError;
use crate::feed_hub::{self, Batch, FeedHub};
use crate::feed_roster::{Rights, Seat, Standing};
use crate::feed_slots::Full;

/// A client that cannot take a message for this long is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(2);
const HEARTBEAT: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
pub struct FeedQuery {
    #[serde(default)]
    pub after: Option<i64>,
}

pub async fn feed_ws(
    State(state): State<super::AppState>,
    headers: HeaderMap,
    Query(q): Query<FeedQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let super::AppState {
        ctx,
        feed_hub: hub,
        rights: watch,
        feed_slots: slots,
        ..
    } = state;
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !origin.is_some_and(|o| super::security::origin_is_ours(o, &ctx.config.public_url)) {
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
    // Subscribed before the session and access are checked: a change committed from here on is
    // re-checked.
    let changes = watch.subscribe();
    let turn = slots.handshake().await;
    // The session and the access in one round trip; the socket starts under the rights read
    // here, without reading them again.
    let (signed_in, access) = match super::session::signed_in_with_access(&ctx, &headers).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in to open the feed")
                .into_response();
        }
        Err(unavailable) => return unavailable,
    };
    let user = signed_in.account.id;
    let Some(access) = access else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "no_access",
            "your access has ended; renew it to follow the feed",
        )
        .into_response();
    };
    let rights = Rights::of(&access);
    let seat = watch.roster().seat(user, signed_in.session.id, rights);
    drop(turn);
    let slot = match slots.take(user) {
        Ok(slot) => slot,
        Err(Full::User(max)) => {
            tracing::info!(user, "feed refused: the account has its maximum of open feeds");
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_feeds",
                format!("at most {max} live feeds per account are open at once: close another tab or browser"),
            )
            .into_response();
        }
        Err(Full::Process) => {
            tracing::warn!("feed refused: this server process has its maximum of open feeds");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "feed_full",
                "the live feed is at capacity; retrying shortly will work",
            )
            .into_response();
        }
    };
    let ws = ws
        .read_buffer_size(domain::feed::CLIENT_LIMITS.read_buffer)
        .max_message_size(domain::feed::CLIENT_LIMITS.max_incoming)
        .max_frame_size(domain::feed::CLIENT_LIMITS.max_incoming);
    ws.on_upgrade(move |socket| async move {
        let _slot = slot;
        let metrics = ctx.metrics.clone();
        let _open = Following::start(&metrics);
        match stream(ctx, hub, changes, socket, seat, rights, q.after).await {
            Err(Closed::TooSlow) => {
                Metrics::inc(&metrics.feed_slow_clients_dropped);
                tracing::info!(
                    user,
                    "feed client too slow: dropped (it resumes from its last sequence)"
                );
            }
            Err(reason) => tracing::debug!(%reason, "feed websocket closed"),
            Ok(()) => {}
        }
    })
}

/// Counts the open feed websockets for `/metrics`.
struct Following<'a>(&'a Metrics);

impl<'a> Following<'a> {
    fn start(metrics: &'a Metrics) -> Self {
        Metrics::inc(&metrics.feed_followers);
        Self(metrics)
    }
}

impl Drop for Following<'_> {
    fn drop(&mut self) {
        self.0.feed_followers.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Why a feed stream ended early.
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error("client too slow")]
    TooSlow,
    #[error("send failed: {0}")]
    Send(axum::Error),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

/// Waits for a write to the socket, at most [`SEND_TIMEOUT`].
async fn in_time(write: impl std::future::Future<Output = Result<(), axum::Error>>) -> Result<(), Closed> {
    let mut write = std::pin::pin!(write);
    // Almost every write completes at once (the socket has room), and every event is written once
    // per follower: only a write that has to wait arms the timer.
    if let Some(done) = write.as_mut().now_or_never() {
        return done.map_err(Closed::Send);
    }
    match tokio::time::timeout(SEND_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Closed::Send(e)),
        Err(_) => Err(Closed::TooSlow),
    }
}

async fn send(tx: &mut Sink, text: Utf8Bytes) -> Result<(), Closed> {
    in_time(tx.send(Message::Text(text))).await
}

async fn send_json(tx: &mut Sink, value: serde_json::Value) -> Result<(), Closed> {
    send(tx, value.to_string().into()).await
}

/// Sends the frames of `batch` past `*last` the viewer may receive, and advances `*last` to its
/// end. Stops short (leaving `*last` before the rest) once `rights` may have changed. The frames
/// are queued on the socket and flushed together: one write for a batch, not one per event.
async fn deliver(tx: &mut Sink, batch: &Batch, last: &mut i64, rights: Rights) -> Result<(), Closed> {
    let from = *last;
    let (mut queued, mut cut_short) = (false, false);
    for frame in batch.frames.iter().filter(|f| f.seq > from) {
        // Authorisation on every event: nothing is sent past the end of access or of the tier,
        // even if the timer that re-checks has not fired yet; the rest is read again after it.
        if Utc::now() >= rights.until {
            cut_short = true;
            break;
        }
        if domain::channel_tiers::opens(frame.required, rights.rank) {
            in_time(tx.feed(Message::Text(frame.text.clone()))).await?;
            queued = true;
        }
        *last = frame.seq;
    }
    if queued {
        in_time(tx.flush()).await?;
    }
    if !cut_short {
        *last = (*last).max(batch.upto);
    }
    Ok(())
}

/// The batch as the channels are now (`now`: the rank each Source channel asks for): frames of a
/// channel that is no longer a Source are dropped, the others take its current rank.
fn as_now(batch: &Batch, now: &std::collections::HashMap<i64, Option<i32>>) -> Batch {
    Batch {
        after: batch.after,
        upto: batch.upto,
        frames: batch
            .frames
            .iter()
            .filter_map(|f| {
                let required = *now.get(&f.channel_id)?;
                Some(feed_hub::Frame { required, ..f.clone() })
            })
            .collect(),
        read_at: batch.read_at,
    }
}

/// The rank each Source channel asks for, read once for a socket when it first needs it (after
/// it opened: what a replay from the log would see).
#[derive(Default)]
struct ChannelsNow(Option<std::collections::HashMap<i64, Option<i32>>>);

impl ChannelsNow {
    async fn get(&mut self, ctx: &AppContext) -> Result<&std::collections::HashMap<i64, Option<i32>>, sea_orm::DbErr> {
        if self.0.is_none() {
            self.0 = Some(view::requirements(&ctx.db).await?);
        }
        Ok(self.0.as_ref().expect("just read"))
    }
}

/// Reads and sends everything committed after `*last` from the feed log itself: the replay after
/// a reconnect, and the gap when this follower missed hub batches.
async fn catch_up(ctx: &AppContext, tx: &mut Sink, last: &mut i64, rights: Rights) -> Result<(), Closed> {
    while let Some(batch) = feed_hub::read(ctx, *last).await? {
        deliver(tx, &batch, last, rights).await?;
        if Utc::now() >= rights.until {
            return Ok(());
        }
    }
    Ok(())
}

async fn standing(ctx: &AppContext, seat: &Seat) -> Result<Standing, sea_orm::DbErr> {
    let live = domain::sessions::is_live_by_id(&ctx.db, seat.session).await?;
    let access = if live {
        domain::entitlements::access_at(&ctx.db, seat.user, Utc::now()).await?
    } else {
        None
    };
    Ok(Standing::of(live, access.as_ref()))
}

/// Tells the client why the stream ends, then closes it.
async fn end(tx: &mut Sink, state: &'static str) -> Result<(), Closed> {
    send_json(tx, json!({"type": "access", "state": state})).await?;
    let _ = tx.send(Message::Close(None)).await;
    Ok(())
}

/// Re-reads the session and the access. `Ok(false)`: the stream has been ended. A new tier tells
/// the client to reload its list (an upgrade opens channels with their history, a downgrade
/// closes them), and the stream goes on under the new rights from where it stood.
async fn recheck(
    ctx: &AppContext,
    tx: &mut Sink,
    seat: &Seat,
    rights: &mut Rights,
    last: &mut i64,
    rights_end: std::pin::Pin<&mut tokio::time::Sleep>,
) -> Result<bool, Closed> {
    match standing(ctx, seat).await? {
        Standing::SignedOut => {
            tracing::debug!(user = seat.user, "feed closed: the session was revoked");
            end(tx, "signed_out").await?;
            Ok(false)
        }
        Standing::Ended => {
            end(tx, "ended").await?;
            Ok(false)
        }
        Standing::Active(now) => {
            // Always re-armed: a timer that fired a moment early (wall clock against the
            // monotonic one) must wait again, not fire in a loop.
            rights_end.reset(tokio::time::Instant::now() + until(now.until));
            let was = std::mem::replace(rights, now);
            seat.holds(now);
            if now.access_ends != was.access_ends {
                send_json(
                    tx,
                    json!({"type": "access", "state": "active", "ends_at": now.access_ends}),
                )
                .await?;
            }
            if now.rank != was.rank {
                tracing::debug!(
                    user = seat.user,
                    from = was.rank,
                    to = now.rank,
                    "feed: the tier changed"
                );
                send_json(tx, json!({"type": "resync", "reason": "tier", "seq": *last})).await?;
            }
            // Events held back while the rights were in question (only new rights can have held
            // any back: a heartbeat's re-check that changes nothing reads nothing).
            if now != was {
                catch_up(ctx, tx, last, *rights).await?;
            }
            Ok(true)
        }
    }
}

async fn stream(
    ctx: AppContext,
    hub: FeedHub,
    mut changes: broadcast::Receiver<i64>,
    socket: WebSocket,
    seat: Seat,
    mut rights: Rights,
    after: Option<i64>,
) -> Result<(), Closed> {
    let (mut tx, mut rx) = socket.split();
    let opened = tokio::time::Instant::now();
    // Subscribe before asking the hub where to start, so nothing committed in between is missed.
    let mut batches = hub.subscribe();
    let start = hub.start(after);
    let head = match after {
        Some(a) if a <= start.head => start.head,
        // Past what this process has read (the page came from another process, or the hub is a
        // moment behind), or "from now" (browsers always say where they stand; tools may not):
        // the log says how much was committed.
        _ => view::head(&ctx.db).await?.max(start.head),
    };
    let mut last = match after {
        Some(a) if a >= 0 && head - a <= feed_hub::REPLAY_MAX => a.min(head),
        Some(_) => {
            send_json(&mut tx, json!({"type": "resync", "seq": head})).await?;
            head
        }
        None => head,
    };
    send_json(
        &mut tx,
        json!({"type": "access", "state": "active", "ends_at": rights.access_ends}),
    )
    .await?;
    // A recent gap is replayed from the hub's memory — checked against the channels as they are
    // now, as a replay from the log would be — and an older one from the log.
    let mut channels = ChannelsNow::default();
    if let Some(replay) = start.replay {
        let now = channels.get(&ctx).await?;
        for batch in &replay {
            deliver(&mut tx, &as_now(batch, now), &mut last, rights).await?;
        }
    }
    if last < start.head {
        catch_up(&ctx, &mut tx, &mut last, rights).await?;
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    let rights_end = tokio::time::sleep(until(rights.until));
    tokio::pin!(rights_end);
    loop {
        tokio::select! {
            batch = batches.recv() => match batch {
                Ok(batch) if batch.upto <= last => {}
                // Read before this socket opened: a channel may have stopped being a Source since
                // (the socket must not get what a replay from the log would not give it).
                Ok(batch) if batch.after <= last && batch.read_at < opened => {
                    let now = channels.get(&ctx).await?;
                    deliver(&mut tx, &as_now(&batch, now), &mut last, rights).await?
                }
                Ok(batch) if batch.after <= last => deliver(&mut tx, &batch, &mut last, rights).await?,
                // A gap (we subscribed late or fell behind the hub's ring): read it ourselves.
                Ok(_) | Err(RecvError::Lagged(_)) => catch_up(&ctx, &mut tx, &mut last, rights).await?,
                Err(RecvError::Closed) => return Ok(()),
            },
            changed = changes.recv() => match changed {
                Ok(user) if user != seat.user => {}
                // Ours, or possibly ours among the ones we missed.
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    if !recheck(&ctx, &mut tx, &seat, &mut rights, &mut last, rights_end.as_mut()).await? {
                        return Ok(());
                    }
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            // The tier's stretch or the access ends: look again (it may have been extended).
            _ = &mut rights_end => {
                if !recheck(&ctx, &mut tx, &seat, &mut rights, &mut last, rights_end.as_mut()).await? {
                    return Ok(());
                }
            },
            _ = heartbeat.tick() => send_json(&mut tx, json!({"type": "heartbeat", "seq": last})).await?,
            incoming = rx.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
        }
    }
}

fn until(ends: DateTime<Utc>) -> Duration {
    (ends - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}
