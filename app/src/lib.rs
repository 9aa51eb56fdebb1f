//! Leptos pages, components and server functions, compiled for the server (`ssr`) and the
//! browser (`hydrate`). Server functions stay thin: they call the `domain` crate.

// The dashboard's view types nest deeper than the default limit allows in the wasm build.
#![recursion_limit = "256"]

pub mod access_api;
pub mod account_api;
pub mod admin_api;
pub mod alerts_api;
pub mod auth;
pub mod branding;
pub mod capture_api;
pub mod components;
pub mod customers_api;
pub mod dashboard_api;
pub mod discord_admin_api;
pub mod discord_markdown;
pub mod embed;
pub mod error;
#[cfg(feature = "hydrate")]
pub mod live_feed;
pub mod mirror_api;
pub mod overview_api;
pub mod pages;
pub mod payments_api;
pub mod plans;
pub mod queues_api;
pub mod reminders_api;
pub mod status;
pub mod user_agent;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    SsrMode, StaticSegment,
    components::{ParentRoute, Route, Router, Routes},
};

use crate::branding::Branding;
use crate::pages::account::AccountPage;
use crate::pages::admin::{
    AdminLayout, channels::ChannelsPage, connectors::ConnectorsPage, customers::CustomersPage, policies::PoliciesPage,
    users::UsersPage, webhooks::WebhooksPage,
};
use crate::pages::dashboard::DashboardPage;
use crate::pages::{home::HomePage, login::LoginPage, not_found::NotFound, signup::SignupPage};

/// The file name cargo-leptos (and our scripted build) give the wasm/js/css bundle.
pub const OUTPUT_NAME: &str = "signaldesk";

/// The HTML document around the app. Rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let branding = expect_context::<Branding>();
    #[cfg(feature = "ssr")]
    provide_csp_nonce();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                // Read back by the browser at hydration, so both sides render the same name.
                <meta name="application-name" content=branding.app_name.clone() />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let branding = expect_context::<Branding>();
    view! {
        <Stylesheet id="leptos" href=format!("/pkg/{OUTPUT_NAME}.css") />
        <Title text=branding.app_name.clone() />
        <Router>
            <Routes fallback=NotFound>
                // Async: the plans are in the first HTML byte stream, readable before the wasm loads.
                <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async />
                <Route path=StaticSegment("login") view=LoginPage />
                <Route path=StaticSegment("signup") view=SignupPage />
                <Route path=StaticSegment("verify-email") view=crate::pages::verify_email::VerifyEmailPage ssr=SsrMode::Async />
                <Route path=StaticSegment("sign-in-link") view=crate::pages::sign_in_link::SignInLinkPage ssr=SsrMode::Async />
                <Route path=StaticSegment("unsubscribe") view=crate::pages::unsubscribe::UnsubscribePage />
                <Route path=StaticSegment("forgot-password") view=crate::pages::forgot_password::ForgotPasswordPage />
                <Route path=StaticSegment("reset-password") view=crate::pages::reset_password::ResetPasswordPage />
                <Route path=StaticSegment("account") view=AccountPage ssr=SsrMode::Async />
                <Route path=StaticSegment("dashboard") view=DashboardPage ssr=SsrMode::Async />
                <ParentRoute path=StaticSegment("admin") view=AdminLayout ssr=SsrMode::Async>
                    <Route path=StaticSegment("") view=crate::pages::admin::overview::OverviewPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("users") view=UsersPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("connectors") view=ConnectorsPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("channels") view=ChannelsPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("policies") view=PoliciesPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("customers") view=CustomersPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("webhooks") view=WebhooksPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("discord") view=crate::pages::admin::discord::DiscordPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("queues") view=crate::pages::admin::queues::QueuesPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("mirror") view=crate::pages::admin::mirror::MirrorPage ssr=SsrMode::Async />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The server's security middleware mints a nonce per response and names it in the CSP header;
/// handing it to Leptos here puts it on every inline script the render emits.
#[cfg(feature = "ssr")]
fn provide_csp_nonce() {
    if let Some(nonce) =
        use_context::<axum::http::request::Parts>().and_then(|p| p.extensions.get::<CspNonce>().cloned())
    {
        provide_context(leptos::nonce::Nonce::from_value(nonce.0));
    }
}

/// The per-response CSP nonce, put into request extensions by the server's security middleware.
#[cfg(feature = "ssr")]
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);
