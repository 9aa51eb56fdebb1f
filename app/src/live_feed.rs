//! The browser end of the live feed: one websocket to `/api/v1/feed/ws`, resuming from the last
//! sequence it applied; on a drop it reconnects with exponential backoff and jitter. Events
//! update the list in place (edits, deletes) or add new signals on top.

use std::cell::Cell;
use std::rc::Rc;

use leptos::prelude::*;
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::dashboard_api::SignalCard;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Envelope {
    // Boxed: an event is far larger than the other envelopes.
    Event {
        seq: i64,
        op: String,
        signal: Box<SignalCard>,
    },
    Access {
        state: String,
    },
    Resync {},
    Heartbeat {},
}

/// Where the connection stands, shown to people and read by tests.
#[derive(Clone, Copy)]
pub struct Live {
    pub cards: RwSignal<Vec<SignalCard>>,
    pub state: RwSignal<&'static str>,
    pub ended: RwSignal<bool>,
    pub alerts: crate::components::alerts_panel::Alerts,
}

/// The page left the dashboard (client-side navigation): its signals are gone, and the socket
/// must close instead of touching them or reconnecting.
fn gone(live: Live) -> bool {
    live.cards.is_disposed() || live.ended.is_disposed()
}

pub fn follow(after: i64, live: Live) {
    crate::components::alerts_panel::browser::watch(live.alerts);
    open(Rc::new(Cell::new(after)), Rc::new(Cell::new(0)), live);
}

fn apply(live: Live, op: &str, signal: SignalCard) {
    let mut added = None;
    live.cards.update(|list| {
        if let Some(existing) = list.iter_mut().find(|c| c.id == signal.id) {
            *existing = signal;
        } else if op != "message_deleted" {
            added = Some(signal.clone());
            list.insert(0, signal);
        }
    });
    if let Some(card) = added.filter(|_| op == "message_created") {
        crate::components::alerts_panel::browser::arrived(live.alerts, &card);
    }
}

fn open(last: Rc<Cell<i64>>, attempt: Rc<Cell<u32>>, live: Live) {
    let Some(window) = web_sys::window() else { return };
    let location = window.location();
    let scheme = if location.protocol().ok().as_deref() == Some("https:") {
        "wss"
    } else {
        "ws"
    };
    let url = format!(
        "{scheme}://{}/api/v1/feed/ws?after={}",
        location.host().unwrap_or_default(),
        last.get()
    );
    let Ok(ws) = WebSocket::new(&url) else {
        retry(last, attempt, live);
        return;
    };
    let on_open = {
        let (attempt, socket) = (attempt.clone(), ws.clone());
        Closure::<dyn FnMut()>::new(move || {
            if gone(live) {
                let _ = socket.close();
                return;
            }
            attempt.set(0);
            live.state.set("live");
        })
    };
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    on_open.forget();

    let on_message = {
        let (last, socket) = (last.clone(), ws.clone());
        Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if gone(live) {
                let _ = socket.close();
                return;
            }
            let Some(text) = e.data().as_string() else { return };
            match serde_json::from_str::<Envelope>(&text) {
                Ok(Envelope::Event { seq, op, signal }) => {
                    last.set(seq);
                    apply(live, &op, *signal);
                }
                // The server ends the stream for good: access ran out or was taken back, or this
                // browser's session was revoked. Reconnecting would only be refused.
                Ok(Envelope::Access { state }) if state == "ended" || state == "signed_out" => {
                    live.ended.set(true);
                    live.state.set(if state == "ended" { "ended" } else { "signed_out" });
                    let _ = socket.close();
                }
                Ok(Envelope::Resync {}) => {
                    live.state.set("resyncing");
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().reload();
                    }
                }
                _ => {}
            }
        })
    };
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();

    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
        if !gone(live) && !live.ended.get_untracked() {
            live.state.set("reconnecting");
            retry(last.clone(), attempt.clone(), live);
        }
    });
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    on_close.forget();
}

/// Exponential backoff (0.5 s doubling to 30 s) with ±50 % jitter, so a server restart is not
/// met by every client at the same instant.
fn retry(last: Rc<Cell<i64>>, attempt: Rc<Cell<u32>>, live: Live) {
    let n = attempt.get();
    attempt.set(n + 1);
    let base = (500.0 * 2f64.powi(n.min(6) as i32)).min(30_000.0);
    let delay = base * (0.5 + js_sys::Math::random());
    let again = Closure::once_into_js(move || {
        if !gone(live) {
            open(last, attempt, live)
        }
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(again.unchecked_ref(), delay as i32);
    }
}
