//! Alerts for new signals: browser notifications and a sound (each off until the customer turns
//! it on; the browser's permission is asked only when they press the button), for every channel
//! or those they pick, saved with the account. While the tab is hidden the title counts what
//! arrived ("(3) Signals") and those cards are marked "New since you looked".

use leptos::prelude::*;

use crate::alerts_api::{AlertView, SaveAlertSettings, alert_settings};

/// What the feed and the cards share with the panel.
#[derive(Clone, Copy)]
pub struct Alerts {
    pub settings: RwSignal<AlertView>,
    /// Signals that arrived while the tab was hidden (cleared when it is hidden again).
    pub fresh: RwSignal<Vec<i64>>,
    pub unseen: RwSignal<u32>,
}

impl Alerts {
    pub fn new() -> Self {
        Alerts {
            settings: RwSignal::new(AlertView::default()),
            fresh: RwSignal::new(Vec::new()),
            unseen: RwSignal::new(0),
        }
    }

    /// Whether alerts cover this channel.
    pub fn covers(&self, channel_id: &str) -> bool {
        self.settings
            .with_untracked(|s| s.channels.is_empty() || s.channels.iter().any(|c| c == channel_id))
    }
}

impl Default for Alerts {
    fn default() -> Self {
        Self::new()
    }
}

#[component]
pub fn AlertsPanel(alerts: Alerts, channels: Vec<(String, String)>) -> impl IntoView {
    let loaded = Resource::new(|| (), |_| alert_settings());
    let save = ServerAction::<SaveAlertSettings>::new();
    let problem = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(s)) = loaded.get() {
            alerts.settings.set(s);
        }
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(s)) => alerts.settings.set(s),
        Some(Err(e)) => problem.set(Some(e.to_string())),
        None => {}
    });
    let store = move |next: AlertView| {
        alerts.settings.set(next.clone());
        save.dispatch(SaveAlertSettings { settings: next });
    };
    let toggle_notify = move |_| {
        let mut next = alerts.settings.get_untracked();
        if next.notify {
            next.notify = false;
            store(next);
        } else {
            // The browser's permission is asked here, on the customer's press, and only here.
            #[cfg(feature = "hydrate")]
            leptos::task::spawn_local(async move {
                match browser::ask_permission().await {
                    Ok(()) => {
                        problem.set(None);
                        next.notify = true;
                        store(next);
                    }
                    Err(why) => problem.set(Some(why)),
                }
            });
        }
    };
    let toggle_sound = move |_| {
        let mut next = alerts.settings.get_untracked();
        next.sound = !next.sound;
        #[cfg(feature = "hydrate")]
        if next.sound {
            // Pressing the switch is the gesture browsers want before a page may play sound.
            browser::beep();
        }
        store(next);
    };
    view! {
        <details class="alerts-panel" data-testid="alerts">
            <summary>"Alerts"</summary>
            <p class="muted">"Hear of new signals while this tab is in the background. Nothing is asked of your browser until you press a button."</p>
            <noscript><p class="muted">"Alerts need JavaScript in this browser."</p></noscript>
            <p>
                <button type="button" class="button small" data-testid="alerts-notify" on:click=toggle_notify
                    aria-pressed=move || alerts.settings.with(|s| s.notify).to_string()>
                    {move || if alerts.settings.with(|s| s.notify) { "Notifications on — turn off" } else { "Turn on notifications" }}
                </button>
                " "
                <button type="button" class="button small" data-testid="alerts-sound" on:click=toggle_sound
                    aria-pressed=move || alerts.settings.with(|s| s.sound).to_string()>
                    {move || if alerts.settings.with(|s| s.sound) { "Sound on — turn off" } else { "Turn on sound" }}
                </button>
            </p>
            <fieldset class="alert-channels">
                <legend>"For channels (none ticked: all)"</legend>
                {channels.into_iter().map(|(id, name)| {
                    let checked = {
                        let id = id.clone();
                        move || alerts.settings.with(|s| s.channels.contains(&id))
                    };
                    let flip = {
                        let id = id.clone();
                        move |_| {
                            let mut next = alerts.settings.get_untracked();
                            if let Some(i) = next.channels.iter().position(|c| *c == id) {
                                next.channels.remove(i);
                            } else {
                                next.channels.push(id.clone());
                            }
                            store(next);
                        }
                    };
                    view! {
                        <label><input type="checkbox" prop:checked=checked on:change=flip data-testid="alert-channel" />
                            {format!(" #{name}")}</label>
                    }
                }).collect_view()}
            </fieldset>
            {move || problem.get().map(|p| view! { <p class="error" role="alert" data-testid="alerts-problem">{p}</p> })}
        </details>
    }
}

