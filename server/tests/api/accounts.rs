//! Sign-up, sign-in, sessions and passwords over HTTP (S1, S2, S3, S4).

use argon2::password_hash::PasswordHash;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, TestApp, session_cookie, set_cookie_header, spawn_app, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(
    s1_stored_hash_is_argon2id_with_owasp_parameters,
    s2_password_length_rules_give_field_errors,
    s4_session_cookie_flags_on_http,
    s4_session_cookie_is_secure_and_host_prefixed_on_https,
    s4_token_is_stored_hashed_and_new_at_each_sign_in,
    s4_sign_out_revokes_the_session_server_side,
    s4_password_change_revokes_every_other_session,
    sessions_can_be_listed_and_revoked_one_by_one,
    failed_sign_in_says_the_same_for_unknown_email_and_wrong_password,
    s3_failed_sign_ins_slow_an_account_down_but_never_lock_it_out,
    s3_sign_in_is_throttled_per_client_address,
    s3_parallel_guesses_cannot_race_past_the_limit,
    forwarded_for_counts_only_through_trusted_proxies,
    sign_ups_per_address_are_limited,
    s3_a_wrong_current_password_counts_as_a_failed_guess,
    email_is_case_insensitive_and_trimmed,
    duplicate_sign_up_is_refused_without_a_500,
    bad_input_gives_field_errors_never_500,
);

async fn s1_stored_hash_is_argon2id_with_owasp_parameters(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up("ada@example.com", PASSWORD).await;
    let row = entity::user_account::Entity::find()
        .filter(entity::user_account::Column::Email.eq("ada@example.com"))
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    let hash = PasswordHash::new(&row.password_hash).unwrap();
    assert_eq!(hash.algorithm.as_str(), "argon2id");
    let params = argon2::Params::try_from(&hash).unwrap();
    assert!(params.m_cost() >= 19 * 1024, "m={}", params.m_cost());
    assert!(params.t_cost() >= 2 && params.p_cost() == 1);
    assert!(!row.password_hash.contains(PASSWORD));
}

async fn s2_password_length_rules_give_field_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let short = app
        .call(
            "/rpc/sign-up",
            &[("email", "a@example.com"), ("password", "elevenchars")],
            None,
        )
        .await;
    assert_eq!(short.status(), 422);
    let body: Value = short.json().await.unwrap();
    assert_eq!(body["Invalid"]["field"], "password");
    // 12 characters with no digits or symbols is fine; so are 64 and 128.
    for (i, pw) in ["aaaaaaaaaaaa".to_string(), "x".repeat(64), "y".repeat(128)]
        .iter()
        .enumerate()
    {
        let email = format!("ok{i}@example.com");
        let res = app
            .call("/rpc/sign-up", &[("email", &email), ("password", pw)], None)
            .await;
        assert!(session_cookie(&res).is_some(), "{} chars should be accepted", pw.len());
    }
}

