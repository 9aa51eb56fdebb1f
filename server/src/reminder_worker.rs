//! Reminders before access ends, in each server process: every minute (and at start) one scan
//! claims and queues the reminders that came due (`domain::reminders::queue_due`: once only
//! however many processes scan), and a job worker mails the e-mail ones. The bot sends the
//! Discord ones from the same queue.

use std::sync::Arc;
use std::time::Duration;

use domain::AppContext;
use domain::jobs::worker::Outcome;
use domain::jobs::{self, Claimed, JobKind};
use domain::metrics::Metrics;
use domain::reminders;
use tokio::sync::{Notify, watch};

pub fn spawn(ctx: AppContext, stop: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
    let wake = Arc::new(Notify::new());
    let scanner = tokio::spawn(scan(ctx.clone(), Arc::clone(&wake), stop.clone()));
    let settings = jobs::worker::Settings {
        kinds: vec![JobKind::ReminderMail],
        lease: chrono::Duration::from_std(ctx.config.job_lease).unwrap_or(chrono::Duration::seconds(60)),
        // This process's scan wakes it at once; reminders queued by another process wait a
        // poll, which a reminder days ahead can afford (and each claim takes SQLite's write lock).
        poll: Duration::from_secs(5),
    };
    let mailer = tokio::spawn({
        let ctx = ctx.clone();
        let run = jobs::worker::run(ctx.db.clone(), settings, wake, stop, move |job| {
            let ctx = ctx.clone();
            async move { mail(&ctx, &job).await }
        });
        async move {
            run.await;
        }
    });
    vec![scanner, mailer]
}

async fn scan(ctx: AppContext, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    if ctx.config.reminder_days.is_empty() {
        tracing::info!("reminders are off (REMINDER_DAYS=off)");
        return;
    }
    loop {
        match reminders::queue_due(&ctx.db, &ctx.config.reminder_days, chrono::Utc::now()).await {
            Ok(queued) => {
                Metrics::inc(&ctx.metrics.reminder_scans);
                if queued > 0 {
                    Metrics::add(&ctx.metrics.reminders_queued, queued as u64);
                    tracing::info!(queued, "reminders queued");
                    wake.notify_one();
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot look for due reminders; trying again in a minute"),
        }
        tokio::select! {
            _ = tokio::time::sleep(reminders::SCAN_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn mail(ctx: &AppContext, claimed: &Claimed) -> Outcome {
    let message = match reminders::message_for_job(&ctx.db, &ctx.config, claimed).await {
        Ok(m) => m,
        Err(outcome) => return outcome,
    };
    match ctx
        .mailer
        .send_with_unsubscribe(
            &message.email,
            &message.subject,
            message.text,
            Some(&message.one_click_url),
        )
        .await
    {
        Ok(()) => {
            Metrics::inc(&ctx.metrics.reminders_sent);
            tracing::info!(reminder = message.reminder, channel = "email", "reminder sent");
            Outcome::Done
        }
        Err(e @ domain::mail::MailError::Address(_)) => Outcome::Dead(e.to_string()),
        Err(e) => Outcome::Retry {
            error: e.to_string(),
            after: None,
        },
    }
}
