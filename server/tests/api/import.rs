//! `server import customers --file F [--dry-run]`, run as the operator runs it: the real binary,
//! another process, on the running app's database (SQLite and PostgreSQL).

use std::process::Output;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::helpers::{Backend, PASSWORD, TestApp, printed as text, server_cli, spawn_app};
use crate::on_both_databases;

on_both_databases!(
    a_dry_run_says_what_it_would_do_and_changes_nothing,
    an_import_lands_on_the_timeline_and_a_second_run_changes_nothing,
    a_file_with_a_bad_row_imports_nothing_and_names_the_line,
);

const ADA: &str = "ada@example.com";
const NEW: &str = "new@example.com";
const DISCORD: &str = "112233445566778899";

/// Runs the CLI on the app's database with `file` as the CSV.
async fn import(app: &TestApp, csv: &str, dry_run: bool) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("customers.csv");
    std::fs::write(&file, csv).unwrap();
    let settings = app.database_settings();
    tokio::task::spawn_blocking(move || {
        let file = file.to_str().unwrap();
        let mut args = vec!["import", "customers", "--file", file];
        if dry_run {
            args.push("--dry-run");
        }
        let out = server_cli(&args, &settings);
        drop(dir);
        out
    })
    .await
    .unwrap()
}

/// A whole second, some days ahead (the file's precision).
fn ends_in(days: i64) -> DateTime<Utc> {
    let t = Utc::now() + Duration::days(days);
    DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

/// Ada has a verified account; new@ has none. Ada brings her Discord id and Sell.app customer id.
fn file(ada_end: DateTime<Utc>, new_end: &str) -> String {
    format!(
        "email,tier,access_end,discord_id,sellapp_customer_id\n\
         {ADA},pro,{},{DISCORD},cus_ada\n\
         {NEW},basic,{new_end},,\n",
        ada_end.to_rfc3339()
    )
}

async fn grants(app: &TestApp, email: &str) -> usize {
    entity::entitlement_grant::Entity::find()
        .filter(entity::entitlement_grant::Column::Email.eq(email))
        .count(&app.ctx.db)
        .await
        .unwrap() as usize
}

async fn a_dry_run_says_what_it_would_do_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up_verified(ADA, PASSWORD).await;
    let out = import(&app, &file(ends_in(20), "2030-01-31"), true).await;
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("line 2: {ADA}: grant; linked to Discord {DISCORD}")),
        "{said}"
    );
    assert!(
        said.contains(&format!("line 3: {NEW}: grant (waits for the customer")),
        "{said}"
    );
    assert!(said.contains("dry run: would grant 2 of 2 rows"), "{said}");
    assert_eq!((grants(&app, ADA).await, grants(&app, NEW).await), (0, 0));
    assert_eq!(
        entity::discord_link::Entity::find().count(&app.ctx.db).await.unwrap(),
        0,
        "a dry run links nothing"
    );
    assert_eq!(
        entity::payment_customer::Entity::find()
            .count(&app.ctx.db)
            .await
            .unwrap(),
        0
    );
}

async fn an_import_lands_on_the_timeline_and_a_second_run_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up_verified(ADA, PASSWORD).await;
    let ada_end = ends_in(20);
    let csv = file(ada_end, "2030-01-31");
    let out = import(&app, &csv, false).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("granted 2 of 2 rows"), "{}", text(&out));

    // Ada's access is Pro and ends exactly when the file says.
    let ada = domain::accounts::id_for_email(&app.ctx.db, ADA).await.unwrap().unwrap();
    let access = domain::entitlements::access_at(&app.ctx.db, ada, Utc::now())
        .await
        .unwrap()
        .expect("imported access");
    assert_eq!((access.tier.slug.as_str(), access.access_ends), ("pro", ada_end));
    // On her timeline with the cause "import".
    let history = domain::entitlements::history(&app.ctx.db, ADA).await.unwrap();
    assert!(
        history.iter().any(|c| c.kind == "granted" && c.cause == "import"),
        "{history:?}"
    );
    let grant = &domain::entitlements::grants_for_email(&app.ctx.db, ADA).await.unwrap()[0];
    assert_eq!(grant.cause, "import");
    // Her Discord id is linked, her Sell.app customer id remembered for later webhooks.
    let link = domain::discord_link::for_user(&app.ctx.db, ada).await.unwrap().unwrap();
    assert_eq!(link.discord_user_id.to_string(), DISCORD);
    let customer = entity::payment_customer::Entity::find()
        .filter(entity::payment_customer::Column::SellappCustomerId.eq("cus_ada"))
        .one(&app.ctx.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((customer.email.as_str(), customer.user_id), (ADA, Some(ada)));

    // Twice: nothing changes, and it says so.
    let changes = history.len();
    let again = import(&app, &csv, false).await;
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("granted 0 of 2 rows (2 already imported)"),
        "{}",
        text(&again)
    );
    assert_eq!((grants(&app, ADA).await, grants(&app, NEW).await), (1, 1));
    assert_eq!(
        domain::entitlements::history(&app.ctx.db, ADA).await.unwrap().len(),
        changes
    );

    // The address without an account: its time waits for a verified sign-up, then is theirs
    // until the end of the day the file names.
    app.sign_up_verified(NEW, PASSWORD).await;
    let new = domain::accounts::id_for_email(&app.ctx.db, NEW).await.unwrap().unwrap();
    let access = domain::entitlements::access_at(&app.ctx.db, new, Utc::now())
        .await
        .unwrap()
        .expect("claimed on verification");
    assert_eq!(
        access.access_ends,
        "2030-02-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
}

async fn a_file_with_a_bad_row_imports_nothing_and_names_the_line(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up_verified(ADA, PASSWORD).await;
    let csv = format!(
        "email,tier,access_end\n{ADA},pro,{}\n{NEW},gold,2030-01-31\nthird@example.com,basic,yesterday\n",
        ends_in(10).to_rfc3339()
    );
    let out = import(&app, &csv, false).await;
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("nothing was imported"), "{said}");
    assert!(said.contains("line 3: tier \"gold\" is not one of"), "{said}");
    assert!(
        said.contains("line 4: access end \"yesterday\" is not a date"),
        "{said}"
    );
    assert!(!said.contains("line 2"), "the good row is not blamed: {said}");
    assert_eq!(grants(&app, ADA).await, 0, "the good row is not half-applied");
}
