//! Security headers (S8), CSRF (S5), request body limits, and no default credentials.

use crate::helpers::{Backend, PASSWORD, spawn_app, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(
    s8_security_headers_on_every_response,
    s8_hsts_only_on_https,
    s8_csp_nonce_matches_the_inline_scripts,
    s5_cross_site_state_change_is_refused,
    s5_request_without_origin_or_fetch_metadata_is_refused,
    s5_same_origin_fetch_metadata_is_accepted,
    oversized_body_is_413,
    no_account_exists_until_one_is_made,
    a_request_whose_body_trickles_is_answered_408,
    answers_for_a_signed_in_person_are_never_cached,
    s5_the_origin_must_be_public_url_not_the_host_header,
);

async fn s8_security_headers_on_every_response(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/", "/login", "/healthz", "/api/v1/nope", "/robots.txt-missing"] {
        let res = app.get(path).await;
        let h = res.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP"))
            .to_str()
            .unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert!(h.contains_key("referrer-policy"), "{path}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(!h.contains_key("strict-transport-security"), "no HSTS on plain http");
    }
}

async fn s8_hsts_only_on_https(backend: Backend) {
    let app = spawn_app_with(backend, &[("PUBLIC_URL", "https://signals.example.com")]).await;
    let res = app.get("/").await;
    assert!(
        res.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
}

async fn s8_csp_nonce_matches_the_inline_scripts(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/").await;
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap()
        .to_owned();
    let status = res.status();
    let html = res.text().await.unwrap();
    let scripts = html.matches("<script").count();
    // (Once seen failing on a loaded CI machine: the answer is printed to tell why next time.)
    assert!(scripts > 0, "no script in the page ({status}): {html}");
    assert!(
        html.matches(&format!("nonce=\"{nonce}\"")).count() >= scripts,
        "every inline script carries the nonce"
    );
    // A new nonce per response.
    let again = app.get("/").await.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(csp, again);
}

async fn s5_cross_site_state_change_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.sign_up("x@example.com", PASSWORD).await;
    let res = app
        .client
        .post(app.url("/rpc/sessions/revoke-others"))
        .header("origin", "https://evil.example")
        .header("cookie", format!("sd_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "csrf_rejected");
    let res = app
        .client
        .post(app.url("/rpc/sign-out"))
        .header("sec-fetch-site", "cross-site")
        .header("cookie", format!("sd_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(app.whoami(&token).await.is_some(), "the forged sign-out did nothing");
}

async fn s5_request_without_origin_or_fetch_metadata_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let bare = reqwest::Client::new();
    let res = bare
        .post(app.url("/rpc/status"))
        .form(&[("x", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

async fn s5_same_origin_fetch_metadata_is_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let bare = reqwest::Client::new();
    let res = bare
        .post(app.url("/rpc/status"))
        .header("sec-fetch-site", "same-origin")
        .header("accept", "application/json")
        .form(&[("x", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn oversized_body_is_413(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(backend).await;
    // Headers only: the server must refuse from Content-Length alone, before reading a byte of
    // body (sending the body too would race the server closing the connection).
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /rpc/sign-in HTTP/1.1\r\nHost: {addr}\r\nOrigin: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        app.address,
        2 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

async fn no_account_exists_until_one_is_made(backend: Backend) {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app = spawn_app(backend).await;
    assert_eq!(
        entity::user_account::Entity::find().count(&app.ctx.db).await.unwrap(),
        0,
        "no default credentials"
    );
    for (email, pw) in [
        ("admin@example.com", "admin"),
        ("admin", "admin"),
        ("admin@localhost", "password"),
    ] {
        assert_eq!(app.sign_in(email, pw).await.status(), 401);
    }
}

/// A client that announces a body and never sends it does not hold a task for ever.
async fn a_request_whose_body_trickles_is_answered_408(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(backend, &[("HTTP_REQUEST_TIMEOUT", "1"), ("HTTP_IDLE_TIMEOUT", "5")]).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /rpc/sign-in HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=a"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered within 5 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

async fn answers_for_a_signed_in_person_are_never_cached(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.sign_up("private@example.com", PASSWORD).await;
    let with_cookie = |path: &'static str| {
        app.client
            .get(app.url(path))
            .header("cookie", format!("sd_session={session}"))
            .send()
    };
    for path in ["/account", "/dashboard", "/"] {
        let res = with_cookie(path).await.unwrap();
        assert_eq!(res.headers()["cache-control"], "no-store", "{path}");
        let vary: Vec<_> = res
            .headers()
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert!(
            vary.iter().any(|v| v.to_ascii_lowercase().contains("cookie")),
            "{path}: {vary:?}"
        );
    }
    let rpc = app.call("/rpc/viewer", &[], Some(&session)).await;
    assert_eq!(rpc.headers()["cache-control"], "no-store");
    // Static files are the same for everyone and stay cacheable.
    let css = with_cookie("/pkg/signaldesk.css").await.unwrap();
    assert_ne!(
        css.headers().get("cache-control").map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
}

async fn s5_the_origin_must_be_public_url_not_the_host_header(backend: Backend) {
    let app = spawn_app_with(backend, &[("PUBLIC_URL", "https://signals.example.com")]).await;
    // A page on whatever the browser used as the host (a DNS-rebinding page, say) claims to be us.
    let res = app
        .client
        .post(app.url("/rpc/sign-in"))
        .header("origin", &app.address)
        .form(&[("email", "a@example.com"), ("password", "whatever password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app
        .client
        .post(app.url("/rpc/sign-in"))
        .header("origin", "https://signals.example.com")
        .header("accept", "application/json")
        .form(&[("email", "a@example.com"), ("password", "whatever password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "our own origin gets through to the sign-in");
}