async fn s4_session_cookie_flags_on_http(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .call(
            "/rpc/sign-up",
            &[("email", "c@example.com"), ("password", PASSWORD)],
            None,
        )
        .await;
    let cookie = set_cookie_header(&res).unwrap();
    assert!(cookie.starts_with("sd_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain-http local development cannot use Secure: {cookie}"
    );
}

async fn s4_session_cookie_is_secure_and_host_prefixed_on_https(backend: Backend) {
    let app = spawn_app_with(backend, &[("PUBLIC_URL", "https://signals.example.com")]).await;
    // The browser is on the public https origin (a proxy terminates TLS in front of us).
    let res = app
        .client
        .post(app.url("/rpc/sign-up"))
        .header("origin", "https://signals.example.com")
        .header("accept", "application/json")
        .form(&[("email", "s@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = set_cookie_header(&res).unwrap();
    assert!(cookie.starts_with("__Host-sd_session="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}

async fn s4_token_is_stored_hashed_and_new_at_each_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.sign_up("t@example.com", PASSWORD).await;
    assert!(first.len() >= 43, "≥ 256 bits of base64: {first}");
    let second = session_cookie(&app.sign_in("t@example.com", PASSWORD).await).unwrap();
    assert_ne!(first, second, "a new token at sign-in");
    let stored: Vec<String> = entity::session::Entity::find()
        .all(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.token_hash)
        .collect();
    assert_eq!(stored.len(), 2);
    assert!(
        !stored.contains(&first) && !stored.contains(&second),
        "raw tokens must never be stored"
    );
    assert!(stored.contains(&domain::sessions::hash_token(&first)));
}

async fn s4_sign_out_revokes_the_session_server_side(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.sign_up("o@example.com", PASSWORD).await;
    assert_eq!(app.whoami(&token).await.as_deref(), Some("o@example.com"));
    let res = app.call("/rpc/sign-out", &[], Some(&token)).await;
    assert!(set_cookie_header(&res).unwrap().contains("Max-Age=0"), "cookie cleared");
    // Replaying the old cookie after sign-out gets nothing.
    assert_eq!(app.whoami(&token).await, None);
}

async fn s4_password_change_revokes_every_other_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.sign_up("p@example.com", PASSWORD).await;
    let b = session_cookie(&app.sign_in("p@example.com", PASSWORD).await).unwrap();
    let new_pw = "a brand new passphrase";
    let res = app
        .call(
            "/rpc/password",
            &[("current_password", PASSWORD), ("new_password", new_pw)],
            Some(&a),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.whoami(&a).await.as_deref(),
        Some("p@example.com"),
        "the changing session stays"
    );
    assert_eq!(app.whoami(&b).await, None, "the other session is revoked");
    assert_eq!(app.sign_in("p@example.com", PASSWORD).await.status(), 401);
    assert!(session_cookie(&app.sign_in("p@example.com", new_pw).await).is_some());

    let wrong = app
        .call(
            "/rpc/password",
            &[("current_password", "not it at all!"), ("new_password", new_pw)],
            Some(&a),
        )
        .await;
    assert_eq!(wrong.status(), 422);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["Invalid"]["field"], "current_password");

    let weak = app
        .call(
            "/rpc/password",
            &[("current_password", new_pw), ("new_password", "short")],
            Some(&a),
        )
        .await;
    assert_eq!(weak.status(), 422);
    let body: Value = weak.json().await.unwrap();
    assert_eq!(body["Invalid"]["field"], "new_password");
    assert!(
        session_cookie(&app.sign_in("p@example.com", new_pw).await).is_some(),
        "password unchanged"
    );
}

async fn sessions_can_be_listed_and_revoked_one_by_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let mine = app.sign_up("l@example.com", PASSWORD).await;
    let other = session_cookie(&app.sign_in("l@example.com", PASSWORD).await).unwrap();
    let list: Value = app.call("/rpc/sessions", &[], Some(&mine)).await.json().await.unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let other_id = list.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .call("/rpc/sessions/revoke", &[("id", &other_id)], Some(&mine))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.whoami(&other).await, None);
    assert!(app.whoami(&mine).await.is_some());
    // Another account cannot revoke my sessions by id.
    let eve = app.sign_up("eve@example.com", PASSWORD).await;
    let mine_id = {
        let v: Value = app.call("/rpc/sessions", &[], Some(&mine)).await.json().await.unwrap();
        v[0]["id"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        app.call("/rpc/sessions/revoke", &[("id", &mine_id)], Some(&eve))
            .await
            .status(),
        404
    );
    assert!(app.whoami(&mine).await.is_some());
    // Revoke-all-others.
    let third = session_cookie(&app.sign_in("l@example.com", PASSWORD).await).unwrap();
    let n: Value = app
        .call("/rpc/sessions/revoke-others", &[], Some(&mine))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(app.whoami(&third).await, None);
}

async fn failed_sign_in_says_the_same_for_unknown_email_and_wrong_password(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up("known@example.com", PASSWORD).await;
    let wrong_pw = app.sign_in("known@example.com", "not the password!").await;
    let unknown = app.sign_in("nobody@example.com", "not the password!").await;
    assert_eq!(wrong_pw.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert_eq!(wrong_pw.text().await.unwrap(), unknown.text().await.unwrap());
}

/// A sign-in as a browser behind a proxy sends it: `X-Forwarded-For` names the client.
async fn sign_in_from(app: &TestApp, email: &str, password: &str, client: &str) -> reqwest::Response {
    app.client
        .post(app.url("/rpc/sign-in"))
        .header("accept", "application/json")
        .header("x-forwarded-for", client)
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn s3_failed_sign_ins_slow_an_account_down_but_never_lock_it_out(backend: Backend) {
    let app = spawn_app_with(backend, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.sign_up("victim@example.com", PASSWORD).await;
    // An attacker fails from many addresses (each under its own limit).
    for i in 0..=domain::throttle::ACCOUNT_FREE {
        let res = sign_in_from(
            &app,
            "victim@example.com",
            "wrong password!!",
            &format!("198.51.100.{i}"),
        )
        .await;
        assert_eq!(res.status(), 401);
    }
    // The owner still gets in with the right password: slowed, never refused.
    let started = std::time::Instant::now();
    let res = sign_in_from(&app, "Victim@Example.com", PASSWORD, "203.0.113.7").await;
    let took = started.elapsed();
    assert!(session_cookie(&res).is_some(), "signed in: {}", res.status());
    let expected = domain::throttle::account_delay(domain::throttle::ACCOUNT_FREE + 1);
    assert!(
        took >= expected,
        "the check waited {took:?}, expected at least {expected:?}"
    );
    // A success clears the account's failures: the next sign-in is not slowed.
    let started = std::time::Instant::now();
    assert!(session_cookie(&sign_in_from(&app, "victim@example.com", PASSWORD, "203.0.113.7").await).is_some());
    assert!(started.elapsed() < expected, "{:?}", started.elapsed());
}

async fn s3_sign_in_is_throttled_per_client_address(backend: Backend) {
    let app = spawn_app(backend).await;
    // Different accounts, same client: the address bucket fills.
    for i in 0..domain::throttle::ADDRESS_LIMIT {
        let email = format!("spray{i}@example.com");
        assert_eq!(app.sign_in(&email, "wrong password!!").await.status(), 401);
    }
    let blocked = app.sign_in("fresh@example.com", "wrong password!!").await;
    assert_eq!(blocked.status(), 429);
    let retry: u64 = blocked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&retry), "Retry-After {retry}");
    let body: Value = blocked.json().await.unwrap();
    assert!(body["TooManyAttempts"]["retry_after_secs"].as_u64().is_some(), "{body}");
}

/// Each guess is recorded before it is checked: N guesses sent at once cost N attempts, so no
/// more than the limit ever reach the password check.
async fn s3_parallel_guesses_cannot_race_past_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let guesses = (0..25).map(|i| {
        let app = &app;
        async move {
            app.sign_in(&format!("race{i}@example.com"), "wrong password!!")
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| s.as_u16() == 401).count();
    let refused = statuses.iter().filter(|s| s.as_u16() == 429).count();
    assert_eq!(checked + refused, 25, "{statuses:?}");
    assert!(
        checked <= domain::throttle::ADDRESS_LIMIT,
        "{checked} guesses were checked"
    );
}

async fn forwarded_for_counts_only_through_trusted_proxies(backend: Backend) {
    // Not behind a proxy: a made-up X-Forwarded-For changes nothing, the peer is the client.
    let app = spawn_app(backend).await;
    for i in 0..domain::throttle::ADDRESS_LIMIT {
        let res = sign_in_from(
            &app,
            &format!("a{i}@example.com"),
            "wrong password!!",
            &format!("198.51.100.{i}"),
        )
        .await;
        assert_eq!(res.status(), 401);
    }
    assert_eq!(
        sign_in_from(&app, "b@example.com", "wrong password!!", "192.0.2.200")
            .await
            .status(),
        429
    );

    // Behind a trusted proxy: each client has its own limit, and one client's failures do not
    // block everyone else behind the same proxy.
    let app = spawn_app_with(backend, &[("TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    for i in 0..domain::throttle::ADDRESS_LIMIT {
        let res = sign_in_from(&app, &format!("a{i}@example.com"), "wrong password!!", "198.51.100.1").await;
        assert_eq!(res.status(), 401);
    }
    assert_eq!(
        sign_in_from(&app, "b@example.com", "wrong password!!", "198.51.100.1")
            .await
            .status(),
        429
    );
    assert_eq!(
        sign_in_from(&app, "b@example.com", "wrong password!!", "198.51.100.2")
            .await
            .status(),
        401
    );
}

async fn sign_ups_per_address_are_limited(backend: Backend) {
    let app = spawn_app(backend).await;
    // A refused sign-up (weak password) makes no account and does not count.
    let weak = app
        .call(
            "/rpc/sign-up",
            &[("email", "weak@example.com"), ("password", "short")],
            None,
        )
        .await;
    assert_eq!(weak.status(), 422);
    for i in 0..app.ctx.config.sign_ups_per_address {
        app.sign_up(&format!("farm{i}@example.com"), PASSWORD).await;
    }
    let res = app
        .call(
            "/rpc/sign-up",
            &[("email", "one-more@example.com"), ("password", PASSWORD)],
            None,
        )
        .await;
    assert_eq!(res.status(), 429);
    assert!(
        domain::accounts::id_for_email(&app.ctx.db, "one-more@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

/// A wrong current password on the change form is a guess like a failed sign-in.
async fn s3_a_wrong_current_password_counts_as_a_failed_guess(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.sign_up("changer@example.com", PASSWORD).await;
    for _ in 0..domain::throttle::ADDRESS_LIMIT {
        let res = app
            .call(
                "/rpc/password",
                &[
                    ("current_password", "not my password"),
                    ("new_password", "an entirely new passphrase"),
                ],
                Some(&session),
            )
            .await;
        assert_eq!(res.status(), 422);
    }
    let res = app
        .call(
            "/rpc/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "an entirely new passphrase"),
            ],
            Some(&session),
        )
        .await;
    assert_eq!(res.status(), 429, "the address is over its limit");
}

async fn email_is_case_insensitive_and_trimmed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up("  Mixed.Case@Example.COM ", PASSWORD).await;
    assert!(session_cookie(&app.sign_in("mixed.case@example.com", PASSWORD).await).is_some());
    let dup = app
        .call(
            "/rpc/sign-up",
            &[("email", "MIXED.case@example.com"), ("password", PASSWORD)],
            None,
        )
        .await;
    assert_eq!(dup.status(), 422);
}

async fn duplicate_sign_up_is_refused_without_a_500(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up("dup@example.com", PASSWORD).await;
    let res = app
        .call(
            "/rpc/sign-up",
            &[("email", "dup@example.com"), ("password", PASSWORD)],
            None,
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(session_cookie(&res).is_none());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["Invalid"]["field"], "email");
}

async fn bad_input_gives_field_errors_never_500(backend: Backend) {
    let app = spawn_app(backend).await;
    let huge = "p".repeat(10 * 1024);
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        ("/rpc/sign-up", &[("email", ""), ("password", PASSWORD)], "email"),
        (
            "/rpc/sign-up",
            &[("email", "not-an-email"), ("password", PASSWORD)],
            "email",
        ),
        (
            "/rpc/sign-up",
            &[("email", "big@example.com"), ("password", &huge)],
            "password",
        ),
        (
            "/rpc/sign-up",
            &[("email", "ünï@exämple.com"), ("password", "short")],
            "password",
        ),
        ("/rpc/sign-in", &[("email", ""), ("password", "x")], "email"),
        (
            "/rpc/sign-in",
            &[("email", "a@example.com"), ("password", "")],
            "password",
        ),
    ];
    for (path, form, field) in cases {
        let res = app.call(path, form, None).await;
        assert_eq!(res.status(), 422, "{path} {form:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["Invalid"]["field"], *field, "{path} {form:?}: {body}");
    }
    // A 10 KB password at sign-in is just a wrong password, and unicode emails work.
    assert_eq!(app.sign_in("big@example.com", &huge).await.status(), 401);
    app.sign_up("ünï@exämple.com", "pässwörd-ünïcode-✓").await;
    // Missing fields entirely: a clear 400, not a 500.
    let res = app.call("/rpc/sign-in", &[], None).await;
    assert_eq!(res.status(), 400);
}
