//! F1 for mirroring: four real bot processes share 1,000 signals' copies (with edits and
//! deletes) on one PostgreSQL database while one of them is `kill -9`ed at random moments and
//! replaced. No copy is lost, none is made twice (every post carries a nonce Discord enforces,
//! and each message id is recorded as Discord answers), and every edit and delete is applied:
//! the target channel ends holding exactly the source's final state.

use std::time::Duration;

use entity::job::{self, JobKind, JobStatus};
use rand::Rng;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use testkit::database::Backend;
use testkit::discord::Limits;

mod support;

use support::mirror::{TARGET, create, delete, rig, update};

const SIGNALS: u64 = 1000;
const BOTS: usize = 4;
const KILLS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f1_mirror_four_bots_one_killed_at_random_no_copy_lost_or_doubled() {
    let rig = rig(Backend::Postgres, Limits::none(), 5).await;
    let mut rng = rand::thread_rng();
    // Every signal is posted; a third are edited, a tenth deleted afterwards.
    let mut events: Vec<serde_json::Value> = (1..=SIGNALS).map(|id| create(id, &format!("signal {id} v0"))).collect();
    for id in (1..=SIGNALS).filter(|id| id % 3 == 0) {
        events.push(update(id, &format!("signal {id} v1"), 1));
    }
    for id in (1..=SIGNALS).filter(|id| id % 10 == 0) {
        events.push(delete(id));
    }
    // Half arrives before the bots start, the rest while they work (and die).
    let later = events.split_off(events.len() / 2);
    for batch in events.chunks(100) {
        rig.ingest(batch.to_vec()).await;
    }
    let mut bots: Vec<tokio::process::Child> = (0..BOTS).map(|_| support::spawn_bot(&rig.settings, "error")).collect();
    for batch in later.chunks(50) {
        rig.ingest(batch.to_vec()).await;
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..40))).await;
    }
    let mut killed = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        let pending = job::Entity::find()
            .filter(job::Column::Kind.eq(JobKind::Mirror))
            .filter(job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
            .count(&rig.db)
            .await
            .unwrap();
        if pending == 0 {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let stuck = job::Entity::find()
                .filter(job::Column::Kind.eq(JobKind::Mirror))
                .filter(job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
                .all(&rig.db)
                .await
                .unwrap();
            panic!("{pending} mirror jobs never finished: {stuck:#?}");
        }
        if killed < KILLS {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(100..1200))).await;
            let victim = rng.gen_range(0..bots.len());
            // kill -9: no shutdown, no lease release; its job is taken over when the lease runs out.
            bots[victim].start_kill().unwrap();
            let _ = bots[victim].wait().await;
            bots[victim] = support::spawn_bot(&rig.settings, "error");
            killed += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let dead = job::Entity::find()
        .filter(job::Column::Kind.eq(JobKind::Mirror))
        .filter(job::Column::Status.eq(JobStatus::Dead))
        .count(&rig.db)
        .await
        .unwrap();
    assert_eq!(dead, 0, "no mirror job gave up");
    // How often jobs were claimed again (kills, lost leases): printed so a slow run can be read.
    let retried: Vec<(i64, i32, Option<String>)> = job::Entity::find()
        .filter(job::Column::Kind.eq(JobKind::Mirror))
        .filter(job::Column::Attempts.gt(1))
        .all(&rig.db)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.id, j.attempts, j.last_error))
        .collect();
    println!("F1 mirror: {} jobs claimed more than once: {retried:?}", retried.len());

    let mut want: Vec<String> = (1..=SIGNALS)
        .filter(|id| id % 10 != 0)
        .map(|id| format!("signal {id} v{}", u8::from(id % 3 == 0)))
        .collect();
    want.sort();
    let mut got = rig.fake.with(|w| {
        w.channel_messages(TARGET)
            .iter()
            .map(|m| m.body["content"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    });
    got.sort();
    assert_eq!(got.len(), want.len(), "copies lost or doubled");
    assert_eq!(got, want, "every edit and delete applied");
    println!(
        "F1 mirror: {SIGNALS} signals, {KILLS} kill -9s, {} copies live",
        got.len()
    );
    for mut b in bots {
        let _ = b.kill().await;
    }
}
