//! The admin gate (S9): every `/rpc/admin/*` server function refuses anonymous callers (401) and
//! customers (403); `/admin` pages send visitors to sign in and show customers "not allowed".

use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, spawn_app};
use crate::on_both_databases;

on_both_databases!(
    s9_every_admin_server_function_refuses_customers_and_visitors,
    admin_user_list_searches_and_pages,
    admin_pages_redirect_visitors_and_refuse_customers,
    sign_in_redirects_only_to_local_paths,
);

async fn sign_in_redirects_only_to_local_paths(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up("r@example.com", PASSWORD).await;
    for (next, expected) in [
        ("/admin/users", "/admin/users"),
        ("https://evil.example/phish", "/account"),
        ("//evil.example", "/account"),
        ("/\\evil.example", "/account"),
    ] {
        let res = app
            .client
            .post(app.url("/rpc/sign-in"))
            .header("accept", "application/json")
            .form(&[("email", "r@example.com"), ("password", PASSWORD), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["location"], expected, "next={next}");
    }
}

/// Every registered admin server function, found from the router itself, so a new one cannot be forgotten.
fn admin_server_fn_paths() -> Vec<String> {
    let paths: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _method)| path.to_owned())
        .filter(|p| p.starts_with("/rpc/admin/"))
        .collect();
    assert!(!paths.is_empty(), "no admin server functions registered?");
    paths
}

/// Valid values for every argument any admin function takes (each ignores the others), so the
/// call reaches the function body and its role check.
const ANY_ARGS: &[(&str, &str)] = &[
    ("query", ""),
    ("page", "0"),
    ("name", "Collector"),
    ("id", "1"),
    ("enabled", "true"),
    ("forwarding", "true"),
    ("guild", "1100000000000000001"),
    ("channel", "1100000000000000010"),
    ("role", "source"),
    ("on", "true"),
    ("source", "1100000000000000010"),
    ("target", "1100000000000000011"),
    ("product_id", "77"),
    ("variant_id", ""),
    ("tier", "1"),
    ("days", "30"),
    ("email", "someone@example.com"),
    ("reason", "test"),
    ("connector", "00000000-0000-0000-0000-000000000000"),
    ("request", "00000000-0000-0000-0000-000000000001"),
    ("action", "retry"),
    ("roles", ""),
    ("mode", "dry_run"),
    ("signal", "1"),
];

async fn s9_every_admin_server_function_refuses_customers_and_visitors(backend: Backend) {
    let app = spawn_app(backend).await;
    let customer = app.sign_up("cust@example.com", PASSWORD).await;
    for path in admin_server_fn_paths() {
        let anon = app.call(&path, ANY_ARGS, None).await;
        assert_eq!(anon.status(), 401, "{path} for a visitor");
        let res = app.call(&path, ANY_ARGS, Some(&customer)).await;
        assert_eq!(res.status(), 403, "{path} for a customer");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body, Value::String("Forbidden".into()), "{path}: {body}");
    }
}

async fn admin_user_list_searches_and_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.sign_up("boss@example.com", PASSWORD).await;
    app.make_admin("boss@example.com").await;
    for i in 0..30 {
        domain::accounts::create(
            &app.ctx.db,
            &format!("user{i:02}@example.com"),
            domain::Secret::new(PASSWORD.into()),
            domain::accounts::Role::Customer,
        )
        .await
        .unwrap();
    }
    let page0: Value = app
        .call("/rpc/admin/users", &[("query", ""), ("page", "0")], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page0["total"], 31);
    assert_eq!(page0["pages"], 2);
    assert_eq!(page0["users"].as_array().unwrap().len(), 25);
    let page1: Value = app
        .call("/rpc/admin/users", &[("query", ""), ("page", "1")], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page1["users"].as_array().unwrap().len(), 6);
    let found: Value = app
        .call("/rpc/admin/users", &[("query", "USER1"), ("page", "0")], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 10, "user10..user19: {found}");
    let row = &found["users"][0];
    assert!(row["email"].as_str().unwrap().starts_with("user1"));
    assert_eq!(row["role"], "customer");
    assert!(row.get("password_hash").is_none());
}

async fn admin_pages_redirect_visitors_and_refuse_customers(backend: Backend) {
    let app = spawn_app(backend).await;
    let visitor = app.get("/admin/users").await;
    assert!(visitor.status().is_redirection(), "{}", visitor.status());
    assert_eq!(visitor.headers()["location"], "/login?next=/admin/users");
    let deep = app.get("/admin/users?q=a%20b").await;
    assert_eq!(deep.headers()["location"], "/login?next=/admin/users%3Fq%3Da%2520b");
    assert!(app.get("/account").await.status().is_redirection());

    let customer = app.sign_up("c2@example.com", PASSWORD).await;
    let res = app
        .client
        .get(app.url("/admin"))
        .header("cookie", format!("sd_session={customer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let html = res.text().await.unwrap();
    assert!(html.contains("Not allowed"), "{html}");
    assert!(
        !html.contains("c2@example.com</td>"),
        "no user data on the refusal page"
    );

    let admin = app.sign_up("a2@example.com", PASSWORD).await;
    app.make_admin("a2@example.com").await;
    let res = app
        .client
        .get(app.url("/admin/users"))
        .header("cookie", format!("sd_session={admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("c2@example.com"),
        "the user list is server-rendered for admins"
    );
}
