//! The account page's reminders section: e-mail and Discord reminders before access ends, each
//! with its own switch. Plain forms, so the switches work before the page's wasm has loaded.

use leptos::prelude::*;

use crate::reminders_api::{SetReminder, reminder_settings};

#[component]
pub fn RemindersPanel() -> impl IntoView {
    let set = ServerAction::<SetReminder>::new();
    let settings = Resource::new(move || set.version().get(), |_| reminder_settings());
    let error = move || set.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section id="reminders" aria-labelledby="reminders-title" data-testid="reminders-panel">
            <h2 id="reminders-title">"Reminders"</h2>
            <p class="form-error" role="alert">{error}</p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match settings.await {
                        Ok(s) if s.days.is_empty() => view! {
                            <p class="muted">"This site does not send reminders before access ends."</p>
                        }.into_any(),
                        Ok(s) => {
                            let when = days_phrase(&s.days);
                            let discord_note = (!s.discord_linked).then_some(" (reaches you once Discord is linked)");
                            view! {
                                <p class="muted">{format!("We remind you {when} your access ends, with a link to renew.")}</p>
                                <ul class="switch-list">
                                    <Switch action=set channel="email" label="By e-mail" on=s.email note=None />
                                    <Switch action=set channel="discord" label="By Discord direct message" on=s.discord note=discord_note />
                                </ul>
                            }.into_any()
                        }
                        Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// [7, 1] → "7 days and 1 day before".
fn days_phrase(days: &[u32]) -> String {
    let each: Vec<String> = days
        .iter()
        .map(|d| format!("{d} day{}", if *d == 1 { "" } else { "s" }))
        .collect();
    let joined = match each.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    format!("{joined} before")
}

#[component]
fn Switch(
    action: ServerAction<SetReminder>,
    channel: &'static str,
    label: &'static str,
    on: bool,
    note: Option<&'static str>,
) -> impl IntoView {
    view! {
        <li class="switch" data-testid=format!("reminder-{channel}") data-on=on.to_string()>
            <span>
                <strong>{label}</strong>": " {if on { "on" } else { "off" }}
                {note.map(|n| view! { <span class="muted">{n}</span> })}
            </span>
            <ActionForm action=action>
                <input type="hidden" name="channel" value=channel />
                <input type="hidden" name="on" value=(!on).to_string() />
                <button type="submit" class="button small" data-testid=format!("reminder-{channel}-toggle")>
                    {if on { "Turn off" } else { "Turn on" }}
                </button>
            </ActionForm>
        </li>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_read_as_a_sentence() {
        assert_eq!(super::days_phrase(&[7, 1]), "7 days and 1 day before");
        assert_eq!(super::days_phrase(&[14, 7, 1]), "14 days, 7 days and 1 day before");
        assert_eq!(super::days_phrase(&[3]), "3 days before");
    }
}
