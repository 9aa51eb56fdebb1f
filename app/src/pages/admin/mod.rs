//! The admin console: one gate (sign-in, then the admin role) around every `/admin` page.
//! The gate only decides what to render; the data behind each page comes from `/rpc/admin/*`
//! server functions that check the role themselves.

pub mod channels;
pub mod connectors;
pub mod customers;
pub mod discord;
pub mod mirror;
pub mod overview;
pub mod policies;
pub mod queues;
pub mod users;
pub mod webhooks;

use leptos::prelude::*;
use leptos_router::components::{Outlet, Redirect};
use leptos_router::hooks::use_location;

use crate::account_api::current_viewer;
use crate::pages::not_allowed::NotAllowed;

#[component]
pub fn AdminLayout() -> impl IntoView {
    let me = Resource::new(|| (), |_| current_viewer());
    let alert = Resource::new(|| (), |_| crate::payments_api::payment_alert());
    let location = use_location();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let me = me.await;
                // A customer or visitor gets an error here (the function checks the role); only
                // an admin ever sees the banner.
                let banners = alert.await.unwrap_or_default();
                match me {
                    Ok(Some(v)) if v.is_admin => view! { <AdminShell email=v.email banners /> }.into_any(),
                    Ok(Some(_)) => view! { <NotAllowed /> }.into_any(),
                    Ok(None) => {
                        let here = location.pathname.get_untracked();
                        let next = crate::auth::login_url(&here);
                        view! { <Redirect path=next /> }.into_any()
                    }
                    Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AdminShell(email: String, banners: crate::payments_api::PaymentBanners) -> impl IntoView {
    view! {
        <div class="admin">
            {banners.alert.map(|a| view! { <p class="alert-banner" role="alert" data-testid="payment-alert">{a}</p> })}
            {banners.rejections.map(|n| view! { <p class="notice-banner" role="status" data-testid="signature-notice">{n}</p> })}
            <crate::components::skip_link::SkipLink />
            <nav class="admin-nav" aria-label="Admin">
                <strong>"Admin"</strong>
                <a href="/admin" data-testid="nav-overview">"Overview"</a>
                <a href="/admin/users" data-testid="nav-users">"Users"</a>
                <a href="/admin/connectors" data-testid="nav-connectors">"Connectors"</a>
                <a href="/admin/channels" data-testid="nav-channels">"Channels"</a>
                <a href="/admin/customers" data-testid="nav-customers">"Customers"</a>
                <a href="/admin/policies" data-testid="nav-policies">"Policies"</a>
                <a href="/admin/webhooks" data-testid="nav-webhooks">"Webhooks"</a>
                <a href="/admin/discord" data-testid="nav-discord">"Discord"</a>
                <a href="/admin/mirror" data-testid="nav-mirror">"Mirror"</a>
                <a href="/admin/queues" data-testid="nav-queues">"Queues"</a>
                <span class="muted nav-me">{email}</span>
                <a href="/account">"Account"</a>
            </nav>
            <main class="page wide" id="main">
                <Outlet />
            </main>
        </div>
    }
}
