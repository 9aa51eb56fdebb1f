//! `/rpc/admin/discord/*` and `/rpc/admin/queues*`: the tier → roles mapping refuses a role the
//! bot cannot manage (with the reason) and queues role sync for every linked customer when it
//! changes; dead jobs can be retried or discarded. (Anonymous and customer callers are refused
//! by the admin gate test, which walks every `/rpc/admin/*` endpoint.)

use chrono::Utc;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(
    a_mapping_to_a_role_the_bot_cannot_manage_is_refused_with_the_reason,
    changing_a_mapping_queues_role_sync_for_every_linked_customer,
    dead_jobs_can_be_retried_or_discarded,
    a_drift_check_opens_one_report_and_queues_one_sweep,
    the_drift_report_names_customers_and_roles,
    the_queues_page_shows_claim_latency_per_minute,
);

const PASSWORD: &str = "correct horse battery";
const GUILD: &str = "1300000000000000000";

async fn app(backend: Backend) -> (TestApp, String) {
    let app = spawn_app_with(
        backend,
        &[
            ("CUSTOMER_GUILD_ID", GUILD),
            ("TIER_ROLES", "basic=1300000000000000001"),
        ],
    )
    .await;
    let admin = app.sign_up_verified("ops@example.com", PASSWORD).await;
    app.make_admin("ops@example.com").await;
    // What a connected bot reports about the server (see bot::status).
    entity::bot_instance::ActiveModel {
        id: Set("b1".into()),
        state: Set("connected".into()),
        detail: Set("working on role sync".into()),
        bot_user: Set(Some("SignalDesk Bot".into())),
        guilds: Set(json!([{"id": GUILD, "name": "Customers", "bot_top": 10, "roles": [
            {"id": "1300000000000000009", "name": "Moderators", "position": 20, "manageable": false,
             "reason": "at or above the bot's highest role: move the bot's role above it"},
            {"id": "1300000000000000002", "name": "Pro", "position": 3, "manageable": true, "reason": null},
            {"id": "1300000000000000001", "name": "Basic", "position": 2, "manageable": true, "reason": null}
        ]}])
        .to_string()),
        jobs_done: Set(0),
        last_job_at: Set(None),
        started_at: Set(Utc::now()),
        seen_at: Set(Utc::now()),
    }
    .insert(&app.ctx.db)
    .await
    .unwrap();
    (app, admin)
}

async fn tier(app: &TestApp, slug: &str) -> String {
    domain::entitlements::tiers(&app.ctx.db)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.slug == slug)
        .unwrap()
        .id
        .to_string()
}

