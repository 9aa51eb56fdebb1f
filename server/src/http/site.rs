//! The Leptos side of the router: server-rendered pages, server functions, static files.

use app::branding::Branding;
use app::{App, OUTPUT_NAME, shell};
use axum::Router;
use domain::{AppContext, Config};
use leptos::config::LeptosOptions;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, file_and_error_handler_with_context, generate_route_list};

use super::AppState;

pub fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(config.site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(config.bind_addr)
        .build()
}

pub fn routes(state: &AppState) -> Router<AppState> {
    let branding = Branding::new(state.ctx.config.app_name.clone());
    let route_branding = branding.clone();
    let routes = generate_route_list(move || {
        provide_context(route_branding.clone());
        view! { <App /> }
    });

    let context = provide_request_context(state.ctx.clone(), branding);
    let options = state.leptos_options.clone();
    Router::new()
        .leptos_routes_with_context(state, routes, context.clone(), move || shell(options.clone()))
        .fallback(file_and_error_handler_with_context::<AppState, _>(context, shell))
}

/// What every page render and server function call gets in its reactive context.
fn provide_request_context(ctx: AppContext, branding: Branding) -> impl Fn() + Clone + Send + Sync + 'static {
    move || {
        provide_context(ctx.clone());
        provide_context(branding.clone());
    }
}
