//! What the operator calls the product. Provided as context on the server from the config and
//! read back from `<meta name="application-name">` in the browser.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branding {
    pub app_name: String,
}

impl Branding {
    pub fn new(app_name: impl Into<String>) -> Self {
        Self {
            app_name: app_name.into(),
        }
    }

    /// The name the server rendered into the page; falls back to the default name.
    #[cfg(feature = "hydrate")]
    pub fn from_document() -> Self {
        let name = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector("meta[name=application-name]").ok().flatten())
            .and_then(|m| m.get_attribute("content"))
            .unwrap_or_else(|| "SignalDesk".into());
        Self::new(name)
    }
}
