//! Reminders before access ends: claimed once however many processes race (and across
//! restarts), mailed through the real SMTP path with a renewal link and a one-click
//! unsubscribe, never sent for an end that moved, and switched per channel on `/account`.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use domain::reminders::{self, Channel, Prepared, claim};
use entity::job::{self, JobKind, JobStatus};
use entity::reminder;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

use crate::helpers::{Backend, PASSWORD, TestApp, free_port, serve, spawn_app, spawn_app_with};
use crate::on_both_databases;

const STOREFRONT: &str = "https://shop.example.com/signals";
const DAYS: [u32; 2] = [7, 1];
/// For tests that run the scan themselves (`queue_due` with `DAYS`, at the moment they choose):
/// the app's own scan, at its start and every minute, would otherwise race them for the
/// reminders. Its mail worker still runs.
const OWN_SCAN_OFF: (&str, &str) = ("REMINDER_DAYS", "off");

on_both_databases!(
    a_reminder_is_claimed_once_however_many_race_for_it,
    a_customer_is_mailed_once_with_a_renewal_link_and_one_click_unsubscribe,
    the_unsubscribe_link_turns_e_mail_off_and_later_reminders_are_not_sent,
    a_failed_delivery_is_retried_and_still_sent_once,
    a_reminder_for_an_end_that_moved_is_not_sent,
    the_account_switches_are_the_customers_own,
    reminders_go_out_once_with_two_server_processes_and_across_restarts,
);

/// A customer whose access ends `ends_in` from now; returns (user id, session, end).
async fn customer_ending_in(app: &TestApp, email: &str, ends_in: Duration) -> (i64, String, DateTime<Utc>) {
    let session = crate::feed::customer_with_access(app, email, ends_in).await;
    // The sign-up's verification mail is mail 1 to this address; reminders come after it.
    app.mail
        .wait_for(email, 1, StdDuration::from_secs(10))
        .await
        .expect("the verification mail");
    let user = domain::accounts::id_for_email(&app.ctx.db, email)
        .await
        .unwrap()
        .unwrap();
    (user, session, access_end(&app.ctx.db, user).await)
}

async fn access_end(db: &DatabaseConnection, user: i64) -> DateTime<Utc> {
    entity::user_account::Entity::find_by_id(user)
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .access_ends_at
        .expect("the grant set an end of access")
}

async fn reminder_rows(db: &DatabaseConnection, user: i64) -> Vec<reminder::Model> {
    reminder::Entity::find()
        .filter(reminder::Column::UserId.eq(user))
        .all(db)
        .await
        .unwrap()
}

