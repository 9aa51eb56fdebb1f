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
    the_verification_page_names_the_account_and_changes_nothing_until_asked,
    this_wasnt_me_deletes_an_unverified_account_and_everything_it_held,
    a_proof_by_reset_ends_the_sessions_and_discord_link_made_before_it,
    a_proof_by_verification_ends_the_sessions_and_discord_link_made_before_it,
    an_admin_grant_to_an_unverified_account_waits_until_it_is_verified,
);

const BUYER: &str = "buyer@example.com";
const NEW_PASSWORD: &str = "a brand new passphrase";

async fn error_field(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    (status, v.to_string())
}

/// The buyer asks for a reset and uses the link (the `n`-th mail to them) to set NEW_PASSWORD.
async fn reset_from_mail(app: &TestApp, n: usize) {
    let res = app.call("/rpc/password/forgot", &[("email", BUYER)], None).await;
    assert_eq!(res.status(), 200);
    let token = app.mailed_token(BUYER, n, "/reset-password?token=").await;
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
    let page = app.page("/account", Some(&attacker)).await;
    assert!(
        page.contains("Verify your e-mail to receive your purchase"),
        "the account page says why"
    );

    // The real owner takes the account back through the mailbox: the reset link proves the
    // address, signs the attacker out and delivers the days.
    reset_from_mail(&app, 2).await;
    assert_eq!(app.whoami(&attacker).await, None, "the attacker is signed out");
    assert_eq!(access(&app, BUYER).await, Some(("pro".into(), 60)));
}

