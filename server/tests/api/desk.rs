//! The customer's desk as the server renders it (what a reader sees before the wasm loads):
//! Discord markdown, mentions by name, timestamps, and embeds laid out like Discord's — with
//! nothing from the source ever reaching the page as markup.

use chrono::Duration;
use serde_json::json;

use crate::capture::{GENERAL, SIGNALS, Source, create};
use crate::feed::customer_with_access;
use crate::helpers::Backend;
use crate::on_both_databases;

on_both_databases!(the_dashboard_renders_signals_as_discord_shows_them);

async fn the_dashboard_renders_signals_as_discord_shows_them(backend: Backend) {
    let s = Source::start(backend).await;
    let mut text = create(
        1,
        &format!(
            "**Entry** <@42> <@&7> <@999> in <#{SIGNALS}> and <#{GENERAL}> at <t:1733000000:F>\n\
             <script>alert(1)</script> [x](javascript:alert(1))"
        ),
    );
    text["mentions"] = json!({"users": [{"id": "42", "name": "alice"}], "roles": [{"id": "7", "name": "VIP"}]});
    s.event(text).await;
    let mut embed_only = create(2, "");
    embed_only["attachments"] = json!([]);
    embed_only["embeds"] = json!([{
        "title": "ETH/USDT SHORT", "url": "https://example.com/trade", "color": 0xe74c3c,
        "description": "Entry **3,200**", "footer": {"text": "Signal bot"},
        "fields": [{"name": "TP1", "value": "3,100", "inline": true}, {"name": "SL", "value": "3,300", "inline": true}],
        "image": {"url": "javascript:alert(2)"}
    }]);
    s.event(embed_only).await;
    let session = customer_with_access(&s.app, "reader@example.com", Duration::hours(1)).await;
    // Without the hydration markers (`<!>`) Leptos puts between a view's parts.
    let page = s.app.get_with_session("/dashboard", &session).await.replace("<!>", "");

    assert!(page.contains("<strong>Entry</strong>"), "markdown");
    assert!(
        page.contains(">@alice<") && page.contains(">@VIP<"),
        "mentions by the names sent with them"
    );
    assert!(
        page.contains(">@unknown-user<"),
        "an id nobody named is shown neutrally"
    );
    assert!(page.contains(">#signals<"), "a Source channel by its name");
    assert!(
        page.contains(">#unknown-channel<"),
        "a channel customers do not see keeps its name to itself"
    );
    assert!(!page.contains("#general"));
    assert!(
        page.contains("Saturday, 30 November 2024 20:53 UTC"),
        "the timestamp in its F style"
    );
    assert!(
        !page.contains("<@42>") && !page.contains("<t:1733000000"),
        "no raw codes"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the source's markup stays text"
    );
    assert!(
        page.contains("[x](javascript:alert(1))"),
        "a javascript: link stays text"
    );
    assert!(!page.contains(r#"="javascript:"#), "no javascript: link or image");

    // The embed-only signal: colour bar, linked title, fields, footer.
    assert!(page.contains(r##"fill="#e74c3c""##), "the colour bar");
    assert!(page.contains(r#"href="https://example.com/trade""#) && page.contains("ETH/USDT SHORT"));
    assert!(page.contains(">TP1<") && page.contains(">3,100<") && page.contains(">SL<"));
    assert!(page.contains("Entry <strong>3,200</strong>"));
    assert!(page.contains("Signal bot"));
    assert_eq!(page.matches(r#"data-testid="embed-field""#).count(), 2);
}
