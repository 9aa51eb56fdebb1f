//! `/account`: who you are, where you are signed in (revoke any or all others), password change,
//! your access, Discord and reminders.

use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::account_api::{
    ChangePassword, ResendVerification, RevokeOtherSessions, RevokeSession, SignOut, current_viewer, list_sessions,
};
use crate::components::field::{Field, FormError};
use crate::components::time::short_utc;
use crate::pages::access_panel::AccessPanel;
use crate::pages::discord_panel::DiscordPanel;
use crate::pages::reminders_panel::RemindersPanel;

#[component]
pub fn AccountPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| current_viewer());
    view! {
        <crate::components::desk_nav::DeskNav current="account" />
        <main class="page" id="main">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(Some(v)) => view! {
                            {(!v.email_verified).then(|| view! { <VerifyNotice email=v.email.clone() /> })}
                            <AccountBody email=v.email is_admin=v.is_admin />
                        }.into_any(),
                        Ok(None) => view! { <Redirect path="/login?next=/account" /> }.into_any(),
                        Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                    }
                })}
            </Suspense>
            // A sibling of the Suspense, not inside it: its resource is created with the page,
            // so server and browser agree on it during hydration.
            <AccessPanel />
            <DiscordPanel />
            <RemindersPanel />
        </main>
    }
}

/// Until the address is verified, paid time waits: say so, and offer the link again.
#[component]
fn VerifyNotice(email: String) -> impl IntoView {
    let resend = ServerAction::<ResendVerification>::new();
    let answer = move || match resend.value().get() {
        Some(Ok(true)) => Some("A new link is on its way.".to_owned()),
        Some(Ok(false)) => {
            Some("Several links were sent in the last minutes; check your inbox (and spam) first.".to_owned())
        }
        Some(Err(e)) => Some(e.to_string()),
        None => None,
    };
    view! {
        <section class="notice" role="status" data-testid="verify-notice">
            <p><strong>"Verify your e-mail to receive your purchase."</strong>
               {format!(" We sent a link to {email}. Time bought with this address reaches your account once you open it.")}</p>
            <ActionForm action=resend>
                <button type="submit" class="button small" data-testid="resend-verification" disabled=resend.pending()>
                    {move || if resend.pending().get() { "Sending…" } else { "Send the link again" }}
                </button>
            </ActionForm>
            <p class="muted" data-testid="resend-answer">{answer}</p>
        </section>
    }
}

#[component]
fn AccountBody(email: String, is_admin: bool) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let revoke = ServerAction::<RevokeSession>::new();
    let revoke_others = ServerAction::<RevokeOtherSessions>::new();
    let change = ServerAction::<ChangePassword>::new();
    let sessions = Resource::new(
        move || {
            (
                revoke.version().get(),
                revoke_others.version().get(),
                change.version().get(),
            )
        },
        |_| list_sessions(),
    );
    let change_error = Signal::derive(move || change.value().get().and_then(Result::err));
    let changed = move || matches!(change.value().get(), Some(Ok(())));

    view! {
        <header class="account-head">
            <h1>"Your account"</h1>
            <p data-testid="account-email">{email}</p>
            {is_admin.then(|| view! { <p><a href="/admin">"Open the admin console"</a></p> })}
            <ActionForm action=sign_out>
                <button type="submit" class="button" data-testid="sign-out">"Sign out"</button>
            </ActionForm>
        </header>

        <section aria-labelledby="sessions-title">
            <h2 id="sessions-title">"Where you are signed in"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading sessions…"</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(list) => view! {
                            <ul class="session-list" data-testid="sessions">
                                {list.into_iter().map(|s| view! {
                                    <li class="session" data-current=s.current.to_string()>
                                        <span class="ua" title=s.user_agent.clone() data-testid="session-name">{crate::user_agent::describe(&s.user_agent)}</span>
                                        <span class="muted">
                                            {format!("signed in {} · last seen {}", short_utc(&s.created_at), short_utc(&s.last_seen_at))}
                                        </span>
                                        {if s.current {
                                            view! { <strong class="badge">"This browser"</strong> }.into_any()
                                        } else {
                                            view! {
                                                <ActionForm action=revoke>
                                                    <input type="hidden" name="id" value=s.id.clone() />
                                                    <button type="submit" class="button small" data-testid="revoke-session">"Sign out there"</button>
                                                </ActionForm>
                                            }.into_any()
                                        }}
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                    }
                })}
            </Transition>
            <ActionForm action=revoke_others>
                <button type="submit" class="button" data-testid="revoke-others" disabled=revoke_others.pending()>
                    "Sign out everywhere else"
                </button>
            </ActionForm>
        </section>

        <section aria-labelledby="password-title">
            <h2 id="password-title">"Change password"</h2>
            <p class="muted">"Changing it signs you out everywhere else."</p>
            <ActionForm action=change attr:class="form" attr:novalidate=true>
                <Field label="Current password" name="current_password" kind="password" autocomplete="current-password" error=change_error />
                <Field label="New password (12 characters or more)" name="new_password" kind="password" autocomplete="new-password" error=change_error />
                <FormError error=change_error />
                <button type="submit" class="button primary" disabled=change.pending()>
                    {move || if change.pending().get() { "Saving…" } else { "Change password" }}
                </button>
                <p class="success" role="status">{move || changed().then_some("Password changed.")}</p>
            </ActionForm>
        </section>
    }
}