async fn the_buyer_who_verifies_gets_the_days(backend: Backend) {
    let app = payments_app(backend).await;
    policy(&app, "", "basic", 30).await;
    deliver(&app, &order("order.completed", 3, BUYER, "COMPLETED", None)).await;
    settle(&app).await;
    let before = app.sign_up(BUYER, PASSWORD).await;
    assert_eq!(access(&app, BUYER).await, None);
    let res = app.verify_from_mail(BUYER, 1).await;
    let session = session_cookie(&res).expect("confirming signs this browser in");
    assert_eq!(
        app.whoami(&before).await,
        None,
        "the session made before the proof ended"
    );
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

/// The squatter's side of each proof test: someone registers the owner's address first and
/// (as was possible before linking needed a proven address) links their own Discord account.
/// Returns the squatter's session.
async fn squatter_with_a_discord_link(app: &TestApp) -> String {
    let squatter = app.sign_up(BUYER, "the squatters password").await;
    let uid = domain::accounts::id_for_email(&app.ctx.db, BUYER)
        .await
        .unwrap()
        .unwrap();
    let guild = domain::role_sync::RoleGuild::from_config(&app.ctx.config);
    domain::discord_link::link(&app.ctx.db, guild.as_ref(), uid, SQUATTER_DISCORD, "squatter")
        .await
        .unwrap();
    squatter
}

const SQUATTER_DISCORD: i64 = 1_400_000_000_000_000_666;

async fn roles_payments_app(backend: Backend) -> TestApp {
    crate::helpers::spawn_app_with(
        backend,
        &[
            ("SELLAPP_WEBHOOK_SECRETS", crate::payments::SECRET),
            ("CUSTOMER_GUILD_ID", "1300000000000000000"),
            ("TIER_ROLES", "basic=1300000000000000001,pro=1300000000000000003"),
        ],
    )
    .await
}

/// After a proof: the squatter's session is over, their Discord link is gone with a role
/// removal queued for their Discord account, the timeline says why, and the owner's purchase
/// queues no role for the squatter's Discord account.
async fn assert_the_squatter_is_out(app: &TestApp, squatter: &str) {
    assert_eq!(app.whoami(squatter).await, None, "the squatter's session ended");
    let uid = domain::accounts::id_for_email(&app.ctx.db, BUYER)
        .await
        .unwrap()
        .unwrap();
    assert!(
        domain::discord_link::for_user(&app.ctx.db, uid)
            .await
            .unwrap()
            .is_none(),
        "the Discord link made before the proof is gone"
    );
    let jobs: Vec<serde_json::Value> = role_sync_payloads(app).await;
    assert!(
        jobs.iter().any(|j| j["discord_user_id"] == SQUATTER_DISCORD),
        "a job takes the managed roles off the squatter's Discord account: {jobs:?}"
    );
    let history = domain::entitlements::history(&app.ctx.db, BUYER).await.unwrap();
    let proven = history.iter().find(|c| c.kind == "proven").expect("a timeline line");
    assert_eq!(proven.cause, "proof");
    assert!(
        proven.detail.contains("Discord account squatter unlinked"),
        "{}",
        proven.detail
    );

    // The owner pays for Pro: nothing is queued for the squatter's Discord account any more.
    entity::job::Entity::delete_many().exec(&app.ctx.db).await.unwrap();
    deliver(app, &order("order.completed", 90, BUYER, "COMPLETED", None)).await;
    settle(app).await;
    assert_eq!(access(app, BUYER).await, Some(("pro".into(), 30)));
    assert!(
        role_sync_payloads(app)
            .await
            .iter()
            .all(|j| j["discord_user_id"] != SQUATTER_DISCORD),
        "no role reaches the squatter"
    );
}

async fn role_sync_payloads(app: &TestApp) -> Vec<serde_json::Value> {
    entity::job::Entity::find()
        .filter(entity::job::Column::Kind.eq(entity::job::JobKind::RoleSync))
        .all(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .map(|j| serde_json::from_str(&j.payload).unwrap())
        .collect()
}

async fn the_verification_page_names_the_account_and_changes_nothing_until_asked(backend: Backend) {
    let app = payments_app(backend).await;
    app.sign_up(BUYER, PASSWORD).await;
    let token = app.mailed_token(BUYER, 1, "/verify-email?token=").await;
    let page = app.page(&format!("/verify-email?token={token}"), None).await;
    assert!(page.contains(BUYER), "the page names the account it confirms");
    assert!(
        page.contains("Confirm, this is me") && page.contains("This wasn"),
        "it asks"
    );
    let viewer: Value = app
        .call(
            "/rpc/email/link-owner",
            &[("token", &token), ("purpose", "verify")],
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(viewer["email"], BUYER);
    // Opening the page used nothing up: the link still confirms.
    let res = app.call("/rpc/email/verify", &[("token", &token)], None).await;
    assert!(session_cookie(&res).is_some(), "confirming signs this browser in");
    let (status, body) = error_field(
        app.call(
            "/rpc/email/link-owner",
            &[("token", "forged"), ("purpose", "verify")],
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("not valid"), "{body}");
}

async fn this_wasnt_me_deletes_an_unverified_account_and_everything_it_held(backend: Backend) {
    let app = roles_payments_app(backend).await;
    policy(&app, "", "pro", 30).await;
    let squatter = squatter_with_a_discord_link(&app).await;
    let token = app.mailed_token(BUYER, 1, "/verify-email?token=").await;
    let res = app.call("/rpc/email/not-me", &[("token", &token)], None).await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    assert_eq!(app.whoami(&squatter).await, None, "its sessions ended");
    assert_eq!(domain::accounts::id_for_email(&app.ctx.db, BUYER).await.unwrap(), None);
    assert!(
        role_sync_payloads(&app)
            .await
            .iter()
            .any(|j| j["discord_user_id"] == SQUATTER_DISCORD),
        "the squatter's Discord account loses every managed role"
    );
    let history = domain::entitlements::history(&app.ctx.db, BUYER).await.unwrap();
    assert!(history.iter().any(|c| c.kind == "deleted"), "{history:?}");
    // The link is used: it can neither delete nor confirm again.
    assert_eq!(
        app.call("/rpc/email/not-me", &[("token", &token)], None).await.status(),
        422
    );

    // The owner signs up afresh, buys, verifies: the days are theirs.
    deliver(&app, &order("order.completed", 91, BUYER, "COMPLETED", None)).await;
    settle(&app).await;
    app.sign_up(BUYER, PASSWORD).await;
    app.verify_from_mail(BUYER, 2).await;
    assert_eq!(access(&app, BUYER).await, Some(("pro".into(), 30)));

    // A verified account is never deleted from a verification link.
    let other = "kept@example.com";
    app.sign_up(other, PASSWORD).await;
    let token = app.mailed_token(other, 1, "/verify-email?token=").await;
    app.call("/rpc/email/verify", &[("token", &token)], None).await;
    // Verified: no verification mail goes out any more, so a link is made the way the mail's is.
    let uid = domain::accounts::id_for_email(&app.ctx.db, other)
        .await
        .unwrap()
        .unwrap();
    let token2 = domain::mailed_links::issue(
        &app.ctx.db,
        uid,
        entity::email_token::Purpose::Verify,
        other,
        chrono::Duration::hours(1),
    )
    .await
    .unwrap()
    .unwrap();
    let (status, body) = error_field(app.call("/rpc/email/not-me", &[("token", token2.expose())], None).await).await;
    assert_eq!(status, 422);
    assert!(body.contains("already confirmed"), "{body}");
    assert!(
        domain::accounts::id_for_email(&app.ctx.db, other)
            .await
            .unwrap()
            .is_some()
    );
}

async fn a_proof_by_reset_ends_the_sessions_and_discord_link_made_before_it(backend: Backend) {
    let app = roles_payments_app(backend).await;
    policy(&app, "", "pro", 30).await;
    let squatter = squatter_with_a_discord_link(&app).await;
    // The owner does what the README says: resets the password from the mailbox...
    reset_from_mail(&app, 2).await;
    // ...then buys Pro.
    assert_the_squatter_is_out(&app, &squatter).await;
}

async fn a_proof_by_verification_ends_the_sessions_and_discord_link_made_before_it(backend: Backend) {
    let app = roles_payments_app(backend).await;
    policy(&app, "", "pro", 30).await;
    let squatter = squatter_with_a_discord_link(&app).await;
    let res = app.verify_from_mail(BUYER, 1).await;
    let owner = session_cookie(&res).expect("the confirming browser is signed in");
    assert_eq!(app.whoami(&owner).await.as_deref(), Some(BUYER));
    assert_the_squatter_is_out(&app, &squatter).await;
}

async fn an_admin_grant_to_an_unverified_account_waits_until_it_is_verified(backend: Backend) {
    let app = payments_app(backend).await;
    let admin = app.sign_up_verified("ops@example.com", PASSWORD).await;
    app.make_admin("ops@example.com").await;
    app.sign_up(BUYER, PASSWORD).await;
    let tier = crate::payments::tier_id(&app, "pro").await.to_string();
    let res = app
        .call(
            "/rpc/admin/customers/grant",
            &[
                ("email", BUYER),
                ("tier", &tier),
                ("days", "10"),
                ("reason", "goodwill"),
                ("request", "form-wait-1"),
            ],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 200);
    // The command line waits the same way.
    let out = crate::helpers::server_cli(
        &[
            "access",
            "grant",
            "--email",
            BUYER,
            "--tier",
            "pro",
            "--days",
            "5",
            "--reason",
            "cli goodwill",
        ],
        &app.database_settings(),
    );
    assert!(out.status.success(), "{}", crate::helpers::printed(&out));
    assert!(
        crate::helpers::printed(&out).contains("waiting"),
        "{}",
        crate::helpers::printed(&out)
    );
    assert_eq!(access(&app, BUYER).await, None, "nothing reaches an unproven address");
    let view: Value = app
        .call("/rpc/admin/customers/one", &[("email", BUYER)], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (view["has_account"].clone(), view["verified"].clone()),
        (Value::Bool(true), Value::Bool(false))
    );
    assert!(
        view["grants"].as_array().unwrap().iter().all(|g| g["waiting"] == true),
        "{view}"
    );

    app.verify_from_mail(BUYER, 1).await;
    assert_eq!(
        access(&app, BUYER).await,
        Some(("pro".into(), 15)),
        "claimed on verification"
    );
}
