//! The browser entry point: hydrates the server-rendered page, then marks `<html data-hydrated>`
//! so end-to-end tests (and people) know clicks are handled from here on.

use app::App;
use app::branding::Branding;
use leptos::prelude::*;
use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let branding = Branding::from_document();
    leptos::mount::hydrate_body(move || {
        provide_context(branding);
        view! { <App /> }
    });
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute("data-hydrated", "true");
    }
}