/// Waits until no reminder job of `kind` is waiting or running.
async fn reminder_jobs_settle(db: &DatabaseConnection, kind: JobKind) -> Vec<job::Model> {
    let deadline = std::time::Instant::now() + StdDuration::from_secs(20);
    loop {
        let jobs = job::Entity::find()
            .filter(job::Column::Kind.eq(kind))
            .all(db)
            .await
            .unwrap();
        if jobs
            .iter()
            .all(|j| matches!(j.status, JobStatus::Done | JobStatus::Dead))
        {
            return jobs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reminder jobs never finished: {jobs:#?}"
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

async fn a_reminder_is_claimed_once_however_many_race_for_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up("late@example.com", PASSWORD).await;
    let user = domain::accounts::id_for_email(&app.ctx.db, "late@example.com")
        .await
        .unwrap()
        .unwrap();
    let end = chrono::DateTime::from_timestamp((Utc::now() + Duration::days(3)).timestamp(), 0).unwrap();
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let db = app.ctx.db.clone();
            tokio::spawn(async move { claim(&db, user, end, 7, Channel::Email).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for r in racers {
        won += usize::from(r.await.unwrap().is_some());
    }
    assert_eq!(won, 1, "exactly one sender");
    // Another channel, another offset or a new end (a renewal) is another reminder.
    assert!(
        claim(&app.ctx.db, user, end, 7, Channel::Discord)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        claim(&app.ctx.db, user, end, 1, Channel::Email)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        claim(&app.ctx.db, user, end + Duration::days(30), 7, Channel::Email)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        claim(&app.ctx.db, user, end, 7, Channel::Email)
            .await
            .unwrap()
            .is_none(),
        "and never again"
    );
}

async fn a_customer_is_mailed_once_with_a_renewal_link_and_one_click_unsubscribe(backend: Backend) {
    let app = spawn_app_with(backend, &[("STOREFRONT_URL", STOREFRONT), OWN_SCAN_OFF]).await;
    let (user, _, end) = customer_ending_in(&app, "renew@example.com", Duration::days(3)).await;
    // Someone whose access ends in 10 days is not due yet, nor is an account without access.
    customer_ending_in(&app, "later@example.com", Duration::days(10)).await;
    app.sign_up_verified("never@example.com", PASSWORD).await;

    let queued = reminders::queue_due(&app.ctx.db, &DAYS, Utc::now()).await.unwrap();
    assert_eq!(
        queued, 1,
        "only the customer inside the 7-day window (not linked: no DM)"
    );
    let mail = app
        .mail
        .wait_for("renew@example.com", 2, StdDuration::from_secs(15))
        .await
        .expect("the reminder (after the verification mail)");
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Your SignalDesk access ends in 3 days")
    );
    let text = mail.text();
    assert!(text.contains(STOREFRONT), "renewal link: {text}");
    assert!(text.contains(&end.format("%-d %B %Y").to_string()), "the date: {text}");
    let page = mail
        .link("/unsubscribe?token=")
        .expect("an unsubscribe link in the text");
    let token = page.split_once("token=").unwrap().1.to_owned();
    let header = mail.header("List-Unsubscribe").expect("RFC 8058 header");
    assert!(
        header.starts_with('<') && header.contains(&format!("/unsubscribe/one-click?token={token}")),
        "{header}"
    );
    assert_eq!(
        mail.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    // Only the token's hash is stored.
    let rows = reminder_rows(&app.ctx.db, user).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].days_before, rows[0].channel.as_str()), (7, "email"));
    let stored = rows[0].unsubscribe_hash.clone().unwrap();
    assert_ne!(stored, token);
    assert_eq!(stored, domain::sessions::hash_token(&token));

    // The operator sees it on the customer's timeline.
    app.sign_up("ops@example.com", PASSWORD).await;
    app.make_admin("ops@example.com").await;
    let admin = crate::helpers::session_cookie(&app.sign_in("ops@example.com", PASSWORD).await).unwrap();
    let view: serde_json::Value = app
        .call(
            "/rpc/admin/customers/one",
            &[("email", "renew@example.com")],
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    let line = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "reminder")
        .unwrap_or_else(|| panic!("no reminder on the timeline: {view}"));
    assert_eq!(line["cause"], "e-mail");
    assert!(
        line["detail"]
            .as_str()
            .unwrap()
            .starts_with("7 days before the access end of "),
        "{line}"
    );

    // Scanning again (this process, a minute later, another process) sends nothing more.
    for _ in 0..3 {
        assert_eq!(reminders::queue_due(&app.ctx.db, &DAYS, Utc::now()).await.unwrap(), 0);
    }
    reminder_jobs_settle(&app.ctx.db, JobKind::ReminderMail).await;
    assert_eq!(
        app.mail.mails_to("renew@example.com").len(),
        2,
        "verification + one reminder"
    );

    // The mail client's own button: a POST with no cookie and no Origin.
    let one_click = reqwest::Client::new()
        .post(app.url(&format!("/unsubscribe/one-click?token={token}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(one_click.status(), 200);
    assert_eq!(
        one_click.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"unsubscribed": "email"})
    );
    assert_eq!(
        reminders::preferences(&app.ctx.db, user).await.unwrap(),
        (false, true),
        "e-mail off, Discord untouched"
    );
    let forged = reqwest::Client::new()
        .post(app.url("/unsubscribe/one-click?token=not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);
    let body: serde_json::Value = forged.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_link");
}

async fn the_unsubscribe_link_turns_e_mail_off_and_later_reminders_are_not_sent(backend: Backend) {
    let app = spawn_app_with(backend, &[OWN_SCAN_OFF]).await;
    let (user, _, end) = customer_ending_in(&app, "stop@example.com", Duration::days(5)).await;
    assert_eq!(reminders::queue_due(&app.ctx.db, &DAYS, Utc::now()).await.unwrap(), 1);
    let token = app.mailed_token("stop@example.com", 2, "/unsubscribe?token=").await;
    // Without a renewal link set, the reminder points at the account page.
    let mail = app.mail.mails_to("stop@example.com").pop().unwrap();
    assert!(mail.text().contains("/account"), "{}", mail.text());

    // Opening the page changes nothing (a mail scanner fetches links); its button does.
    let page = app.get(&format!("/unsubscribe?token={token}")).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Turn these reminders off"));
    assert_eq!(reminders::preferences(&app.ctx.db, user).await.unwrap(), (true, true));
    let refused = app
        .call("/rpc/reminders/unsubscribe", &[("token", "forged")], None)
        .await;
    assert_eq!(refused.status(), 422);
    let res = app.call("/rpc/reminders/unsubscribe", &[("token", &token)], None).await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    assert_eq!(res.headers().get("location").unwrap(), "/unsubscribe?off=email");
    assert_eq!(reminders::preferences(&app.ctx.db, user).await.unwrap(), (false, true));

    // A day before the end the 1-day reminder comes due: e-mail is off, so nothing is claimed.
    let a_day_before = end - Duration::hours(12);
    assert_eq!(reminders::queue_due(&app.ctx.db, &DAYS, a_day_before).await.unwrap(), 0);
    let rows = reminder_rows(&app.ctx.db, user).await;
    assert_eq!(rows.len(), 1, "only the 7-day reminder: {rows:#?}");
    reminder_jobs_settle(&app.ctx.db, JobKind::ReminderMail).await;
    assert_eq!(app.mail.mails_to("stop@example.com").len(), 2);
}

async fn a_failed_delivery_is_retried_and_still_sent_once(backend: Backend) {
    let app = spawn_app_with(backend, &[OWN_SCAN_OFF]).await;
    customer_ending_in(&app, "retry@example.com", Duration::days(2)).await;
    // The mail server refuses the next delivery: the job retries (with back-off) and the
    // reminder still arrives, once.
    app.mail.fail_next(1);
    assert_eq!(reminders::queue_due(&app.ctx.db, &DAYS, Utc::now()).await.unwrap(), 1);
    let deadline = std::time::Instant::now() + StdDuration::from_secs(60);
    let failed_once = loop {
        let jobs = job::Entity::find()
            .filter(job::Column::Kind.eq(JobKind::ReminderMail))
            .all(&app.ctx.db)
            .await
            .unwrap();
        if let Some(j) = jobs.iter().find(|j| j.attempts >= 1 && j.last_error.is_some()) {
            break j.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the refused delivery was never recorded"
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    };
    assert!(
        failed_once.last_error.unwrap().contains("mail server"),
        "the error says why"
    );
    // Bring the retry forward instead of waiting out the back-off.
    jobs_due_now(&app.ctx.db).await;
    app.mail
        .wait_for("retry@example.com", 2, StdDuration::from_secs(20))
        .await
        .expect("the retried reminder");
    let jobs = reminder_jobs_settle(&app.ctx.db, JobKind::ReminderMail).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, JobStatus::Done);
    assert_eq!(
        app.mail.mails_to("retry@example.com").len(),
        2,
        "verification + one reminder"
    );
}

async fn jobs_due_now(db: &DatabaseConnection) {
    use sea_orm::sea_query::Expr;
    job::Entity::update_many()
        .col_expr(job::Column::RunAt, Expr::value(Utc::now() - Duration::seconds(1)))
        .filter(job::Column::Status.eq(JobStatus::Queued))
        .exec(db)
        .await
        .unwrap();
}

async fn a_reminder_for_an_end_that_moved_is_not_sent(backend: Backend) {
    let app = spawn_app_with(backend, &[OWN_SCAN_OFF]).await;
    let (user, _, end) = customer_ending_in(&app, "moved@example.com", Duration::days(3)).await;
    let config = app.ctx.config.clone();
    let id = claim(&app.ctx.db, user, end, 7, Channel::Email).await.unwrap().unwrap();
    let send = reminders::prepare(&app.ctx.db, &config, id, Utc::now()).await.unwrap();
    assert!(matches!(send, Prepared::Send(_)), "{send:?}");
    // The customer renews before the job runs: the end moves 30 days on.
    domain::entitlements::grant(
        &app.ctx.db,
        domain::entitlements::NewGrant {
            user_id: Some(user),
            email: "moved@example.com".into(),
            order_id: Some("renewal-1".into()),
            tier_id: app.tier_id("basic").await,
            days: 30,
            starts_at: Utc::now(),
            cause: domain::entitlements::GrantCause::Payment,
            reason: "renewal".into(),
            actor: Some("test".into()),
            amount_minor: None,
            currency: None,
        },
    )
    .await
    .unwrap();
    assert!(
        access_end(&app.ctx.db, user).await > end + Duration::days(20),
        "the end moved"
    );
    let stale = reminders::prepare(&app.ctx.db, &config, id, Utc::now()).await.unwrap();
    assert!(
        matches!(stale, Prepared::Skip(why) if why.contains("moved")),
        "{stale:?}"
    );
    // An end that has passed, or a channel turned off, is not reminded of either.
    let ended = reminders::prepare(&app.ctx.db, &config, id, end + Duration::days(31))
        .await
        .unwrap();
    assert!(matches!(ended, Prepared::Skip(_)), "{ended:?}");
    // The renewal makes the new end's reminders due when their time comes, and not before.
    assert_eq!(reminders::queue_due(&app.ctx.db, &DAYS, Utc::now()).await.unwrap(), 0);
    let new_end = access_end(&app.ctx.db, user).await;
    assert_eq!(
        reminders::queue_due(&app.ctx.db, &DAYS, new_end - Duration::days(6))
            .await
            .unwrap(),
        1
    );
}

async fn the_account_switches_are_the_customers_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user, session, _) = customer_ending_in(&app, "switch@example.com", Duration::days(20)).await;
    let (other, other_session, _) = customer_ending_in(&app, "other@example.com", Duration::days(20)).await;

    let anonymous = app
        .call("/rpc/reminders/set", &[("channel", "email"), ("on", "false")], None)
        .await;
    assert_eq!(anonymous.status(), 401);
    let bad = app
        .call(
            "/rpc/reminders/set",
            &[("channel", "sms"), ("on", "false")],
            Some(&session),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["Invalid"]["field"], "channel", "{body}");
    let bad_on = app
        .call(
            "/rpc/reminders/set",
            &[("channel", "email"), ("on", "maybe")],
            Some(&session),
        )
        .await;
    assert_eq!(bad_on.status(), 422);

    let off = app
        .call(
            "/rpc/reminders/set",
            &[("channel", "discord"), ("on", "false")],
            Some(&session),
        )
        .await;
    assert_eq!(off.status(), 200);
    assert_eq!(reminders::preferences(&app.ctx.db, user).await.unwrap(), (true, false));
    assert_eq!(
        reminders::preferences(&app.ctx.db, other).await.unwrap(),
        (true, true),
        "another customer's switches are untouched"
    );
    let mine: serde_json::Value = app
        .call("/rpc/reminders", &[], Some(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        mine,
        serde_json::json!({"email": true, "discord": false, "discord_linked": false, "days": [7, 1]})
    );
    let theirs: serde_json::Value = app
        .call("/rpc/reminders", &[], Some(&other_session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["discord"], true);

    // The account page renders the switches on the server (they work before the wasm loads).
    let page = app.get_with_session("/account", &session).await;
    assert!(page.contains("data-testid=\"reminders-panel\""), "{page}");
    assert!(page.contains("7 days and 1 day before"), "{page}");
    assert!(page.contains("action=\"/rpc/reminders/set\""), "{page}");
}

/// Waits until the process on `port` has finished at least one reminder scan.
async fn scanned(port: u16) {
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + StdDuration::from_secs(60);
    loop {
        let body = match client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .bearer_auth(crate::helpers::METRICS_TOKEN)
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => r.text().await.unwrap_or_default(),
            _ => String::new(),
        };
        let scans = body
            .lines()
            .find_map(|l| l.strip_prefix("signaldesk_reminder_scans_total "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if scans >= 1 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server on {port} never scanned"
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

async fn reminders_go_out_once_with_two_server_processes_and_across_restarts(backend: Backend) {
    // This test's own app makes the database and the customers (reminders off in it, so it
    // never competes for them); two `server` processes with the default days then share
    // that database and one mail server, as two machines behind the proxy would.
    let app = spawn_app_with(backend, &[OWN_SCAN_OFF]).await;
    let (first, _, _) = customer_ending_in(&app, "twice@example.com", Duration::days(3)).await;
    let (second, _, _) = customer_ending_in(&app, "tomorrow@example.com", Duration::hours(20)).await;
    let sink = testkit::smtp_sink::SmtpSink::start(0).await.unwrap();
    let mut settings = app.database_settings();
    settings.insert("SMTP_URL".into(), sink.url());
    settings.insert("METRICS_TOKEN".into(), crate::helpers::METRICS_TOKEN.into());
    settings.insert("RUN_MIGRATIONS".into(), "false".into());
    let ports = [free_port(), free_port()];
    let processes: Vec<_> = ports.iter().map(|p| serve(&settings, *p)).collect();
    for p in ports {
        scanned(p).await;
    }
    sink.wait_for("twice@example.com", 1, StdDuration::from_secs(20))
        .await
        .expect("the 7-day reminder");
    sink.wait_for("tomorrow@example.com", 1, StdDuration::from_secs(20))
        .await
        .expect("the 1-day reminder");
    reminder_jobs_settle(&app.ctx.db, JobKind::ReminderMail).await;
    let once = |db: DatabaseConnection| async move {
        reminder::Entity::find()
            .filter(reminder::Column::UserId.is_in([first, second]))
            .count(&db)
            .await
            .unwrap()
    };
    assert_eq!(once(app.ctx.db.clone()).await, 2);

    // kill -9 both and start them again: each scans at start, and nothing is sent twice.
    drop(processes);
    let ports = [free_port(), free_port()];
    let _again: Vec<_> = ports.iter().map(|p| serve(&settings, *p)).collect();
    for p in ports {
        scanned(p).await;
    }
    reminder_jobs_settle(&app.ctx.db, JobKind::ReminderMail).await;
    assert_eq!(sink.mails_to("twice@example.com").len(), 1);
    assert_eq!(sink.mails_to("tomorrow@example.com").len(), 1);
    assert_eq!(once(app.ctx.db.clone()).await, 2);
    let subjects: Vec<String> = sink.mails().iter().filter_map(|m| m.header("Subject")).collect();
    assert!(
        subjects.iter().any(|s| s.ends_with("in less than a day")),
        "{subjects:?}"
    );
}
