//! Account linking over real HTTP: the app, the `oauth2` crate and the fake Discord's authorize
//! and token endpoints. S6: the state is single-use, bound to the session, expires after ten
//! minutes; the PKCE verifier and the exact redirect URI are checked by the fake as Discord does.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::EntityTrait;
use testkit::discord::{self, FakeDiscord};

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(
    linking_stores_the_account_joins_the_server_and_queues_role_sync,
    s6_a_state_is_single_use,
    s6_a_state_from_another_session_is_refused,
    s6_an_expired_state_is_refused,
    s6_a_wrong_pkce_verifier_fails_the_exchange,
    s6_the_redirect_uri_is_exact,
    one_discord_account_belongs_to_one_customer,
    unlinking_removes_the_link_and_queues_the_role_removal,
    cancelling_on_discord_returns_with_a_message,
    linking_needs_a_verified_address,
    s6_unfinished_authorisations_are_capped_per_session,
);

const GUILD: &str = "1300000000000000000";
const PASSWORD: &str = "correct horse battery";

struct Linking {
    app: TestApp,
    fake: FakeDiscord,
}

async fn linking(backend: Backend) -> Linking {
    let fake = FakeDiscord::start(0).await.unwrap();
    fake.with(|w| w.add_guild(GUILD.parse().unwrap(), "Customers", 10));
    let app = spawn_app_with(
        backend,
        &[
            ("DISCORD_API_URL", &fake.url()),
            ("DISCORD_CLIENT_ID", discord::CLIENT_ID),
            ("DISCORD_CLIENT_SECRET", discord::CLIENT_SECRET),
            ("DISCORD_BOT_TOKEN", discord::BOT_TOKEN),
            ("CUSTOMER_GUILD_ID", GUILD),
            ("TIER_ROLES", "basic=1300000000000000001"),
        ],
    )
    .await;
    let callback = format!("{}/account/discord/callback", app.address);
    fake.with(|w| w.redirect_uris.push(callback));
    Linking { app, fake }
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .unwrap_or_else(|| panic!("a redirect, got {}", res.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Linking {
    /// "Link Discord": the app's redirect to the authorize page.
    async fn start(&self, session: &str) -> String {
        let res = self
            .app
            .client
            .post(self.app.url("/account/discord/link"))
            .header("cookie", format!("sd_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        location(&res)
    }

    /// The customer clicks Authorize (or Cancel) on Discord: Discord's redirect to our callback.
    async fn decide(&self, authorize_url: &str, username: &str, decision: &str) -> String {
        let mut form = query(authorize_url);
        form.insert("username".into(), username.into());
        form.insert("decision".into(), decision.into());
        let res = no_redirects()
            .post(format!("{}/oauth2/authorize", self.fake.url()))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap_or_default());
        location(&res)
    }

    /// Discord sends the browser back to our callback.
    async fn back(&self, callback: &str, session: &str) -> String {
        let res = self
            .app
            .client
            .get(callback)
            .header("cookie", format!("sd_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        location(&res)
    }

    async fn link(&self, session: &str, username: &str) -> String {
        let url = self.start(session).await;
        let callback = self.decide(&url, username, "authorize").await;
        self.back(&callback, session).await
    }

    async fn links(&self) -> Vec<entity::discord_link::Model> {
        entity::discord_link::Entity::find()
            .all(&self.app.ctx.db)
            .await
            .unwrap()
    }
}

async fn linking_stores_the_account_joins_the_server_and_queues_role_sync(backend: Backend) {
    let l = linking(backend).await;
    let session = l.app.sign_up_verified("trader@example.com", PASSWORD).await;
    let url = l.start(&session).await;
    let q = query(&url);
    assert!(url.starts_with(&format!("{}/oauth2/authorize?", l.fake.url())));
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], format!("{}/account/discord/callback", l.app.address));
    assert!(q["scope"].contains("identify") && q["scope"].contains("guilds.join"));
    let callback = l.decide(&url, "trader", "authorize").await;
    assert_eq!(l.back(&callback, &session).await, "/account?discord=linked#discord");

    let links = l.links().await;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].username, "trader");
    let discord_id = links[0].discord_user_id as u64;
    assert_eq!(
        l.fake.member_roles(GUILD.parse().unwrap(), discord_id),
        Some(vec![]),
        "added to the customers' server (guilds.join)"
    );
    let jobs = entity::job::Entity::find().all(&l.app.ctx.db).await.unwrap();
    assert_eq!(jobs.len(), 1, "role sync queued with the link");
    assert_eq!(jobs[0].kind, entity::job::JobKind::RoleSync);
    // The token exchange was form-encoded with the PKCE verifier (the fake refuses otherwise).
    assert_eq!(l.fake.with(|w| w.calls_to("POST", "/oauth2/token")), 1);
    // Linking again (already a member): 204, and the link stays one.
    l.link(&session, "trader").await;
    assert_eq!(l.links().await.len(), 1);
}

async fn s6_a_state_is_single_use(backend: Backend) {
    let l = linking(backend).await;
    let session = l.app.sign_up_verified("replay@example.com", PASSWORD).await;
    let url = l.start(&session).await;
    let callback = l.decide(&url, "replayer", "authorize").await;
    assert_eq!(l.back(&callback, &session).await, "/account?discord=linked#discord");
    assert_eq!(
        l.back(&callback, &session).await,
        "/account?discord_error=state_used#discord",
        "a replayed callback is refused"
    );
}

async fn s6_a_state_from_another_session_is_refused(backend: Backend) {
    let l = linking(backend).await;
    let victim = l.app.sign_up_verified("victim@example.com", PASSWORD).await;
    let attacker = l.app.sign_up_verified("attacker@example.com", PASSWORD).await;
    // The attacker starts an authorisation and lures the victim's browser to its callback.
    let url = l.start(&attacker).await;
    let callback = l.decide(&url, "attacker-discord", "authorize").await;
    assert_eq!(
        l.back(&callback, &victim).await,
        "/account?discord_error=state_other_session#discord"
    );
    assert!(
        l.links().await.is_empty(),
        "nobody got linked to the attacker's Discord"
    );
}

async fn s6_an_expired_state_is_refused(backend: Backend) {
    use sea_orm::sea_query::Expr;
    let l = linking(backend).await;
    let session = l.app.sign_up_verified("slow@example.com", PASSWORD).await;
    let url = l.start(&session).await;
    let callback = l.decide(&url, "slowpoke", "authorize").await;
    entity::oauth_state::Entity::update_many()
        .col_expr(
            entity::oauth_state::Column::ExpiresAt,
            Expr::value(Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(&l.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(
        l.back(&callback, &session).await,
        "/account?discord_error=state_expired#discord"
    );
    assert!(l.links().await.is_empty());
}

async fn s6_a_wrong_pkce_verifier_fails_the_exchange(backend: Backend) {
    use sea_orm::sea_query::Expr;
    let l = linking(backend).await;
    let session = l.app.sign_up_verified("pkce@example.com", PASSWORD).await;
    let url = l.start(&session).await;
    let callback = l.decide(&url, "intercepted", "authorize").await;
    // Whoever intercepted the code does not hold our verifier.
    entity::oauth_state::Entity::update_many()
        .col_expr(
            entity::oauth_state::Column::PkceVerifier,
            Expr::value("a-verifier-that-does-not-match-the-challenge-0123456789abcdef"),
        )
        .exec(&l.app.ctx.db)
        .await
        .unwrap();
    assert_eq!(
        l.back(&callback, &session).await,
        "/account?discord_error=exchange_failed#discord"
    );
    assert!(l.links().await.is_empty());
}

async fn s6_the_redirect_uri_is_exact(backend: Backend) {
    let l = linking(backend).await;
    let session = l.app.sign_up_verified("exact@example.com", PASSWORD).await;
    let url = l.start(&session).await;
    // Discord refuses an authorize request whose redirect URI is not registered exactly.
    let mut tampered = query(&url);
    tampered.insert(
        "redirect_uri".into(),
        format!("{}/account/discord/callback/", l.app.address),
    );
    let res = no_redirects()
        .get(format!("{}/oauth2/authorize", l.fake.url()))
        .query(&tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // And the app sends exactly the registered one (the happy path above completes).
    let callback = l.decide(&url, "exact", "authorize").await;
    assert!(callback.starts_with(&format!("{}/account/discord/callback?", l.app.address)));
}

async fn one_discord_account_belongs_to_one_customer(backend: Backend) {
    let l = linking(backend).await;
    let first = l.app.sign_up_verified("first@example.com", PASSWORD).await;
    let second = l.app.sign_up_verified("second@example.com", PASSWORD).await;
    assert_eq!(l.link(&first, "shared").await, "/account?discord=linked#discord");
    assert_eq!(l.link(&second, "shared").await, "/account?discord_error=taken#discord");
    let links = l.links().await;
    assert_eq!(links.len(), 1, "never a silent move");
    let first_id = domain::accounts::id_for_email(&l.app.ctx.db, "first@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(links[0].user_id, first_id);
    // The page says so in words.
    let page = l.app.page("/account?discord_error=taken", Some(&second)).await;
    assert!(page.contains("already linked to another account"), "{page}");
}

async fn unlinking_removes_the_link_and_queues_the_role_removal(backend: Backend) {
    let l = linking(backend).await;
    let session = l.app.sign_up_verified("unlink@example.com", PASSWORD).await;
    l.link(&session, "unlinker").await;
    let discord_id = l.links().await[0].discord_user_id;
    entity::job::Entity::delete_many().exec(&l.app.ctx.db).await.unwrap();
    let res = l
        .app
        .client
        .post(l.app.url("/account/discord/unlink"))
        .header("cookie", format!("sd_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/account?discord=unlinked#discord");
    assert!(l.links().await.is_empty());
    let jobs = entity::job::Entity::find().all(&l.app.ctx.db).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let payload: serde_json::Value = serde_json::from_str(&jobs[0].payload).unwrap();
    assert_eq!(
        payload["discord_user_id"], discord_id,
        "the old account's roles are taken"
    );
    // Signed out: nothing to unlink, back to sign-in.
    let res = l
        .app
        .client
        .post(l.app.url("/account/discord/unlink"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login?next=/account");
}

async fn cancelling_on_discord_returns_with_a_message(backend: Backend) {
    let l = linking(backend).await;
    let session = l.app.sign_up_verified("cancel@example.com", PASSWORD).await;
    let url = l.start(&session).await;
    let callback = l.decide(&url, "canceller", "cancel").await;
    assert!(query(&callback).get("error").is_some_and(|e| e == "access_denied"));
    assert_eq!(
        l.back(&callback, &session).await,
        "/account?discord_error=cancelled#discord"
    );
    assert!(l.links().await.is_empty());
}

/// Only a proven owner links Discord: whoever registered someone else's address could otherwise
/// link their own Discord account to whatever the owner buys later.
async fn linking_needs_a_verified_address(backend: Backend) {
    let l = linking(backend).await;
    let unverified = l.app.sign_up("unproven@example.com", PASSWORD).await;
    let res = l
        .app
        .client
        .post(l.app.url("/account/discord/link"))
        .header("cookie", format!("sd_session={unverified}"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/account?discord_error=unverified#discord");
    assert_eq!(
        entity::oauth_state::Entity::find()
            .all(&l.app.ctx.db)
            .await
            .unwrap()
            .len(),
        0,
        "no authorisation was started"
    );
    // A callback with a state made while verified, arriving for an unverified session: refused.
    let verified = l.app.sign_up_verified("proven@example.com", PASSWORD).await;
    let url = l.start(&verified).await;
    let callback = l.decide(&url, "someone", "authorize").await;
    assert_eq!(
        l.back(&callback, &unverified).await,
        "/account?discord_error=unverified#discord"
    );
    assert!(l.links().await.is_empty());
    let page = l.app.page("/account", Some(&unverified)).await;
    assert!(page.contains("discord-needs-verified"), "the account page says why");
}

/// S6 storage: a session keeps at most five unfinished authorisations; starting more forgets
/// the oldest (whose callback is then unknown), and the newest still completes.
async fn s6_unfinished_authorisations_are_capped_per_session(backend: Backend) {
    let l = linking(backend).await;
    let session = l.app.sign_up_verified("looper@example.com", PASSWORD).await;
    let mut urls = Vec::new();
    for _ in 0..20 {
        urls.push(l.start(&session).await);
    }
    let rows = entity::oauth_state::Entity::find().all(&l.app.ctx.db).await.unwrap();
    assert_eq!(rows.len(), domain::discord_link::LIVE_STATES_PER_SESSION, "{rows:?}");
    let oldest = l.decide(&urls[0], "looper", "authorize").await;
    assert_eq!(
        l.back(&oldest, &session).await,
        "/account?discord_error=state_unknown#discord"
    );
    let newest = l.decide(urls.last().unwrap(), "looper", "authorize").await;
    assert_eq!(l.back(&newest, &session).await, "/account?discord=linked#discord");
}