async fn a_mapping_to_a_role_the_bot_cannot_manage_is_refused_with_the_reason(backend: Backend) {
    let (app, admin) = app(backend).await;
    let pro = tier(&app, "pro").await;
    let res = app
        .call(
            "/rpc/admin/discord/tier-roles",
            &[("tier", &pro), ("roles", "1300000000000000009")],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    let message = body.to_string();
    assert!(message.contains("Moderators") && message.contains("above"), "{message}");
    let res = app
        .call(
            "/rpc/admin/discord/tier-roles",
            &[("tier", &pro), ("roles", "42")],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 422, "not a role of the server");
    // Nothing changed.
    let view: Value = app
        .call("/rpc/admin/discord", &[], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let pro_row = view["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier_id"] == pro.as_str())
        .unwrap()
        .clone();
    assert_eq!(pro_row["roles"], "");
    let basic = view["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["roles"] == "1300000000000000001")
        .unwrap()
        .clone();
    assert_eq!(basic["names"], json!(["Basic"]), "TIER_ROLES seeded the mapping");
}

async fn changing_a_mapping_queues_role_sync_for_every_linked_customer(backend: Backend) {
    let (app, admin) = app(backend).await;
    for (i, email) in ["one@example.com", "two@example.com"].into_iter().enumerate() {
        app.sign_up_verified(email, PASSWORD).await;
        let uid = domain::accounts::id_for_email(&app.ctx.db, email)
            .await
            .unwrap()
            .unwrap();
        domain::discord_link::link(&app.ctx.db, None, uid, 1_400_000_000_000_000_100 + i as i64, "x")
            .await
            .unwrap();
    }
    let pro = tier(&app, "pro").await;
    let res = app
        .call(
            "/rpc/admin/discord/tier-roles",
            &[("tier", &pro), ("roles", "1300000000000000002, 1300000000000000001")],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(res.json::<Value>().await.unwrap(), json!(2));
    let jobs = entity::job::Entity::find().all(&app.ctx.db).await.unwrap();
    assert_eq!(jobs.len(), 2, "one role-sync job per linked customer");
    let map = domain::role_sync::mapping(&app.ctx.db, GUILD.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(map.len(), 3, "basic → Basic; pro → Pro and Basic");
}

async fn dead_jobs_can_be_retried_or_discarded(backend: Backend) {
    let (app, admin) = app(backend).await;
    let db = &app.ctx.db;
    let lease = chrono::Duration::seconds(30);
    let mut ids = Vec::new();
    for n in 0..2 {
        domain::jobs::enqueue(
            db,
            entity::job::JobKind::RoleSync,
            None,
            &json!({"n": n}),
            Utc::now() - chrono::Duration::seconds(1),
        )
        .await
        .unwrap();
        let c = domain::jobs::claim(db, &[entity::job::JobKind::RoleSync], 1, lease)
            .await
            .unwrap()
            .remove(0);
        domain::jobs::bury(db, &c, "Discord: Missing Permissions (50013). Fix: …")
            .await
            .unwrap();
        ids.push(c.id().to_string());
    }
    let view: Value = app
        .call("/rpc/admin/queues", &[], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let role_sync = view["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "RoleSync")
        .unwrap()
        .clone();
    assert_eq!(role_sync["dead"], 2);
    assert!(view["dead"][0]["last_error"].as_str().unwrap().contains("50013"));

    let res = app
        .call(
            "/rpc/admin/queues/dead",
            &[("id", &ids[0]), ("action", "retry")],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .call(
            "/rpc/admin/queues/dead",
            &[("id", &ids[1]), ("action", "discard")],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 200);
    let jobs = entity::job::Entity::find().all(db).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, entity::job::JobStatus::Queued);
    assert!(jobs[0].max_attempts > jobs[0].attempts, "a fresh attempt budget");
    // A job that is not dead is neither retried nor discarded.
    let res = app
        .call(
            "/rpc/admin/queues/dead",
            &[("id", &ids[0]), ("action", "discard")],
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), 404);
    // The pages render for the admin.
    for page in ["/admin/queues", "/admin/discord"] {
        let html = app
            .client
            .get(app.url(page))
            .header("cookie", format!("sd_session={admin}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(if page.ends_with("queues") {
                "queue-table"
            } else {
                "Moderators"
            }),
            "{page}"
        );
    }
}

async fn a_drift_check_opens_one_report_and_queues_one_sweep(backend: Backend) {
    let (app, admin) = app(backend).await;
    let view: Value = app
        .call("/rpc/admin/discord/drift", &[], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view, Value::Null, "no sweep yet");
    let res = app
        .call("/rpc/admin/discord/drift/check", &[("mode", "dry_run")], Some(&admin))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let id = res.json::<Value>().await.unwrap();
    // A second click while it waits is the same sweep; a repair is another.
    let again = app
        .call("/rpc/admin/discord/drift/check", &[("mode", "dry_run")], Some(&admin))
        .await;
    assert_eq!(again.json::<Value>().await.unwrap(), id);
    let repair = app
        .call("/rpc/admin/discord/drift/check", &[("mode", "repair")], Some(&admin))
        .await;
    assert_ne!(repair.json::<Value>().await.unwrap(), id);
    let jobs = entity::job::Entity::find().all(&app.ctx.db).await.unwrap();
    assert_eq!(
        jobs.iter()
            .filter(|j| j.kind == entity::job::JobKind::RoleDrift)
            .count(),
        2
    );

    let view: Value = app
        .call("/rpc/admin/discord/drift", &[], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (view["state"].clone(), view["dry_run"].clone()),
        (json!("queued"), json!(false))
    );
    assert_eq!(view["requested_by"], "ops@example.com");

    let bad = app
        .call(
            "/rpc/admin/discord/drift/check",
            &[("mode", "everything")],
            Some(&admin),
        )
        .await;
    assert_eq!(bad.status(), 422);
}

async fn the_drift_report_names_customers_and_roles(backend: Backend) {
    let (app, admin) = app(backend).await;
    let guild = domain::role_sync::RoleGuild {
        guild_id: GUILD.parse().unwrap(),
    };
    let id = domain::role_drift::request(&app.ctx.db, &guild, true, "ops@example.com")
        .await
        .unwrap();
    let job = domain::role_drift::DriftJob {
        guild_id: guild.guild_id,
        dry_run: true,
        report_id: Some(id),
    };
    domain::role_drift::begin(&app.ctx.db, &job).await.unwrap();
    let entry = domain::role_drift::Entry {
        user_id: 7,
        email: "a@example.com".into(),
        discord_user_id: 601,
        discord_username: "trader".into(),
        gain: vec![1_300_000_000_000_000_002],
        lose: vec![1_300_000_000_000_000_001, 1_300_000_000_000_000_077],
        note: None,
    };
    let queued = domain::role_drift::finish(&app.ctx.db, id, &job, 5, &[entry])
        .await
        .unwrap();
    assert_eq!(queued, 0, "a dry run queues no repair");
    let view: Value = app
        .call("/rpc/admin/discord/drift", &[], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (view["state"].clone(), view["checked"].clone(), view["drifted"].clone()),
        (json!("done"), json!(5), json!(1))
    );
    let row = &view["rows"][0];
    assert_eq!(row["email"], "a@example.com");
    assert_eq!(row["discord"], "trader (601)");
    assert_eq!(row["gain"], json!(["Pro"]));
    assert_eq!(
        row["lose"],
        json!(["Basic", "role 1300000000000000077"]),
        "a role the bot no longer reports shows its id"
    );
}

async fn the_queues_page_shows_claim_latency_per_minute(backend: Backend) {
    let (app, admin) = app(backend).await;
    let db = &app.ctx.db;
    // Due 2 s ago, claimed now: about 2,000 ms of claim latency in the current minute.
    domain::jobs::enqueue(
        db,
        entity::job::JobKind::RoleSync,
        None,
        &json!({}),
        Utc::now() - chrono::Duration::seconds(2),
    )
    .await
    .unwrap();
    domain::jobs::claim(db, &[entity::job::JobKind::RoleSync], 1, chrono::Duration::seconds(30))
        .await
        .unwrap();
    let view: Value = app
        .call("/rpc/admin/queues", &[], Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let minutes = view["claim_latency"].as_array().unwrap();
    assert_eq!(minutes.len(), 60);
    let last = minutes.last().unwrap();
    assert_eq!(last["claims"], 1, "{minutes:?}");
    let p95 = last["p95_ms"].as_u64().unwrap();
    assert!((2_000..10_000).contains(&p95), "{p95}");
    assert!(minutes[..59].iter().all(|m| m["claims"] == 0));
}
