//! Leptos pages, components and server functions, compiled for the server (`ssr`) and the
//! browser (`hydrate`). Server functions stay thin: they call the `domain` crate.

pub mod branding;
pub mod error;
pub mod pages;
pub mod plans;
pub mod status;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    SsrMode, StaticSegment,
    components::{Route, Router, Routes},
};

use crate::branding::Branding;
use crate::pages::{home::HomePage, not_found::NotFound};

/// The file name cargo-leptos (and our scripted build) give the wasm/js/css bundle.
pub const OUTPUT_NAME: &str = "signaldesk";

/// The HTML document around the app. Rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let branding = expect_context::<Branding>();
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
            </Routes>
        </Router>
    }
}
