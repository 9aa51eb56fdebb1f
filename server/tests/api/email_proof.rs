//! Paid time goes to the person who paid (issue 11, item 3): an address must be proved by its
//! verification link before payments made with it reach the account; password reset goes
//! through the same mail path. Mail is caught by a local SMTP sink the app really talks to.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, TestApp, session_cookie};
use crate::on_both_databases;
use crate::payments::{access, deliver, order, payments_app, policy, settle};

on_both_databases!(
    an_attacker_registering_the_buyers_email_gets_nothing,
    the_buyer_who_verifies_gets_the_days,
    a_verification_link_works_once_and_expires,
    password_reset_is_single_use_expiring_and_signs_out_everywhere,
    mail_cannot_be_asked_for_without_limit,
);

const BUYER: &str = "buyer@example.com";
const NEW_PASSWORD: &str = "a brand new passphrase";

async fn error_field(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    (status, v.to_string())
}

/// Makes every unused token of `email` expire now.
async fn expire_tokens(app: &TestApp, email: &str) {
    entity::email_token::Entity::update_many()
        .col_expr(
            entity::email_token::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .filter(entity::email_token::Column::Email.eq(email))
        .exec(&app.ctx.db)
        .await
        .unwrap();
}

async fn an_attacker_registering_the_buyers_email_gets_nothing(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "pro", 30).await;
    // The buyer paid before having an account.
    deliver(&app, &order("order.completed", 1, BUYER, "COMPLETED", None)).await;
    settle(&app).await;
    // Someone else registers the buyer's address first; the verification mail goes to the
    // buyer's inbox, which the attacker cannot read.
    let attacker = app.sign_up(BUYER, "attackers own password").await;
    assert_eq!(access(&app, BUYER).await, None, "nothing claimed at sign-up");
    let res = app.sign_in(BUYER, "attackers own password").await;
    assert!(res.status().is_success() || res.status().is_redirection());
    deliver(&app, &order("order.completed", 2, BUYER, "COMPLETED", None)).await;
    settle(&app).await;
    assert_eq!(access(&app, BUYER).await, None, "a later order is not linked either");
    let viewer: Value = app
        .call("/rpc/viewer", &[], Some(&attacker))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(viewer["email_verified"], false);
    let page = app
        .client
        .get(app.url("/account"))
        .header("cookie", format!("sd_session={attacker}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Verify your e-mail to receive your purchase"),
        "the account page says why"
    );

    // The real owner takes the account back through the mailbox: the reset link proves the
    // address, signs the attacker out and delivers the days.
    let res = app.call("/rpc/password/forgot", &[("email", BUYER)], None).await;
    assert_eq!(res.status(), 200);
    let token = app.mailed_token(BUYER, 2, "/reset-password?token=").await;
    let res = app
        .call(
            "/rpc/password/reset",
            &[("token", &token), ("new_password", NEW_PASSWORD)],
            None,
        )
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    assert_eq!(app.whoami(&attacker).await, None, "the attacker is signed out");
    assert_eq!(access(&app, BUYER).await, Some(("pro".into(), 60)));
}

async fn the_buyer_who_verifies_gets_the_days(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "basic", 30).await;
    deliver(&app, &order("order.completed", 3, BUYER, "COMPLETED", None)).await;
    settle(&app).await;
    let session = app.sign_up(BUYER, PASSWORD).await;
    assert_eq!(access(&app, BUYER).await, None);
    app.verify_from_mail(BUYER, 1).await;
    assert_eq!(access(&app, BUYER).await, Some(("basic".into(), 30)));
    let viewer: Value = app.call("/rpc/viewer", &[], Some(&session)).await.json().await.unwrap();
    assert_eq!(viewer["email_verified"], true);
    // Verified: the next payment goes straight to the account.
    deliver(&app, &order("order.completed", 4, BUYER, "COMPLETED", None)).await;
    settle(&app).await;
    assert_eq!(access(&app, BUYER).await, Some(("basic".into(), 60)));
}

