//! `server --demo`: a newcomer sees the live product with nothing but the embedded database.
//! Creates (or reuses) a demo admin and a demo customer with access, a demo connector with a
//! source channel, and keeps posting realistic signals — with edits and deletes — through the
//! same ingest path a collector uses.

use std::time::Duration;

use chrono::Utc;
use domain::AppContext;
use domain::ingest::{self, Event};
use rand::Rng;
use serde_json::json;

pub const ADMIN_EMAIL: &str = "admin@demo.signaldesk";
pub const CUSTOMER_EMAIL: &str = "customer@demo.signaldesk";
const GUILD: &str = "1000000000000000001";
const CHANNEL: &str = "1000000000000000002";
const PAIRS: &[(&str, f64)] = &[
    ("BTC", 91_250.0),
    ("ETH", 3_180.0),
    ("SOL", 142.5),
    ("XRP", 0.62),
    ("LINK", 14.8),
];

pub struct DemoLogin {
    pub email: &'static str,
    /// None when the account already existed (its password was shown when it was made).
    pub password: Option<String>,
}

fn password() -> String {
    let mut rng = rand::thread_rng();
    (0..4)
        .map(|_| {
            (0..5)
                .map(|_| char::from(b'a' + rng.gen_range(0..26)))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

async fn account(ctx: &AppContext, email: &'static str, role: domain::accounts::Role) -> Result<DemoLogin, String> {
    if domain::accounts::id_for_email(&ctx.db, email)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(DemoLogin { email, password: None });
    }
    let pw = password();
    domain::accounts::create(&ctx.db, email, domain::Secret::new(pw.clone()), role)
        .await
        .map_err(|e| e.to_string())?;
    Ok(DemoLogin {
        email,
        password: Some(pw),
    })
}

/// Sets the demo up and returns the two logins to print.
pub async fn prepare(ctx: &AppContext) -> Result<(DemoLogin, DemoLogin, domain::connectors::Connector), String> {
    use domain::accounts::Role;
    let admin = account(ctx, ADMIN_EMAIL, Role::Admin).await?;
    let customer = account(ctx, CUSTOMER_EMAIL, Role::Customer).await?;
    let connector = match domain::connectors::list(&ctx.db)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|c| c.name == "Demo collector")
    {
        Some(c) => c,
        None => {
            domain::connectors::create(&ctx.db, "Demo collector")
                .await
                .map_err(|e| e.to_string())?
                .0
        }
    };
    let guild = domain::discovery::GuildInfo {
        id: GUILD.parse().expect("id"),
        name: "Alpha Signals (demo)".into(),
        icon: None,
    };
    domain::discovery::record_guilds(&ctx.db, &connector, &[guild])
        .await
        .map_err(|e| e.to_string())?;
    let channel = domain::discovery::ChannelInfo {
        id: CHANNEL.parse().expect("id"),
        name: "vip-signals".into(),
        kind: 0,
        parent_id: None,
        position: 0,
    };
    domain::discovery::record_channels(&ctx.db, &connector, GUILD.parse().expect("id"), &[channel])
        .await
        .map_err(|e| e.to_string())?;
    domain::discovery::set_flag(
        &ctx.db,
        CHANNEL.parse().expect("id"),
        domain::discovery::Role::Source,
        true,
    )
    .await
    .map_err(|e| e.to_string())?;
    let user = domain::accounts::id_for_email(&ctx.db, CUSTOMER_EMAIL)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(uid) = user
        && domain::entitlements::access_at(&ctx.db, uid, Utc::now())
            .await
            .map_err(|e| e.to_string())?
            .is_none()
    {
        let tier = domain::entitlements::tiers(&ctx.db).await.map_err(|e| e.to_string())?;
        let pro = tier.iter().max_by_key(|t| t.rank).ok_or("no tiers")?;
        domain::entitlements::grant(
            &ctx.db,
            domain::entitlements::NewGrant {
                user_id: Some(uid),
                email: CUSTOMER_EMAIL.into(),
                order_id: None,
                tier_id: pro.id,
                days: 30,
                starts_at: Utc::now(),
                cause: domain::entitlements::GrantCause::Admin,
                reason: "demo".into(),
                actor: Some("demo".into()),
                amount_minor: None,
                currency: None,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    Ok((admin, customer, connector))
}

fn message(kind: &str, id: u64, content: &str, edited: bool) -> serde_json::Value {
    json!({
        "type": kind, "guild_id": GUILD, "channel_id": CHANNEL, "message_id": id.to_string(),
        "author": {"id": "1000000000000000050", "name": "Head Trader"},
        "content": content,
        "created_at": Utc::now().to_rfc3339(),
        "edited_at": edited.then(|| Utc::now().to_rfc3339()),
    })
}

/// Posts a signal every `every`, now and then editing or deleting an earlier one.
pub fn spawn_feed(
    ctx: AppContext,
    connector: domain::connectors::Connector,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut next_id = 1_000_000_000_000_000_000_u64 + Utc::now().timestamp_millis() as u64;
        let mut posted: Vec<(u64, String)> = Vec::new();
        loop {
            let value = {
                let mut rng = rand::thread_rng();
                let roll: f64 = rng.r#gen();
                if roll < 0.2 && !posted.is_empty() {
                    let (id, text) = posted[rng.gen_range(0..posted.len())].clone();
                    message(
                        "message_update",
                        id,
                        &format!("{text}\nUPDATE: move stop to entry"),
                        true,
                    )
                } else if roll < 0.3 && posted.len() > 3 {
                    let (id, _) = posted.remove(0);
                    json!({"type": "message_delete", "guild_id": GUILD, "channel_id": CHANNEL, "message_id": id.to_string()})
                } else {
                    let (pair, price) = PAIRS[rng.gen_range(0..PAIRS.len())];
                    let entry = price * rng.gen_range(0.97..1.03);
                    let long = rng.gen_bool(0.6);
                    let (tp, sl) = if long {
                        (entry * 1.03, entry * 0.98)
                    } else {
                        (entry * 0.97, entry * 1.02)
                    };
                    let text = format!(
                        "{} {pair}/USDT — entry {entry:.2} | TP {tp:.2} | SL {sl:.2}",
                        if long { "LONG" } else { "SHORT" }
                    );
                    next_id += 1;
                    posted.push((next_id, text.clone()));
                    message("message_create", next_id, &text, false)
                }
            };
            let event: Result<Event, _> = ingest::parse(value, Utc::now());
            if let Err(e) = ingest::ingest(&ctx.db, &ctx.feed, &connector, vec![event]).await {
                tracing::warn!(error = %e, "demo feed could not post");
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// The demo's customers' server in the fake Discord, and its tier roles (lowest first).
const DEMO_GUILD: i64 = 1_000_000_000_000_000_101;
const DEMO_ROLES: &[(&str, i64)] = &[
    ("basic", 1_000_000_000_000_000_111),
    ("advanced", 1_000_000_000_000_000_112),
    ("pro", 1_000_000_000_000_000_113),
];

// The credentials the fake Discord accepts (testkit::discord's constants; testkit is a dev-only
// crate, so the server binary names them here, and `demo_starts_the_fake_discord` checks them).
pub const FAKE_CLIENT_ID: &str = "900000000000000001";
pub const FAKE_CLIENT_SECRET: &str = "fake-client-secret";
pub const FAKE_BOT_TOKEN: &str = "fake-bot-token";

/// The processes the demo started beside the server (the fake Discord and a bot); they stop
/// when this is dropped.
#[derive(Default)]
pub struct Helpers {
    children: Vec<std::process::Child>,
    pub discord_url: Option<String>,
}

impl Drop for Helpers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A sibling binary of this one (`cargo build -p testkit -p bot` puts them side by side).
fn sibling(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::current_exe().ok()?.parent()?.join(name);
    path.is_file().then_some(path)
}

/// Starts the fake Discord (testkit) unless real Discord is configured, and points this
/// server's Discord settings at it, so a newcomer can link a demo Discord account and watch
/// the tier role arrive. Says what is missing instead of failing: the demo still runs.
pub fn start_fake_discord(config: &mut domain::Config) -> Helpers {
    let mut helpers = Helpers::default();
    if config.discord_bot_token.is_some() || config.discord_oauth.is_some() {
        println!("demo: Discord is configured, so the fake Discord is not started");
        return helpers;
    }
    let Some(testkit) = sibling("testkit") else {
        println!(
            "demo: no fake Discord (build it once with `cargo build -p testkit -p bot` to link a demo Discord account)"
        );
        return helpers;
    };
    let callback = format!(
        "{}/account/discord/callback",
        config.public_url.as_str().trim_end_matches('/')
    );
    let roles: Vec<String> = DEMO_ROLES.iter().map(|(n, id)| format!("{n}={id}")).collect();
    let spawned = std::process::Command::new(testkit)
        .args(["discord", "--port", "0", "--guild", &DEMO_GUILD.to_string()])
        .args(["--roles", &roles.join(","), "--redirect-uri", &callback])
        .stdout(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            println!("demo: cannot start the fake Discord: {e}");
            return helpers;
        }
    };
    // Its first line is `discord http://127.0.0.1:PORT`.
    let mut line = String::new();
    let read = child
        .stdout
        .take()
        .map(|out| std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line));
    let url = line.trim().strip_prefix("discord ").map(str::to_owned);
    helpers.children.push(child);
    let (Some(Ok(_)), Some(url)) = (read, url) else {
        println!("demo: the fake Discord did not say where it listens");
        return helpers;
    };
    match url::Url::parse(&url) {
        Ok(api) => config.discord_api_url = api,
        Err(e) => {
            println!("demo: the fake Discord's address {url} is unreadable: {e}");
            return helpers;
        }
    }
    config.discord_oauth = Some(domain::config::DiscordOauth {
        client_id: FAKE_CLIENT_ID.into(),
        client_secret: domain::Secret::new(FAKE_CLIENT_SECRET.into()),
    });
    // The server adds a linking customer to the customers' server with the bot's token.
    config.discord_bot_token = Some(domain::Secret::new(FAKE_BOT_TOKEN.into()));
    config.customer_guild_id = Some(DEMO_GUILD);
    config.tier_roles = DEMO_ROLES.iter().map(|(n, id)| ((*n).to_owned(), *id)).collect();
    helpers.discord_url = Some(url);
    helpers
}

/// Starts a bot process against the fake Discord and this server's database (after the server
/// has migrated it).
pub fn start_bot(helpers: &mut Helpers) {
    let Some(url) = helpers.discord_url.clone() else {
        return;
    };
    let Some(bot) = sibling("bot") else {
        println!("demo: no bot binary (cargo build -p bot): linking works, roles are not given");
        return;
    };
    let roles: Vec<String> = DEMO_ROLES.iter().map(|(n, id)| format!("{n}={id}")).collect();
    match std::process::Command::new(bot)
        .env("DISCORD_BOT_TOKEN", FAKE_BOT_TOKEN)
        .env("DISCORD_API_URL", &url)
        .env("CUSTOMER_GUILD_ID", DEMO_GUILD.to_string())
        .env("TIER_ROLES", roles.join(","))
        .spawn()
    {
        Ok(child) => {
            helpers.children.push(child);
            println!(
                "demo: fake Discord at {url} (members and their roles: {url}/_fake/state) with a bot giving tier roles"
            );
            println!(
                "demo: as the customer, open /account and press \"Link Discord\"; any name signs in on the fake Discord's page"
            );
        }
        Err(e) => println!("demo: cannot start the bot: {e}"),
    }
}