/// What only a browser can do: permission, notifications, sound, the tab's title and visibility.
#[cfg(feature = "hydrate")]
pub mod browser {
    use std::cell::RefCell;

    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::Closure;
    use web_sys::{AudioContext, Notification, NotificationOptions, NotificationPermission, OscillatorType};

    use super::Alerts;
    use crate::dashboard_api::SignalCard;

    thread_local! {
        static AUDIO: RefCell<Option<AudioContext>> = const { RefCell::new(None) };
        static BASE_TITLE: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    pub async fn ask_permission() -> Result<(), String> {
        let denied = "Your browser blocks notifications for this site: allow them in its site settings, then press the button again.";
        match Notification::permission() {
            NotificationPermission::Granted => return Ok(()),
            NotificationPermission::Denied => return Err(denied.into()),
            _ => {}
        }
        let asked =
            Notification::request_permission().map_err(|_| "This browser cannot show notifications.".to_owned())?;
        let answer = wasm_bindgen_futures::JsFuture::from(asked)
            .await
            .ok()
            .and_then(|v| v.as_string());
        match answer.as_deref() {
            Some("granted") => Ok(()),
            _ => Err(denied.into()),
        }
    }

    /// A short, quiet tone (no file to fetch).
    pub fn beep() {
        AUDIO.with(|cell| {
            let mut cell = cell.borrow_mut();
            if cell.is_none() {
                *cell = AudioContext::new().ok();
            }
            let Some(ctx) = cell.as_ref() else { return };
            let _ = ctx.resume();
            let (Ok(osc), Ok(gain)) = (ctx.create_oscillator(), ctx.create_gain()) else {
                return;
            };
            osc.set_type(OscillatorType::Sine);
            osc.frequency().set_value(880.0);
            gain.gain().set_value(0.08);
            let _ = osc.connect_with_audio_node(&gain);
            let _ = gain.connect_with_audio_node(&ctx.destination());
            let now = ctx.current_time();
            let _ = osc.start_with_when(now);
            let _ = osc.stop_with_when(now + 0.15);
        });
    }

    fn document() -> Option<web_sys::Document> {
        web_sys::window()?.document()
    }

    fn hidden() -> bool {
        document().is_some_and(|d| d.hidden())
    }

    fn show_count(n: u32) {
        let Some(doc) = document() else { return };
        let base = BASE_TITLE.with(|b| b.borrow_mut().get_or_insert_with(|| doc.title()).clone());
        doc.set_title(&if n == 0 { base } else { format!("({n}) {base}") });
    }

    /// Follows the tab's visibility: coming back clears the count; leaving again starts a new
    /// "since you looked".
    pub fn watch(alerts: Alerts) {
        let Some(doc) = document() else { return };
        let on_change = Closure::<dyn FnMut()>::new(move || {
            if hidden() {
                alerts.fresh.set(Vec::new());
            } else {
                alerts.unseen.set(0);
                show_count(0);
            }
        });
        let _ = doc.add_event_listener_with_callback("visibilitychange", on_change.as_ref().unchecked_ref());
        on_change.forget();
    }

    /// A new signal arrived on the live feed.
    pub fn arrived(alerts: Alerts, card: &SignalCard) {
        if !hidden() {
            return;
        }
        alerts.fresh.update(|f| f.push(card.id));
        let n = alerts.unseen.get_untracked() + 1;
        alerts.unseen.set(n);
        show_count(n);
        if !alerts.covers(&card.channel_id) {
            return;
        }
        let settings = alerts.settings.get_untracked();
        if settings.notify && Notification::permission() == NotificationPermission::Granted {
            let options = NotificationOptions::new();
            let text = if card.content.is_empty() {
                "New signal"
            } else {
                card.content.as_str()
            };
            options.set_body(&text.chars().take(180).collect::<String>());
            options.set_tag(&format!("signal-{}", card.id));
            let _ = Notification::new_with_options(&format!("#{} · {}", card.channel, card.author), &options);
        }
        if settings.sound {
            beep();
        }
    }
}
