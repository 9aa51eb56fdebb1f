//! The customer's desk as the server renders it (what a reader sees before the wasm loads):
//! Discord markdown, mentions by name, timestamps, and embeds laid out like Discord's — with
//! nothing from the source ever reaching the page as markup.

use chrono::Duration;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::capture::{GENERAL, SIGNALS, Source, create, delete, update};
use crate::channel_tiers::{grant, in_general, two_channels};
use crate::feed::customer_with_access;
use crate::helpers::{Backend, PASSWORD};
use crate::on_both_databases;

on_both_databases!(
    the_dashboard_renders_signals_as_discord_shows_them,
    search_finds_only_what_the_tier_opens,
    an_edit_keeps_history_and_names_the_levels_it_moved,
    search_paths_agree_with_a_plain_filter,
    alert_settings_are_the_customers_own,
);

/// The dashboard as a signed-in browser gets it, without Leptos's hydration markers (`<!>`).
async fn page(s: &Source, path: &str, session: &str) -> String {
    s.app.get_with_session(path, session).await.replace("<!>", "")
}

/// The signal cards of a page, by the `data-id` of each.
fn cards(page: &str) -> usize {
    page.matches(r#"data-testid="signal""#).count()
}

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
    text["author"]["avatar"] = json!("0123456789abcdef0123456789abcdef");
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
    let page = page(&s, "/dashboard", &session).await;

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

    // Authors' pictures (attachment rules): Discord's CDN, built from the id and the checked hash,
    // no referrer; an author without one gets Discord's default picture for their id.
    let author: i64 = crate::capture::AUTHOR.parse().unwrap();
    assert!(page.contains(&format!(
        r#"src="https://cdn.discordapp.com/avatars/{author}/0123456789abcdef0123456789abcdef.png?size=64""#
    )));
    assert!(page.contains(&format!(
        r#"src="https://cdn.discordapp.com/embed/avatars/{}.png""#,
        (author >> 22) % 6
    )));
    assert_eq!(page.matches(r#"referrerpolicy="no-referrer""#).count(), 2);
}

/// Search reads the database's text index over the history the customer's tier opens (S9): a pro
/// channel's call stays out for a basic customer, deleted signals never come back, filters by
/// channel, pair and side narrow it, the query is kept in the URL (older results repeat it), and
/// index syntax in a query is only words.
async fn search_finds_only_what_the_tier_opens(backend: Backend) {
    let s = two_channels(backend).await;
    s.event(create(1, "ETH/USDT LONG\nEntry 3,100\nTP1 3,300\nSL 3,000 weekcall"))
        .await;
    s.event(create(2, "BTC breakout soon, watching 70k")).await;
    s.event(create(3, "ETHUSDT SHORT entry 3,500 sl 3,600 shortcall")).await;
    s.event(create(4, "ETH deleted call gonecall")).await;
    s.event(delete(4, "2026-11-27T12:30:00Z")).await;
    s.event(in_general(10, "ETH/USDT LONG entry 2,900 procall")).await;
    let basic = customer_with_access(&s.app, "basic@example.com", Duration::hours(2)).await;

    let found = page(&s, "/dashboard?q=eth", &basic).await;
    assert!(found.contains("weekcall") && found.contains("shortcall"));
    assert!(
        !found.contains("procall"),
        "a pro channel's signal is not found by a basic customer"
    );
    assert!(!found.contains("gonecall"), "a deleted signal is not found");
    assert!(!found.contains("watching 70k"));
    assert_eq!(cards(&found), 2);
    assert!(found.contains(r#"value="eth""#), "the search box shows the query");
    assert!(found.contains("Search results (not live)"));

    let by_pair = page(&s, "/dashboard?pair=ethusdt", &basic).await;
    assert!(by_pair.contains("weekcall") && by_pair.contains("shortcall") && cards(&by_pair) == 2);
    let by_side = page(&s, "/dashboard?pair=ETH%2FUSDT&side=short", &basic).await;
    assert!(by_side.contains("shortcall") && cards(&by_side) == 1);
    let words = page(&s, "/dashboard?q=BTC%2070k", &basic).await;
    assert!(
        words.contains("watching 70k") && cards(&words) == 1,
        "every word must match, as a prefix"
    );
    let pro_channel = page(&s, &format!("/dashboard?channel={GENERAL}&q=eth"), &basic).await;
    assert_eq!(cards(&pro_channel), 0, "a channel the tier does not open finds nothing");
    assert!(pro_channel.contains("Nothing matches"));
    let syntax = page(&s, "/dashboard?q=%22eth%22%20OR%20NEAR(%2A%20-x", &basic).await;
    assert!(
        !syntax.contains(r#"role="alert""#),
        "index syntax is only words: {syntax}"
    );
    let bad = page(&s, "/dashboard?side=sideways", &basic).await;
    assert!(bad.contains("Side is long or short."));

    // A pro customer finds the pro call too.
    s.app.sign_up("pro@example.com", PASSWORD).await;
    grant(
        &s.app,
        "pro@example.com",
        "pro",
        chrono::Utc::now() - Duration::hours(1),
        30,
    )
    .await;
    let pro = s.app.sign_in("pro@example.com", PASSWORD).await;
    let pro = crate::helpers::session_cookie(&pro).unwrap();
    let found = page(&s, &format!("/dashboard?q=eth&channel={GENERAL}"), &pro).await;
    assert!(found.contains("procall") && cards(&found) == 1);

    // Paging keeps the query: with more than a page of matches, "Older results" repeats it.
    let many: Vec<_> = (100..140)
        .map(|i| create(i, &format!("SOL/USDT LONG entry 150 batch{i}")))
        .collect();
    s.batch(many).await;
    let first = page(&s, "/dashboard?q=sol&side=long", &basic).await;
    assert_eq!(cards(&first), 30);
    let older = first
        .split(r#"data-testid="older""#)
        .next()
        .unwrap()
        .rsplit("href=\"")
        .next()
        .unwrap();
    let older = older.split('"').next().unwrap().replace("&amp;", "&");
    assert!(older.starts_with("/dashboard?q=sol&side=long&before="), "{older}");
    let next = page(&s, &older, &basic).await;
    assert_eq!(cards(&next), 10);

    // No access, no results: the plans instead.
    let free = s.app.sign_up("free@example.com", PASSWORD).await;
    let none = page(&s, "/dashboard?q=eth", &free).await;
    assert!(!none.contains("weekcall") && none.contains(r#"data-testid="plans""#));
}

/// An edit keeps the version it replaces (when its words changed) and the card names the levels
/// it moved; the history opens without the wasm (`<details>`).
async fn an_edit_keeps_history_and_names_the_levels_it_moved(backend: Backend) {
    let s = Source::start(backend).await;
    s.event(create(1, "ETH/USDT LONG\nEntry 3,300\nTP1 3,400\nSL 3,150"))
        .await;
    s.event(update(
        1,
        "ETH/USDT LONG\nEntry 3,300\nTP1 3,400\nSL 3,200",
        "2026-11-27T12:05:00Z",
    ))
    .await;
    // The same version again (a retry) adds nothing to the history.
    s.event(update(
        1,
        "ETH/USDT LONG\nEntry 3,300\nTP1 3,400\nSL 3,200",
        "2026-11-27T12:05:00Z",
    ))
    .await;
    let session = customer_with_access(&s.app, "reader@example.com", Duration::hours(1)).await;
    let html = page(&s, "/dashboard", &session).await;
    assert!(
        html.contains(r#"data-testid="trade-pair""#) && html.contains(">ETH/USDT</strong>"),
        "the trade line"
    );
    assert!(html.contains("SL 3,150 → 3,200"), "the level change");
    assert!(html.contains("Edit history (1 earlier version)"));
    assert!(html.contains("<details"));
    let revisions = entity::signal_revision::Entity::find()
        .all(&s.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(revisions.len(), 1);
    assert!(revisions[0].content.ends_with("SL 3,150"));

    s.event(update(
        1,
        "ETH/USDT LONG\nEntry 3,300\nTP1 3,450\nSL 3,200",
        "2026-11-27T12:10:00Z",
    ))
    .await;
    let html = page(&s, "/dashboard", &session).await;
    assert!(
        html.contains("TP1 3,400 → 3,450") && !html.contains("SL 3,150 → 3,200"),
        "against the version before"
    );
    assert!(html.contains("Edit history (2 earlier versions)"));

    // Deleted: neither the text nor its history is shown any more.
    s.event(delete(1, "2026-11-27T12:20:00Z")).await;
    let html = page(&s, "/dashboard", &session).await;
    assert!(!html.contains("3,450") && !html.contains("Edit history"));
}

/// Whatever path the database takes (PostgreSQL's newest-first window, then its text index for
/// older matches; SQLite's FTS5 in rowid order), results equal a plain filter over every stored
/// signal: newest first, every word as a prefix, the filters applied, paged without gaps.
async fn search_paths_agree_with_a_plain_filter(backend: Backend) {
    let s = Source::start(backend).await;
    let mut events = Vec::new();
    for i in 1..=120u64 {
        let text = match i {
            3 | 7 => format!("rareword call {i}"),
            _ if i % 3 == 0 => format!("ETH/USDT LONG entry {i} common"),
            // Both sides: a pair's window (PostgreSQL reads it from the pair's index) then holds
            // rows the side filter turns away.
            _ if i % 3 == 1 => format!("BTCUSDT {} entry {i} common", if i % 2 == 0 { "LONG" } else { "SHORT" }),
            _ => format!("chatter {i} common"),
        };
        // Every fourth: sparse enough that a window of 10 holds less than a page, and the window's
        // oldest row (111) is one of them — the seam between PostgreSQL's two steps.
        let text = if i % 4 == 3 { format!("{text} quad") } else { text };
        events.push(create(i, &text));
    }
    for batch in events.chunks(50) {
        s.batch(batch.to_vec()).await;
    }
    let db = &s.app.ctx.db;
    let open = vec![SIGNALS.parse::<i64>().unwrap()];
    let all = entity::signal::Entity::find().all(db).await.unwrap();
    let queries = [
        ("rareword", None, None),
        ("common", None, None),
        ("comm", Some("long"), None),
        ("entry", Some("short"), None),
        ("nothing", None, None),
        ("quad", None, None),
        ("quad", None, Some("ETH/USDT")),
        ("common", Some("short"), Some("BTC/USDT")),
        ("entry", Some("long"), Some("BTC/USDT")),
        ("nothing", None, Some("BTC/USDT")),
    ];
    for (words, side, pair) in queries {
        let q = domain::feed::search::Query {
            words: domain::feed::search::words(words),
            side: side.map(str::to_owned),
            pair: pair.map(str::to_owned),
            ..Default::default()
        };
        let mut want: Vec<i64> = all
            .iter()
            .filter(|r| {
                r.search_text
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| w.to_lowercase().starts_with(words))
                    && side.is_none_or(|sd| r.side.as_deref() == Some(sd))
                    && pair.is_none_or(|p| r.pair.as_deref() == Some(p))
            })
            .map(|r| r.id)
            .collect();
        want.sort_unstable_by(|a, b| b.cmp(a));
        // Pages of 7 with windows of 10: both of PostgreSQL's steps run.
        let mut got: Vec<i64> = Vec::new();
        let mut q = q;
        loop {
            let page = domain::feed::search::matching_ids_in(db, &open, &q, 7, 10)
                .await
                .unwrap();
            got.extend(&page);
            if page.len() < 7 {
                break;
            }
            q.before = page.last().copied();
        }
        assert_eq!(got, want, "{words} {side:?} {pair:?}");
    }
}

/// Alert settings: only for the signed-in customer, saved with their account (another customer
/// keeps their own), and only channels their tier opens can be picked (a refused save changes
/// nothing).
async fn alert_settings_are_the_customers_own(backend: Backend) {
    let s = two_channels(backend).await;
    let app = &s.app;
    assert_eq!(app.call("/rpc/alerts", &[], None).await.status(), 401);
    let save = |session: Option<String>, form: Vec<(&'static str, String)>| async move {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        app.call("/rpc/alerts/save", &form, session.as_deref()).await
    };
    assert_eq!(
        save(
            None,
            vec![("settings[notify]", "true".into()), ("settings[sound]", "true".into())]
        )
        .await
        .status(),
        401
    );

    let basic = customer_with_access(app, "basic@example.com", Duration::hours(2)).await;
    let read = |session: String| async move {
        let res = app.call("/rpc/alerts", &[], Some(&session)).await;
        assert_eq!(res.status(), 200);
        res.json::<serde_json::Value>().await.unwrap()
    };
    assert_eq!(
        read(basic.clone()).await,
        json!({"notify": false, "sound": false, "channels": []}),
        "off until turned on"
    );
    let res = save(
        Some(basic.clone()),
        vec![
            ("settings[notify]", "true".into()),
            ("settings[sound]", "false".into()),
            ("settings[channels][0]", SIGNALS.into()),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let mine = json!({"notify": true, "sound": false, "channels": [SIGNALS]});
    assert_eq!(read(basic.clone()).await, mine);

    // #general opens from Pro: a basic customer cannot pick it.
    let res = save(
        Some(basic.clone()),
        vec![
            ("settings[notify]", "false".into()),
            ("settings[sound]", "true".into()),
            ("settings[channels][0]", GENERAL.into()),
        ],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert_eq!(read(basic.clone()).await, mine, "a refused save changes nothing");

    let other = customer_with_access(app, "other@example.com", Duration::hours(2)).await;
    assert_eq!(
        read(other).await,
        json!({"notify": false, "sound": false, "channels": []})
    );
}
