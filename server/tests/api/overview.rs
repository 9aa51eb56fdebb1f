//! `/admin`'s overview against a seeded ledger: customers with access by tier, revenue per day
//! with a refund subtracted on its own day (and another currency kept apart), first purchases
//! and renewals, expiries and signals per day; the page draws its charts in the server render,
//! each with its numbers as a table.

use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use serde_json::Value;

use crate::capture::{Source, create};
use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::on_both_databases;

on_both_databases!(the_overview_adds_up_a_seeded_ledger);

/// A grant recorded `days_ago` (a paid one when `amount` is given), of `slug`, for a new account.
async fn grant(app: &TestApp, email: &str, slug: &str, days_ago: i64, amount: Option<(i64, &str)>, order: &str) -> i64 {
    let user = match domain::accounts::id_for_email(&app.ctx.db, email).await.unwrap() {
        Some(u) => u,
        None => {
            app.sign_up(email, PASSWORD).await;
            domain::accounts::id_for_email(&app.ctx.db, email)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let tier = crate::payments::tier_id(app, slug).await;
    let at = Utc::now() - Duration::days(days_ago);
    let g = domain::entitlements::grant(
        &app.ctx.db,
        domain::entitlements::NewGrant {
            user_id: Some(user),
            email: email.into(),
            order_id: amount.map(|_| order.to_owned()),
            tier_id: tier,
            days: 30,
            starts_at: at,
            cause: if amount.is_some() {
                domain::entitlements::GrantCause::Payment
            } else {
                domain::entitlements::GrantCause::Admin
            },
            reason: "seed".into(),
            actor: Some("seed".into()),
            amount_minor: amount.map(|a| a.0),
            currency: amount.map(|a| a.1.to_owned()),
        },
    )
    .await
    .unwrap()
    .unwrap();
    entity::entitlement_grant::Entity::update_many()
        .col_expr(entity::entitlement_grant::Column::CreatedAt, Expr::value(at))
        .filter(entity::entitlement_grant::Column::Id.eq(g.id))
        .exec(&app.ctx.db)
        .await
        .unwrap();
    g.id
}

async fn the_overview_adds_up_a_seeded_ledger(backend: Backend) {
    let s = Source::start(backend).await;
    let app = &s.app;
    // Ada buys Pro two days ago and renews today; Bob buys yesterday and is refunded today;
    // Cy has an operator's grant; Di pays in euros; Eve's access ran out yesterday.
    grant(app, "ada@example.com", "pro", 2, Some((1000, "USD")), "o-1").await;
    grant(app, "ada@example.com", "pro", 0, Some((2000, "USD")), "o-2").await;
    let bob = grant(app, "bob@example.com", "pro", 1, Some((2500, "USD")), "o-3").await;
    grant(app, "cy@example.com", "basic", 0, None, "").await;
    grant(app, "di@example.com", "basic", 0, Some((500, "EUR")), "o-4").await;
    // Refunded the way the payment path takes an order back (the reason names the storefront).
    domain::entitlements::revoke_grant(
        &app.ctx.db,
        bob,
        "Sell.app order.updated (REFUNDED)",
        "Sell.app order.updated #3",
    )
    .await
    .unwrap()
    .expect("taken back");
    entity::access_change::ActiveModel {
        user_id: Set(None),
        email: Set("eve@example.com".into()),
        grant_id: Set(None),
        kind: Set("expired".into()),
        cause: Set("expiry".into()),
        detail: Set(String::new()),
        at: Set(Utc::now() - Duration::days(1)),
        ..Default::default()
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    for i in 0..3 {
        s.event(create(7_000 + i, "BTC long")).await;
    }

    let admin = app.sign_up("ops@example.com", PASSWORD).await;
    app.make_admin("ops@example.com").await;
    let res = app.call("/rpc/admin/overview", &[], Some(&admin)).await;
    assert_eq!(res.status(), 200);
    let o: Value = res.json().await.unwrap();

    let tiers: Vec<(String, u64)> = serde_json::from_value(o["active_by_tier"].clone()).unwrap();
    assert_eq!(
        tiers,
        vec![
            ("Basic".to_owned(), 2),
            ("Advanced".to_owned(), 0),
            ("Pro".to_owned(), 1)
        ],
        "Ada Pro; Cy and Di Basic; Bob refunded; Eve expired"
    );
    assert_eq!(o["currency"], "USD");
    assert_eq!(o["other_currencies"], serde_json::json!(["net 5.00 EUR"]));
    assert_eq!(o["revenue_total"], "30.00 USD");
    let days = o["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    let day = |ago: usize| &days[days.len() - 1 - ago];
    assert_eq!(day(0)["day"], Utc::now().date_naive().to_string());
    let revenue: Vec<&Value> = (0..3).rev().map(|i| &day(i)["revenue"]).collect();
    assert_eq!(
        revenue,
        ["10.00 USD", "25.00 USD", "−5.00 USD"],
        "the refund is subtracted today"
    );
    let counts = |ago: usize| {
        let d = day(ago);
        (
            d["first_purchases"].as_u64().unwrap(),
            d["renewals"].as_u64().unwrap(),
            d["expiries"].as_u64().unwrap(),
            d["signals"].as_u64().unwrap(),
        )
    };
    assert_eq!(counts(2), (1, 0, 0, 0), "Ada's first purchase");
    assert_eq!(counts(1), (1, 0, 1, 0), "Bob's purchase, Eve's expiry");
    assert_eq!(
        counts(0),
        (1, 1, 0, 3),
        "Di's first purchase, Ada's renewal, three signals"
    );

    // The three signals went out to the live feeds (the hub reads them whether or not anyone
    // follows); how fast is measured from their commit.
    let mut dashboard = o["dashboard"].clone();
    for _ in 0..40 {
        if dashboard[0] == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let res = app.call("/rpc/admin/overview", &[], Some(&admin)).await;
        dashboard = res.json::<Value>().await.unwrap()["dashboard"].clone();
    }
    assert_eq!(dashboard[0], 3, "{dashboard}");
    assert!(dashboard[2].as_u64().unwrap() < 60_000, "{dashboard}");

    // The page: charts drawn in the server render, each with its table; no wasm needed.
    let html = app.get_with_session("/admin", &admin).await;
    for chart in ["chart-revenue", "chart-purchases", "chart-expiries", "chart-signals"] {
        assert!(html.contains(&format!("data-testid=\"{chart}\"")), "{chart} rendered");
        assert!(
            html.contains(&format!("data-testid=\"{chart}-table\"")),
            "{chart}'s table"
        );
    }
    assert!(html.contains("<svg"), "SVG in the server render");
    assert!(html.contains("−5.00 USD"));
    assert!(html.contains("data-testid=\"active-by-tier\""));
}
