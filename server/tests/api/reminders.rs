//! Reminders before access ends (work in progress: the claim that makes each reminder once-only).

use chrono::{Duration, Utc};
use domain::reminders::{Channel, claim};

use crate::helpers::{Backend, PASSWORD, spawn_app};
use crate::on_both_databases;

on_both_databases!(a_reminder_is_claimed_once_however_many_race_for_it);

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
        won += usize::from(r.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one sender");
    // Another channel, another offset or a new end (a renewal) is another reminder.
    assert!(claim(&app.ctx.db, user, end, 7, Channel::Discord).await.unwrap());
    assert!(claim(&app.ctx.db, user, end, 1, Channel::Email).await.unwrap());
    assert!(
        claim(&app.ctx.db, user, end + Duration::days(30), 7, Channel::Email)
            .await
            .unwrap()
    );
    assert!(
        !claim(&app.ctx.db, user, end, 7, Channel::Email).await.unwrap(),
        "and never again"
    );
}
