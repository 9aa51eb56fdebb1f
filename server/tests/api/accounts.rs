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
    s3_an_attack_from_twenty_addresses_never_keeps_the_owner_out,
    s3_a_paused_account_answers_at_once_and_mails_its_owner_a_link,
    s3_one_address_is_spaced_out_at_one_account,
    s3_an_ipv6_client_is_limited_by_its_64_behind_a_trusted_proxy,
    s3_reset_links_are_throttled_and_checked_before_any_hashing,
    an_older_reset_link_dies_when_a_newer_one_is_used,
    a_password_change_ends_every_mailed_reset_link,
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

/// The owner's way in when the account is paused: the mailed one-time sign-in link.
async fn sign_in_by_mailed_link(app: &TestApp, email: &str, n: usize) -> Option<String> {
    let token = app.mailed_token(email, n, "/sign-in-link?token=").await;
    let res = app.call("/rpc/sign-in/link", &[("token", &token)], None).await;
    session_cookie(&res)
}

/// S3 per account, without a lock-out: an attacker rotating 20 addresses fails 200 times over
/// an hour (simulated: the throttle's own rule, driven with the hour's timestamps against the
/// app's database). At most the documented bound of those guesses reach a password check, and
/// the owner, from a fresh address at the end of the hour, is signed in within 2 s — by the
/// link the refusal mailed, since no password of the account is checked while it is paused.
async fn s3_an_attack_from_twenty_addresses_never_keeps_the_owner_out(backend: Backend) {
    use domain::throttle::{self, Gate};
    let app = spawn_app_with(backend, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.sign_up_verified("owner@example.com", PASSWORD).await;
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut checked = 0;
    let mut refused = 0;
    for i in 0..200i64 {
        let at = start + chrono::Duration::seconds(i * 18);
        let network = domain::client_address::network(format!("198.51.100.{}", i % 20).parse().unwrap());
        match throttle::begin_guess(&app.ctx.db, "owner@example.com", &network, at)
            .await
            .unwrap()
        {
            // A wrong password: its rows stay as the failure record.
            Gate::Go(_wrong) => checked += 1,
            Gate::Wait(_) | Gate::AccountPaused(_) => refused += 1,
        }
    }
    assert_eq!(checked + refused, 200);
    assert!(
        checked <= throttle::account_bound_per_hour(),
        "{checked} guesses reached a password check; the documented bound is {}",
        throttle::account_bound_per_hour()
    );
    assert!(
        checked >= throttle::ACCOUNT_LIMIT,
        "the attacker did get to guess: {checked}"
    );

    // The owner comes at the end of that hour: the right password works if a guess has just
    // aged out of the account's budget; otherwise nobody's password is checked, and the refusal
    // mails the owner a link.
    let started = std::time::Instant::now();
    let res = sign_in_from(&app, "owner@example.com", PASSWORD, "203.0.113.7").await;
    let session = match session_cookie(&res) {
        Some(session) => session,
        None => {
            assert_eq!(res.status(), 429, "paused, or signed in: nothing else");
            let body: Value = res.json().await.unwrap();
            assert!(body["SignInPaused"]["retry_after_secs"].as_u64().is_some(), "{body}");
            // Mail #1 was the address's verification.
            sign_in_by_mailed_link(&app, "owner@example.com", 2)
                .await
                .expect("the mailed link signs the owner in")
        }
    };
    let took = started.elapsed();
    assert_eq!(app.whoami(&session).await.as_deref(), Some("owner@example.com"));
    assert!(
        took < std::time::Duration::from_secs(2),
        "the owner got in after {took:?}"
    );
}

/// A refusal is answered at once (never a wait inside the request) with 429 and Retry-After;
/// the same words whether or not the account exists; the mailed link works once and dies with
/// the others.
async fn s3_a_paused_account_answers_at_once_and_mails_its_owner_a_link(backend: Backend) {
    let app = spawn_app_with(backend, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.sign_up_verified("victim@example.com", PASSWORD).await;
    // An attacker fails from many addresses, one guess each (every address under its limit).
    for i in 0..domain::throttle::ACCOUNT_LIMIT {
        let res = sign_in_from(
            &app,
            "victim@example.com",
            "wrong password!!",
            &format!("198.51.100.{i}"),
        )
        .await;
        assert_eq!(res.status(), 401);
    }
    for (email, password) in [
        ("victim@example.com", "wrong password!!"),
        ("victim@example.com", PASSWORD),
    ] {
        let started = std::time::Instant::now();
        let res = sign_in_from(&app, email, password, "203.0.113.7").await;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(res.status(), 429);
        let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=15 * 60).contains(&retry), "Retry-After {retry}");
    }
    // An address nobody has is paused the same way and says the same.
    for i in 0..domain::throttle::ACCOUNT_LIMIT {
        sign_in_from(
            &app,
            "nobody@example.com",
            "wrong password!!",
            &format!("198.51.101.{i}"),
        )
        .await;
    }
    let unknown = sign_in_from(&app, "nobody@example.com", "wrong password!!", "203.0.113.8").await;
    let known = sign_in_from(&app, "victim@example.com", "wrong password!!", "203.0.113.9").await;
    assert_eq!((unknown.status(), known.status()), (known.status(), unknown.status()));
    let (unknown, known): (Value, Value) = (unknown.json().await.unwrap(), known.json().await.unwrap());
    assert_eq!(
        unknown["SignInPaused"]
            .as_object()
            .map(|o| o.keys().collect::<Vec<_>>()),
        known["SignInPaused"].as_object().map(|o| o.keys().collect::<Vec<_>>())
    );
    assert!(app.mail.mails_to("nobody@example.com").is_empty());

    // The owner's link (mail #1 was the verification): it names the account, signs in once,
    // and takes the other links with it.
    let token = app.mailed_token("victim@example.com", 2, "/sign-in-link?token=").await;
    let owner: Value = app
        .call(
            "/rpc/email/link-owner",
            &[("token", &token), ("purpose", "signin")],
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(owner["email"], "victim@example.com");
    let second = app.mailed_token("victim@example.com", 3, "/sign-in-link?token=").await;
    let res = app.call("/rpc/sign-in/link", &[("token", &token)], None).await;
    let session = session_cookie(&res).expect("signed in by the link");
    assert_eq!(app.whoami(&session).await.as_deref(), Some("victim@example.com"));
    for used in [&token, &second] {
        let res = app.call("/rpc/sign-in/link", &[("token", used)], None).await;
        assert_eq!(res.status(), 422, "a used link, or one that died with it");
        assert!(session_cookie(&res).is_none());
    }
}

/// Per account and address: after a few failures one address must slow down at that account
/// (refused at once, with Retry-After), while its guesses at other accounts are not held up.
async fn s3_one_address_is_spaced_out_at_one_account(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up_verified("spaced@example.com", PASSWORD).await;
    for _ in 0..domain::throttle::PAIR_FREE {
        assert_eq!(
            app.sign_in("spaced@example.com", "wrong password!!").await.status(),
            401
        );
    }
    let started = std::time::Instant::now();
    let res = app.sign_in("spaced@example.com", PASSWORD).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(res.status(), 429, "too soon after the last failure from here");
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(app.sign_in("other@example.com", "wrong password!!").await.status(), 401);
    tokio::time::sleep(domain::throttle::pair_spacing(domain::throttle::PAIR_FREE)).await;
    assert!(
        session_cookie(&app.sign_in("spaced@example.com", PASSWORD).await).is_some(),
        "after the spacing the owner's right password is checked"
    );
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
    for _ in 0..domain::throttle::PAIR_FREE {
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
    assert_eq!(res.status(), 429, "counted like failed sign-ins: too soon after them");
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

/// Posts a form to `base` + `path` as a browser behind the trusted proxy would, for `client`.
async fn post_from(base: &str, path: &str, form: &[(&str, &str)], client: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("accept", "application/json")
        .header("origin", base)
        .header("x-forwarded-for", client)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// One counter from a server's `/metrics`.
async fn metric(base: &str, name: &str) -> u64 {
    let body = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(crate::helpers::METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// The median time of three right sign-ins to `base`, each from an address of its own.
async fn sign_in_time(base: &str, email: &str, clients: [&str; 3]) -> std::time::Duration {
    let mut took = Vec::new();
    for client in clients {
        let started = std::time::Instant::now();
        let res = post_from(
            base,
            "/rpc/sign-in",
            &[("email", email), ("password", PASSWORD)],
            client,
        )
        .await;
        took.push(started.elapsed());
        assert!(session_cookie(&res).is_some(), "{}", res.status());
    }
    took.sort();
    took[1]
}

/// S3 for reset links: each try counts against the client like a failed sign-in (429 past the
/// limit), and a made-up token is refused before anything is hashed — a server process of its
/// own shows its argon2 count unmoved by 50 of them — so they do not slow a real sign-in by
/// more than 2×.
async fn s3_reset_links_are_throttled_and_checked_before_any_hashing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up_verified("flood@example.com", PASSWORD).await;
    let mut settings = app.database_settings();
    settings.insert("TRUSTED_PROXIES".into(), "127.0.0.1".into());
    settings.insert("METRICS_TOKEN".into(), crate::helpers::METRICS_TOKEN.into());
    settings.insert("RUN_MIGRATIONS".into(), "false".into());
    let port = crate::helpers::free_port();
    let _server = crate::helpers::serve(&settings, port);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !reqwest::get(format!("{base}/readyz"))
        .await
        .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the server process never became ready"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let quiet = sign_in_time(
        &base,
        "flood@example.com",
        ["203.0.113.1", "203.0.113.2", "203.0.113.3"],
    )
    .await;

    let random_token = || format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let reset_from = |client: String| {
        let (base, token) = (base.clone(), random_token());
        async move {
            post_from(
                &base,
                "/rpc/password/reset",
                &[("token", &token), ("new_password", "a brand new passphrase")],
                &client,
            )
            .await
            .status()
            .as_u16()
        }
    };
    // 50 made-up tokens at once, each from a network of its own (so every one reaches the
    // token check): all refused as invalid, none hashed.
    let hashes = metric(&base, "signaldesk_password_hashes_total").await;
    let flood = futures_util::future::join_all((0..50).map(|i| reset_from(format!("198.51.100.{}", i + 1))));
    let busy = sign_in_time(
        &base,
        "flood@example.com",
        ["203.0.113.4", "203.0.113.5", "203.0.113.6"],
    );
    let (statuses, busy) = tokio::join!(flood, busy);
    assert!(statuses.iter().all(|s| *s == 422), "{statuses:?}");
    assert_eq!(
        metric(&base, "signaldesk_password_hashes_total").await - hashes,
        3,
        "only the three sign-ins ran argon2"
    );
    assert!(
        busy <= quiet * 2,
        "a sign-in took {busy:?} during the flood, {quiet:?} before"
    );

    // From one network, wrong links count like failed sign-ins: the limit, then 429.
    for _ in 0..domain::throttle::ADDRESS_LIMIT {
        assert_eq!(reset_from("198.51.100.200".into()).await, 422);
    }
    assert_eq!(reset_from("198.51.100.200".into()).await, 429);
}

/// A reset link dies when a newer one is used: resetting consumes every outstanding link.
async fn an_older_reset_link_dies_when_a_newer_one_is_used(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up_verified("twice@example.com", PASSWORD).await;
    for _ in 0..2 {
        let res = app
            .call("/rpc/password/forgot", &[("email", "twice@example.com")], None)
            .await;
        assert_eq!(res.status(), 200);
    }
    let older = app.mailed_token("twice@example.com", 2, "/reset-password?token=").await;
    let newer = app.mailed_token("twice@example.com", 3, "/reset-password?token=").await;
    assert_ne!(older, newer);
    let res = app
        .call(
            "/rpc/password/reset",
            &[("token", &newer), ("new_password", "the newest passphrase")],
            None,
        )
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let res = app
        .call(
            "/rpc/password/reset",
            &[("token", &older), ("new_password", "an older passphrase")],
            None,
        )
        .await;
    assert_eq!(res.status(), 422, "the older link died with the reset");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["Invalid"]["field"], "token");
    assert!(session_cookie(&app.sign_in("twice@example.com", "the newest passphrase").await).is_some());
}

/// A password change (which knows the current password) ends every reset link mailed before it.
async fn a_password_change_ends_every_mailed_reset_link(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.sign_up_verified("changer2@example.com", PASSWORD).await;
    app.call("/rpc/password/forgot", &[("email", "changer2@example.com")], None)
        .await;
    let link = app
        .mailed_token("changer2@example.com", 2, "/reset-password?token=")
        .await;
    let res = app
        .call(
            "/rpc/password",
            &[("current_password", PASSWORD), ("new_password", "changed on purpose")],
            Some(&session),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .call(
            "/rpc/password/reset",
            &[("token", &link), ("new_password", "sneaking back in")],
            None,
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(session_cookie(&app.sign_in("changer2@example.com", "changed on purpose").await).is_some());
}

/// Per-client limits count an IPv6 client by its /64 (a new address per request changes
/// nothing), read through a trusted proxy's `X-Forwarded-For`, for sign-ins, reset requests
/// and sign-ups alike; another /64 is another client.
async fn s3_an_ipv6_client_is_limited_by_its_64_behind_a_trusted_proxy(backend: Backend) {
    let app = spawn_app_with(backend, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let base = app.address.clone();
    for i in 0..domain::throttle::ADDRESS_LIMIT {
        let res = post_from(
            &base,
            "/rpc/sign-in",
            &[
                ("email", &format!("v6-{i}@example.com")),
                ("password", "wrong password!!"),
            ],
            &format!("2001:db8:7:7::{:x}", i + 1),
        )
        .await;
        assert_eq!(res.status(), 401);
    }
    let same_64 = "2001:db8:7:7:ffff:ffff:ffff:1";
    let res = post_from(
        &base,
        "/rpc/sign-in",
        &[("email", "v6-x@example.com"), ("password", "wrong password!!")],
        same_64,
    )
    .await;
    assert_eq!(res.status(), 429, "a new address in the same /64 is the same client");
    let res = post_from(&base, "/rpc/password/forgot", &[("email", "v6-x@example.com")], same_64).await;
    assert_eq!(res.status(), 429, "reset requests count against the same client");
    let res = post_from(
        &base,
        "/rpc/sign-in",
        &[("email", "v6-x@example.com"), ("password", "wrong password!!")],
        "2001:db8:7:8::1",
    )
    .await;
    assert_eq!(res.status(), 401, "the next /64 is another client");

    // Sign-ups: each address of one /64 counts toward the same allowance.
    let allowance = app.ctx.config.sign_ups_per_address;
    for i in 0..allowance {
        let res = post_from(
            &base,
            "/rpc/sign-up",
            &[("email", &format!("farm6-{i}@example.com")), ("password", PASSWORD)],
            &format!("2001:db8:9:9::{:x}", i + 1),
        )
        .await;
        assert!(session_cookie(&res).is_some(), "{}", res.status());
    }
    let res = post_from(
        &base,
        "/rpc/sign-up",
        &[("email", "farm6-more@example.com"), ("password", PASSWORD)],
        "2001:db8:9:9:abcd::1",
    )
    .await;
    assert_eq!(res.status(), 429);
}