async fn a_verification_link_works_once_and_expires(backend: Backend) {
    let app = payments_app(backend).await;
    app.sign_up(BUYER, PASSWORD).await;
    let token = app.mailed_token(BUYER, 1, "/verify-email?token=").await;
    let first = app.call("/rpc/email/verify", &[("token", &token)], None).await;
    assert!(first.status().is_success() || first.status().is_redirection());
    let (status, body) = error_field(app.call("/rpc/email/verify", &[("token", &token)], None).await).await;
    assert_eq!(status, 422);
    assert!(body.contains("already used"), "{body}");
    let (status, body) = error_field(app.call("/rpc/email/verify", &[("token", "forged")], None).await).await;
    assert_eq!(status, 422);
    assert!(body.contains("not valid"), "{body}");

    let other = "late@example.com";
    let session = app.sign_up(other, PASSWORD).await;
    let token = app.mailed_token(other, 1, "/verify-email?token=").await;
    expire_tokens(&app, other).await;
    let (status, body) = error_field(app.call("/rpc/email/verify", &[("token", &token)], None).await).await;
    assert_eq!(status, 422);
    assert!(body.contains("expired"), "{body}");
    // A new link works.
    let res = app.call("/rpc/email/resend", &[], Some(&session)).await;
    assert_eq!(res.json::<Value>().await.unwrap(), Value::Bool(true));
    app.verify_from_mail(other, 2).await;
}

async fn password_reset_is_single_use_expiring_and_signs_out_everywhere(backend: Backend) {
    let app = payments_app(backend).await;
    let laptop = app.sign_up_verified(BUYER, PASSWORD).await;
    let phone = session_cookie(&app.sign_in(BUYER, PASSWORD).await).unwrap();

    // An unknown address gets the same answer and no mail.
    let res = app
        .call("/rpc/password/forgot", &[("email", "nobody@example.com")], None)
        .await;
    assert_eq!(res.status(), 200);
    let res = app.call("/rpc/password/forgot", &[("email", BUYER)], None).await;
    assert_eq!(res.status(), 200);
    let token = app.mailed_token(BUYER, 2, "/reset-password?token=").await;
    assert!(app.mail.mails_to("nobody@example.com").is_empty());

    let (status, body) = error_field(
        app.call(
            "/rpc/password/reset",
            &[("token", &token), ("new_password", "short")],
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body.contains("new_password"),
        "a weak password names the field and keeps the link: {body}"
    );
    let res = app
        .call(
            "/rpc/password/reset",
            &[("token", &token), ("new_password", NEW_PASSWORD)],
            None,
        )
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    assert_eq!(app.whoami(&laptop).await, None, "every session ends");
    assert_eq!(app.whoami(&phone).await, None, "every session ends");
    assert_eq!(
        app.sign_in(BUYER, PASSWORD).await.status(),
        401,
        "the old password is gone"
    );
    assert!(session_cookie(&app.sign_in(BUYER, NEW_PASSWORD).await).is_some());

    let (status, body) = error_field(
        app.call(
            "/rpc/password/reset",
            &[("token", &token), ("new_password", "yet another passphrase")],
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("already used"), "{body}");

    app.call("/rpc/password/forgot", &[("email", BUYER)], None).await;
    let token = app.mailed_token(BUYER, 3, "/reset-password?token=").await;
    expire_tokens(&app, BUYER).await;
    let (status, body) = error_field(
        app.call(
            "/rpc/password/reset",
            &[("token", &token), ("new_password", "yet another passphrase")],
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("expired"), "{body}");
    assert!(
        session_cookie(&app.sign_in(BUYER, NEW_PASSWORD).await).is_some(),
        "an expired link changed nothing"
    );
}

async fn mail_cannot_be_asked_for_without_limit(backend: Backend) {
    let app = payments_app(backend).await;
    let session = app.sign_up(BUYER, PASSWORD).await;
    app.mail
        .wait_for(BUYER, 1, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let mut sent = 0;
    for _ in 0..5 {
        let res = app.call("/rpc/email/resend", &[], Some(&session)).await;
        if res.json::<Value>().await.unwrap() == Value::Bool(true) {
            sent += 1;
        }
    }
    assert_eq!(
        sent, 2,
        "three verification mails per 15 minutes, the sign-up's included"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.mail.mails_to(BUYER).len(), 3);
}
