//! The process configuration: one typed struct, layered defaults → optional TOML file
//! (`CONFIG_FILE`) → environment (with `.env` for local development), validated once at start-up.
//! Every problem is reported as one line naming the setting and what it expects.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use url::Url;

use crate::secret::Secret;

/// Every setting the process reads, with its default and what it expects. The README's
/// configuration table mirrors this list; `config::tests::readme_lists_every_setting` keeps them in step.
pub const SETTINGS: &[Setting] = &[
    Setting::new("APP_NAME", Some("SignalDesk"), "product name shown in pages and titles"),
    Setting::new(
        "BIND_ADDR",
        Some("127.0.0.1:3000"),
        "address:port the web server listens on",
    ),
    Setting::new(
        "PUBLIC_URL",
        None,
        "absolute URL customers use (http[s]://host[:port]); defaults to http://BIND_ADDR",
    ),
    Setting::new(
        "DATABASE_URL",
        None,
        "postgres://user:pass@host/db, or sqlite://path; unset = SQLite file in DATA_DIR",
    ),
    Setting::new("DATA_DIR", Some("data"), "directory for the default SQLite database"),
    Setting::new(
        "DATABASE_POOL_SIZE",
        None,
        "maximum database connections (default 4 on SQLite, 10 on PostgreSQL)",
    ),
    Setting::new(
        "RUN_MIGRATIONS",
        Some("true"),
        "apply pending migrations at start-up (true/false)",
    ),
    Setting::new(
        "SITE_ROOT",
        Some("target/site"),
        "directory with the built site (pkg/, CSS, static files)",
    ),
    Setting::new("LOG_FORMAT", Some("text"), "text or json"),
    Setting::new("DISCORD_BOT_TOKEN", None, "bot token; the bot stays idle without it"),
    Setting::new(
        "DISCORD_API_URL",
        Some("https://discord.com"),
        "Discord's base URL (REST under /api/v10, OAuth under /oauth2); a local fake in tests and the demo",
    ),
    Setting::new(
        "DISCORD_CLIENT_ID",
        None,
        "OAuth2 application id for \"Link Discord\"; linking is off without it",
    ),
    Setting::new("DISCORD_CLIENT_SECRET", None, "OAuth2 application secret"),
    Setting::new(
        "DISCORD_REQUESTS_PER_SECOND",
        Some("50"),
        "Discord's global request limit for the bot token, shared by every running bot process (1-10000)",
    ),
    Setting::new(
        "JOB_LEASE_SECONDS",
        Some("60"),
        "how long a bot worker holds a job before another may take it over (5-3600; heartbeats renew it)",
    ),
    Setting::new(
        "SELLAPP_WEBHOOK_SECRETS",
        None,
        "Sell.app webhook secret(s), comma-separated during a rotation; unset = every webhook refused",
    ),
    Setting::new(
        "SELLAPP_API_URL",
        Some("https://sell.app/api"),
        "Sell.app API base URL (reconciliation)",
    ),
    Setting::new(
        "SELLAPP_API_KEY",
        None,
        "Sell.app API key; reconciliation is off without it",
    ),
    Setting::new(
        "STOREFRONT_URL",
        None,
        "where customers buy access (linked from plans and the account page)",
    ),
    Setting::new(
        "CUSTOMER_GUILD_ID",
        None,
        "the customers' Discord server where tier roles are given; unset = no role sync",
    ),
    Setting::new(
        "TIER_ROLES",
        None,
        "Discord role per tier, e.g. basic=111,advanced=222,pro=333 (role ids)",
    ),
    Setting::new(
        "METRICS_TOKEN",
        None,
        "bearer token /metrics on the public port asks for; unset = /metrics is not served there",
    ),
    Setting::new(
        "METRICS_ADDR",
        None,
        "a separate address:port (e.g. 127.0.0.1:9100) serving /metrics without a token, for a private scraper",
    ),
    Setting::new(
        "HTTP_IDLE_TIMEOUT",
        Some("10"),
        "seconds a client has to send a request's headers, and a kept-alive connection may sit idle",
    ),
    Setting::new(
        "HTTP_REQUEST_TIMEOUT",
        Some("30"),
        "seconds a whole request (body included) may take before it is answered 408",
    ),
    Setting::new(
        "FEED_MAX_PER_USER",
        Some("5"),
        "live-feed websockets one account may hold open in one server process",
    ),
    Setting::new(
        "FEED_MAX_CONNECTIONS",
        Some("20000"),
        "live-feed websockets one server process holds at most",
    ),
    Setting::new(
        "FEED_RECHECK_SECONDS",
        Some("300"),
        "seconds between two checks of every open feed's session and access in one read (a backstop: revocations reach open feeds at once without it)",
    ),
    Setting::new(
        "SIGN_UPS_PER_ADDRESS",
        Some("5"),
        "new accounts one client address may make in 15 minutes",
    ),
    Setting::new(
        "TRUSTED_PROXIES",
        None,
        "reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For is believed; unset = none",
    ),
    Setting::new(
        "SMTP_URL",
        None,
        "mail server: smtp://user:pass@host:port (?tls=required for STARTTLS) or smtps://…; unset = mail only logged",
    ),
    Setting::new(
        "MAIL_FROM",
        None,
        "sender of verification and reset mail, e.g. SignalDesk <no-reply@example.com>; default: APP_NAME <no-reply@PUBLIC_URL host>",
    ),
    Setting::new(
        "ATTACHMENT_SOURCES",
        Some(crate::ingest::attachment::DISCORD_CDN),
        "origins attachments are fetched from (comma-separated; redirects elsewhere are refused)",
    ),
    Setting::new(
        "ATTACHMENT_MAX_BYTES",
        Some("26214400"),
        "largest attachment fetched and stored, in bytes (larger ones are marked unavailable)",
    ),
    Setting::new(
        "ATTACHMENT_FETCH_TIMEOUT",
        Some("30"),
        "seconds one attachment fetch may take in all (a slower source is given up on and retried later)",
    ),
    Setting::new(
        "ATTACHMENT_ALLOW_PRIVATE",
        Some("false"),
        "true lets attachment fetches connect to loopback, private and link-local addresses (local test setups only)",
    ),
    Setting::new(
        "BLOB_STORE_URL",
        None,
        "where fetched attachments are kept: s3://bucket[/prefix] (credentials from the AWS_* variables); unset = DATA_DIR/blobs",
    ),
    Setting::new(
        "CAPTURE_RECHECK_MESSAGES",
        Some("100"),
        "after each reconnect the bot re-reads this many newest messages per source channel, applying edits and marking the ones Discord no longer has deleted (0-1000; 0 = off)",
    ),
    Setting::new(
        "CAPTURE_SWEEP_SECONDS",
        Some("60"),
        "how often the capturing bot re-reads each source channel after its cursor, a net under any event it failed to store (10-3600)",
    ),
    Setting::new(
        "REMINDER_DAYS",
        Some("7,1"),
        "days before a customer's access ends to remind them (e-mail, and a Discord DM when linked), comma-separated 1-90; off = no reminders",
    ),
    Setting::new(
        "PAYMENT_ALERT_THRESHOLD",
        Some("10"),
        "webhook failures + signature rejections in 15 minutes that raise the alert",
    ),
];

#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    pub default: Option<&'static str>,
    pub help: &'static str,
}

impl Setting {
    const fn new(name: &'static str, default: Option<&'static str>, help: &'static str) -> Self {
        Self { name, default, help }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("configuration error: {var}: expected {expected}, got {got}")]
    Invalid {
        var: &'static str,
        expected: &'static str,
        /// What was found, already made safe to print (never a secret).
        got: String,
    },
    #[error("configuration error: CONFIG_FILE {path}: {reason}")]
    File { path: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the data lives. The URL of PostgreSQL carries a password, so it stays a `Secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Sqlite { path: PathBuf },
    Postgres { url: Secret<String> },
}

/// Where fetched attachments are kept, content-addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobStoreTarget {
    /// A directory on this machine (one machine, or a shared volume).
    Local(PathBuf),
    /// S3-compatible object storage, for many machines: `s3://bucket[/prefix]`.
    S3 { bucket: String, prefix: String },
}

/// The Discord OAuth2 application customers link their accounts through.
#[derive(Debug, Clone)]
pub struct DiscordOauth {
    pub client_id: String,
    pub client_secret: Secret<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub app_name: String,
    pub bind_addr: SocketAddr,
    pub public_url: Url,
    pub database: DatabaseTarget,
    pub pool_size: u32,
    pub run_migrations: bool,
    pub site_root: PathBuf,
    pub log_format: LogFormat,
    pub discord_bot_token: Option<Secret<String>>,
    /// `https://discord.com`, or a local fake: REST under `/api/v10`, OAuth under `/oauth2`.
    pub discord_api_url: Url,
    /// The OAuth2 application for account linking; `None` = linking is off.
    pub discord_oauth: Option<DiscordOauth>,
    /// Discord's global limit for the bot token; the bot processes share it.
    pub discord_requests_per_second: u32,
    /// How long a worker holds a job before another may take it over (J2).
    pub job_lease: std::time::Duration,
    /// Every secret a webhook signature may be made with (more than one during a rotation).
    pub sellapp_webhook_secrets: Vec<Secret<String>>,
    pub sellapp_api_url: Url,
    pub sellapp_api_key: Option<Secret<String>>,
    pub storefront_url: Option<Url>,
    pub payment_alert_threshold: u64,
    pub customer_guild_id: Option<i64>,
    /// Tier slug → Discord role id.
    pub tier_roles: Vec<(String, i64)>,
    /// The mail server (its URL may carry a password); `None` = mail is only logged.
    pub smtp_url: Option<Secret<String>>,
    /// `Name <address>` that verification and reset mail comes from.
    pub mail_from: String,
    /// Proxies whose `X-Forwarded-For` names the client (empty: the peer is the client).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub http_idle_timeout: std::time::Duration,
    pub http_request_timeout: std::time::Duration,
    pub feed_max_per_user: usize,
    pub feed_max_connections: usize,
    /// How often the process checks every open feed socket's session and access at once.
    pub feed_recheck: std::time::Duration,
    pub sign_ups_per_address: usize,
    /// `/metrics` on the public listener needs this bearer token; `None` = not served there.
    pub metrics_token: Option<Secret<String>>,
    /// A listener of its own for `/metrics` (no token), on a private address.
    pub metrics_addr: Option<SocketAddr>,
    /// Origins attachments may be fetched from (scheme, host and port).
    pub attachment_sources: Vec<url::Origin>,
    pub attachment_max_bytes: u64,
    /// Newest messages per source channel the capture re-checks after a reconnect (0: off).
    pub capture_recheck_messages: usize,
    /// How often the capture re-reads each source channel after its cursor.
    pub capture_sweep: std::time::Duration,
    pub attachment_fetch_timeout: std::time::Duration,
    /// Attachment fetches may connect to loopback, private and link-local addresses (never by
    /// default: an allowed name that resolves inside our network would be an SSRF).
    pub attachment_allow_private: bool,
    pub blob_store: BlobStoreTarget,
    /// Days before the end of access a reminder goes out, largest first; empty = off.
    pub reminder_days: Vec<u32>,
}

impl Config {
    /// Loads `.env` (never overriding the real environment), then `CONFIG_FILE`, then the environment.
    pub fn load() -> Result<Self, ConfigError> {
        // A missing .env is the normal case outside local development.
        let _ = dotenvy::dotenv();
        let file = match std::env::var("CONFIG_FILE") {
            Ok(path) if !path.is_empty() => read_file(Path::new(&path))?,
            _ => BTreeMap::new(),
        };
        Self::from_sources(&file, |name| std::env::var(name).ok())
    }

    /// The pure part of loading, for tests: file values first, then `env` overrides them.
    pub fn from_sources(
        file: &BTreeMap<String, String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &'static str| -> Option<String> {
            let setting = SETTINGS.iter().find(|s| s.name == name).expect("known setting");
            env(name)
                .or_else(|| file.get(name).cloned())
                .filter(|v| !v.trim().is_empty())
                .or_else(|| setting.default.map(str::to_owned))
        };

        let app_name = get("APP_NAME").unwrap_or_default().trim().to_owned();
        if app_name.chars().count() > 64 {
            return Err(invalid(
                "APP_NAME",
                "at most 64 characters",
                format!("{} characters", app_name.chars().count()),
            ));
        }

        // cargo-leptos passes the address it serves on as LEPTOS_SITE_ADDR; honour it when
        // BIND_ADDR is not set explicitly so `cargo leptos watch` just works.
        let bind_raw = env("BIND_ADDR")
            .or_else(|| file.get("BIND_ADDR").cloned())
            .or_else(|| env("LEPTOS_SITE_ADDR"))
            .unwrap_or_else(|| "127.0.0.1:3000".into());
        let bind_addr: SocketAddr = bind_raw
            .trim()
            .parse()
            .map_err(|_| invalid("BIND_ADDR", "an address:port such as 127.0.0.1:3000", quoted(&bind_raw)))?;

        let public_url = match get("PUBLIC_URL") {
            Some(raw) => parse_public_url(&raw)?,
            None => Url::parse(&format!("http://{bind_addr}")).expect("socket address forms a URL"),
        };

        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_default());
        let database = match get("DATABASE_URL") {
            None => DatabaseTarget::Sqlite {
                path: data_dir.join("signaldesk.db"),
            },
            Some(raw) => parse_database_url(raw.trim())?,
        };

        let pool_size = match get("DATABASE_POOL_SIZE") {
            None => match database {
                DatabaseTarget::Sqlite { .. } => 4,
                DatabaseTarget::Postgres { .. } => 10,
            },
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=500).contains(n))
                .ok_or_else(|| invalid("DATABASE_POOL_SIZE", "a whole number from 1 to 500", quoted(&raw)))?,
        };

        let run_migrations = parse_bool("RUN_MIGRATIONS", &get("RUN_MIGRATIONS").unwrap_or_default())?;

        let site_root = PathBuf::from(
            env("SITE_ROOT")
                .or_else(|| file.get("SITE_ROOT").cloned())
                .or_else(|| env("LEPTOS_SITE_ROOT"))
                .unwrap_or_else(|| "target/site".into()),
        );

        let log_format = match get("LOG_FORMAT")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(invalid("LOG_FORMAT", "text or json", quoted(other))),
        };

        let discord_bot_token = get("DISCORD_BOT_TOKEN").map(|t| Secret::new(t.trim().to_owned()));
        let sellapp_webhook_secrets: Vec<Secret<String>> = get("SELLAPP_WEBHOOK_SECRETS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Secret::new(s.to_owned()))
            .collect();
        let http_url = |name: &'static str, raw: String| -> Result<Url, ConfigError> {
            Url::parse(raw.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| invalid(name, "an absolute http(s) URL", quoted(&raw)))
        };
        let sellapp_api_url = http_url("SELLAPP_API_URL", get("SELLAPP_API_URL").unwrap_or_default())?;
        let discord_api_url = http_url("DISCORD_API_URL", get("DISCORD_API_URL").unwrap_or_default())?;
        let discord_oauth = match (get("DISCORD_CLIENT_ID"), get("DISCORD_CLIENT_SECRET")) {
            (Some(id), Some(secret)) => Some(DiscordOauth {
                client_id: id.trim().to_owned(),
                client_secret: Secret::new(secret.trim().to_owned()),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "DISCORD_CLIENT_SECRET",
                    "set with DISCORD_CLIENT_ID",
                    "unset".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "DISCORD_CLIENT_ID",
                    "set with DISCORD_CLIENT_SECRET",
                    "unset".into(),
                ));
            }
        };
        let sellapp_api_key = get("SELLAPP_API_KEY").map(|k| Secret::new(k.trim().to_owned()));
        let storefront_url = get("STOREFRONT_URL")
            .map(|u| http_url("STOREFRONT_URL", u))
            .transpose()?;
        let raw = get("PAYMENT_ALERT_THRESHOLD").unwrap_or_default();
        let payment_alert_threshold = raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| invalid("PAYMENT_ALERT_THRESHOLD", "a whole number of at least 1", quoted(&raw)))?;
        let snowflake = |name: &'static str, raw: &str| -> Result<i64, ConfigError> {
            raw.trim()
                .parse::<crate::snowflake::Snowflake>()
                .map(|s| s.get())
                .map_err(|_| invalid(name, "a Discord id (digits)", quoted(raw)))
        };
        let customer_guild_id = get("CUSTOMER_GUILD_ID")
            .map(|g| snowflake("CUSTOMER_GUILD_ID", &g))
            .transpose()?;
        let mut tier_roles = Vec::new();
        for pair in get("TIER_ROLES")
            .unwrap_or_default()
            .split(',')
            .filter(|p| !p.trim().is_empty())
        {
            let Some((slug, role)) = pair.split_once('=') else {
                return Err(invalid(
                    "TIER_ROLES",
                    "tier=role_id pairs separated by commas",
                    quoted(pair),
                ));
            };
            tier_roles.push((slug.trim().to_lowercase(), snowflake("TIER_ROLES", role)?));
        }

        let smtp_url = match get("SMTP_URL") {
            Some(raw) => {
                let raw = raw.trim().to_owned();
                let scheme_ok = raw.starts_with("smtp://") || raw.starts_with("smtps://");
                if !scheme_ok || crate::mail::check_url(&raw).is_err() {
                    // Never echo the value: it may hold the mail server's password.
                    return Err(invalid(
                        "SMTP_URL",
                        "smtp://[user:password@]host[:port][?tls=required] or smtps://…",
                        "a value that is not such a URL".into(),
                    ));
                }
                Some(Secret::new(raw))
            }
            None => None,
        };
        let mail_from = get("MAIL_FROM").unwrap_or_else(|| {
            format!(
                "{} <no-reply@{}>",
                app_name.replace(['<', '>', '"', ','], ""),
                public_url.host_str().unwrap_or("localhost")
            )
        });
        if crate::mail::parse_from(&mail_from).is_err() {
            return Err(invalid(
                "MAIL_FROM",
                "Name <address@example.com> or address@example.com",
                quoted(&mail_from),
            ));
        }

        let whole = |name: &'static str, expected: &'static str, range: std::ops::RangeInclusive<u64>| {
            let raw = get(name).unwrap_or_default();
            raw.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| invalid(name, expected, quoted(&raw)))
        };
        let http_idle_timeout = std::time::Duration::from_secs(whole(
            "HTTP_IDLE_TIMEOUT",
            "a number of seconds from 1 to 3600",
            1..=3600,
        )?);
        let http_request_timeout = std::time::Duration::from_secs(whole(
            "HTTP_REQUEST_TIMEOUT",
            "a number of seconds from 1 to 3600",
            1..=3600,
        )?);
        let discord_requests_per_second = whole(
            "DISCORD_REQUESTS_PER_SECOND",
            "a whole number from 1 to 10000",
            1..=10_000,
        )? as u32;
        let job_lease = std::time::Duration::from_secs(whole(
            "JOB_LEASE_SECONDS",
            "a whole number of seconds from 5 to 3600",
            5..=3600,
        )?);
        let feed_max_per_user = whole("FEED_MAX_PER_USER", "a whole number from 1 to 1000000", 1..=1_000_000)? as usize;
        let feed_max_connections = whole(
            "FEED_MAX_CONNECTIONS",
            "a whole number from 1 to 1000000",
            1..=1_000_000,
        )? as usize;
        let feed_recheck = std::time::Duration::from_secs(whole(
            "FEED_RECHECK_SECONDS",
            "a whole number of seconds from 1 to 86400",
            1..=86_400,
        )?);
        let sign_ups_per_address =
            whole("SIGN_UPS_PER_ADDRESS", "a whole number from 1 to 100000", 1..=100_000)? as usize;
        let metrics_token = get("METRICS_TOKEN").map(|t| Secret::new(t.trim().to_owned()));
        if metrics_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            return Err(invalid(
                "METRICS_TOKEN",
                "at least 16 characters (it guards /metrics on the public port)",
                "a shorter value".into(),
            ));
        }
        let metrics_addr = get("METRICS_ADDR")
            .map(|raw| {
                raw.trim()
                    .parse::<SocketAddr>()
                    .map_err(|_| invalid("METRICS_ADDR", "an address:port such as 127.0.0.1:9100", quoted(&raw)))
            })
            .transpose()?;
        let trusted_proxies = crate::client_address::parse_trusted(&get("TRUSTED_PROXIES").unwrap_or_default())
            .map_err(|bad| {
                invalid(
                    "TRUSTED_PROXIES",
                    "IP addresses or CIDR ranges, comma-separated",
                    quoted(&bad),
                )
            })?;

        let attachment_sources = get("ATTACHMENT_SOURCES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|raw| {
                Url::parse(raw)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some() && u.path() == "/")
                    .map(|u| u.origin())
                    .ok_or_else(|| {
                        invalid(
                            "ATTACHMENT_SOURCES",
                            "origins such as https://cdn.discordapp.com, comma-separated",
                            quoted(raw),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let attachment_max_bytes = whole(
            "ATTACHMENT_MAX_BYTES",
            "a number of bytes from 1 to 524288000",
            1..=524_288_000,
        )?;
        let attachment_fetch_timeout = std::time::Duration::from_secs(whole(
            "ATTACHMENT_FETCH_TIMEOUT",
            "a number of seconds from 1 to 300",
            1..=300,
        )?);
        let attachment_allow_private = parse_bool(
            "ATTACHMENT_ALLOW_PRIVATE",
            &get("ATTACHMENT_ALLOW_PRIVATE").unwrap_or_default(),
        )?;
        let capture_recheck_messages = whole(
            "CAPTURE_RECHECK_MESSAGES",
            "a number of messages from 0 to 1000",
            0..=1000,
        )? as usize;
        let capture_sweep = std::time::Duration::from_secs(whole(
            "CAPTURE_SWEEP_SECONDS",
            "a number of seconds from 10 to 3600",
            10..=3600,
        )?);
        let reminder_days = parse_reminder_days(&get("REMINDER_DAYS").unwrap_or_default())?;
        let blob_store = match get("BLOB_STORE_URL") {
            None => BlobStoreTarget::Local(data_dir.join("blobs")),
            Some(raw) => {
                let bad = || invalid("BLOB_STORE_URL", "s3://bucket or s3://bucket/prefix", quoted(&raw));
                let url = Url::parse(raw.trim()).map_err(|_| bad())?;
                match (url.scheme(), url.host_str()) {
                    ("s3", Some(bucket)) if !bucket.is_empty() => BlobStoreTarget::S3 {
                        bucket: bucket.to_owned(),
                        prefix: url.path().trim_matches('/').to_owned(),
                    },
                    _ => return Err(bad()),
                }
            }
        };

        Ok(Self {
            attachment_sources,
            attachment_max_bytes,
            attachment_fetch_timeout,
            attachment_allow_private,
            capture_recheck_messages,
            capture_sweep,
            blob_store,
            reminder_days,
            app_name,
            bind_addr,
            public_url,
            database,
            pool_size,
            run_migrations,
            site_root,
            log_format,
            discord_bot_token,
            discord_api_url,
            discord_oauth,
            discord_requests_per_second,
            job_lease,
            sellapp_webhook_secrets,
            sellapp_api_url,
            sellapp_api_key,
            storefront_url,
            payment_alert_threshold,
            customer_guild_id,
            tier_roles,
            smtp_url,
            mail_from,
            trusted_proxies,
            http_idle_timeout,
            http_request_timeout,
            feed_max_per_user,
            feed_max_connections,
            feed_recheck,
            sign_ups_per_address,
            metrics_token,
            metrics_addr,
        })
    }

    /// For binaries: the validated config, or the one-line error on stderr and exit code 2.
    pub fn load_or_exit() -> Self {
        Self::load().unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        })
    }

    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

fn invalid(var: &'static str, expected: &'static str, got: String) -> ConfigError {
    ConfigError::Invalid { var, expected, got }
}

fn quoted(value: &str) -> String {
    // Bounded so a pasted blob cannot flood the one error line.
    let short: String = value.chars().take(80).collect();
    format!("{short:?}")
}

/// `7,1` → [7, 1]; `off` → none. Each a whole number of days from 1 to 90, no repeats.
fn parse_reminder_days(raw: &str) -> Result<Vec<u32>, ConfigError> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("off") {
        return Ok(Vec::new());
    }
    let bad = || {
        invalid(
            "REMINDER_DAYS",
            "whole days from 1 to 90, comma-separated (e.g. 7,1), or off",
            quoted(raw),
        )
    };
    let mut days = raw
        .split(',')
        .map(|d| {
            d.trim()
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=90).contains(d))
                .ok_or_else(bad)
        })
        .collect::<Result<Vec<_>, _>>()?;
    days.sort_unstable_by(|a, b| b.cmp(a));
    let before = days.len();
    days.dedup();
    if days.len() != before {
        return Err(bad());
    }
    Ok(days)
}

fn parse_bool(var: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(var, "true or false", quoted(raw))),
    }
}

fn parse_public_url(raw: &str) -> Result<Url, ConfigError> {
    const EXPECTED: &str = "an absolute http:// or https:// URL such as https://signals.example.com";
    let url = Url::parse(raw.trim()).map_err(|_| invalid("PUBLIC_URL", EXPECTED, quoted(raw)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("PUBLIC_URL", EXPECTED, quoted(raw)));
    }
    Ok(url)
}

/// Accepts PostgreSQL and SQLite URLs. Error messages show the scheme at most: the rest may hold a password.
fn parse_database_url(raw: &str) -> Result<DatabaseTarget, ConfigError> {
    const EXPECTED: &str = "postgres://user:password@host:port/database or sqlite://path/to/file.db";
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err(invalid("DATABASE_URL", EXPECTED, "a value without a scheme".into()));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => {
            let url = Url::parse(raw)
                .map_err(|e| invalid("DATABASE_URL", EXPECTED, format!("an unparseable postgres URL ({e})")))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(invalid(
                    "DATABASE_URL",
                    EXPECTED,
                    "a postgres URL without a host".into(),
                ));
            }
            if url.path().trim_start_matches('/').is_empty() {
                return Err(invalid(
                    "DATABASE_URL",
                    EXPECTED,
                    "a postgres URL without a database name".into(),
                ));
            }
            Ok(DatabaseTarget::Postgres {
                url: Secret::new(raw.to_owned()),
            })
        }
        "sqlite" => {
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(invalid(
                    "DATABASE_URL",
                    "a SQLite file path (in-memory databases lose every signal on restart)",
                    quoted(raw),
                ));
            }
            Ok(DatabaseTarget::Sqlite {
                path: PathBuf::from(path),
            })
        }
        _ => Err(invalid("DATABASE_URL", EXPECTED, format!("scheme {scheme:?}"))),
    }
}

/// Reads the optional TOML file. Keys are the setting names, in any case; unknown keys are
/// errors so a typo never silently falls back to a default.
fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let file_error = |reason: String| ConfigError::File {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(format!("cannot read it ({e})")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| file_error(format!("not valid TOML ({})", e.message())))?;
    let mut values = BTreeMap::new();
    for (key, value) in table {
        let name = key.to_ascii_uppercase();
        if !SETTINGS.iter().any(|s| s.name == name) {
            return Err(file_error(format!("unknown setting {key:?}")));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => return Err(file_error(format!("{key:?} must be a string, number or boolean"))),
        };
        values.insert(name, text);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_sources(&BTreeMap::new(), move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_safe_and_local() {
        let c = from_env(&[]).unwrap();
        assert_eq!(c.bind_addr, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(
            c.database,
            DatabaseTarget::Sqlite {
                path: PathBuf::from("data/signaldesk.db")
            }
        );
        assert_eq!(c.pool_size, 4);
        assert!(c.run_migrations);
        assert!(
            !c.attachment_allow_private,
            "attachment fetches reach public addresses only"
        );
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(!c.is_https());
        assert!(c.discord_bot_token.is_none());
        // Attachments come only over https from Discord's own hosts, into DATA_DIR.
        let sources: Vec<String> = c.attachment_sources.iter().map(|o| o.ascii_serialization()).collect();
        assert_eq!(sources, ["https://cdn.discordapp.com", "https://media.discordapp.net"]);
        assert_eq!(c.blob_store, BlobStoreTarget::Local(PathBuf::from("data/blobs")));
        let s3 = from_env(&[("BLOB_STORE_URL", "s3://signals/blobs/")]).unwrap();
        assert_eq!(
            s3.blob_store,
            BlobStoreTarget::S3 {
                bucket: "signals".into(),
                prefix: "blobs".into()
            }
        );
    }

    #[test]
    fn reminder_days_default_to_a_week_and_a_day_and_can_be_turned_off() {
        assert_eq!(from_env(&[]).unwrap().reminder_days, [7, 1]);
        assert_eq!(
            from_env(&[("REMINDER_DAYS", " 1, 14 ,3")]).unwrap().reminder_days,
            [14, 3, 1]
        );
        assert!(from_env(&[("REMINDER_DAYS", "OFF")]).unwrap().reminder_days.is_empty());
    }

    #[test]
    fn environment_overrides_file() {
        let file = BTreeMap::from([
            ("APP_NAME".to_string(), "From File".to_string()),
            ("LOG_FORMAT".into(), "json".into()),
        ]);
        let c = Config::from_sources(&file, |k| (k == "APP_NAME").then(|| "From Env".to_string())).unwrap();
        assert_eq!(c.app_name, "From Env");
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn wrong_database_scheme_names_the_variable() {
        let err = from_env(&[("DATABASE_URL", "mysql://root:pw@localhost/x")]).unwrap_err();
        let line = err.to_string();
        assert!(
            line.starts_with("configuration error: DATABASE_URL: expected postgres://"),
            "{line}"
        );
        assert!(line.contains("\"mysql\""), "{line}");
        assert!(!line.contains("pw"), "secret leaked: {line}");
    }

    #[test]
    fn malformed_values_give_one_line_each() {
        for (var, value) in [
            ("BIND_ADDR", "localhost"),
            ("PUBLIC_URL", "ftp://x"),
            ("DATABASE_POOL_SIZE", "0"),
            ("RUN_MIGRATIONS", "maybe"),
            ("LOG_FORMAT", "xml"),
            ("DATABASE_URL", "garbage"),
            ("DATABASE_URL", "postgres://user:pw@/"),
            ("DATABASE_URL", "sqlite://:memory:"),
            ("ATTACHMENT_SOURCES", "ftp://cdn.example"),
            ("ATTACHMENT_SOURCES", "https://cdn.example/attachments"),
            ("ATTACHMENT_MAX_BYTES", "0"),
            ("CAPTURE_RECHECK_MESSAGES", "1001"),
            ("CAPTURE_SWEEP_SECONDS", "1"),
            ("BLOB_STORE_URL", "gs://bucket"),
            ("REMINDER_DAYS", "7,0"),
            ("REMINDER_DAYS", "seven"),
            ("REMINDER_DAYS", "7,7"),
            ("REMINDER_DAYS", "91"),
        ] {
            let err = from_env(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(&format!("{var}: expected")), "{var}={value}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn postgres_url_is_kept_secret() {
        let c = from_env(&[("DATABASE_URL", "postgres://app:s3cret@db.internal:5432/signals")]).unwrap();
        assert!(matches!(c.database, DatabaseTarget::Postgres { .. }));
        assert_eq!(c.pool_size, 10);
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn bot_token_never_prints() {
        let c = from_env(&[("DISCORD_BOT_TOKEN", "MTA.secret.token")]).unwrap();
        assert!(!format!("{c:?}").contains("MTA.secret.token"));
    }

    #[test]
    fn mail_settings_are_checked_and_the_smtp_password_never_prints() {
        let c = from_env(&[]).unwrap();
        assert!(c.smtp_url.is_none(), "no SMTP server: mail is only logged");
        assert_eq!(c.mail_from, "SignalDesk <no-reply@127.0.0.1>");
        let c = from_env(&[
            (
                "SMTP_URL",
                "smtp://mailer:hunter2hunter2@mail.example.com:587?tls=required",
            ),
            ("PUBLIC_URL", "https://signals.example.com"),
        ])
        .unwrap();
        assert!(c.smtp_url.is_some());
        assert_eq!(c.mail_from, "SignalDesk <no-reply@signals.example.com>");
        assert!(!format!("{c:?}").contains("hunter2hunter2"));
        for bad in [
            "http://mail.example.com",
            "smtp://user:hunter2hunter2@:25",
            "smtp://host?tls=sometimes",
        ] {
            let err = from_env(&[("SMTP_URL", bad)]).unwrap_err().to_string();
            assert!(
                err.starts_with("configuration error: SMTP_URL: expected"),
                "{bad}: {err}"
            );
            assert!(!err.contains("hunter2hunter2"), "secret leaked: {err}");
        }
        let err = from_env(&[("MAIL_FROM", "not an address")]).unwrap_err().to_string();
        assert!(err.contains("MAIL_FROM: expected"), "{err}");
    }

    #[test]
    fn https_public_url_is_detected() {
        let c = from_env(&[("PUBLIC_URL", "https://signals.example.com")]).unwrap();
        assert!(c.is_https());
    }

    #[test]
    fn config_file_rejects_unknown_keys_and_reads_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "app_name = \"Filed\"\ndatabase_pool_size = 7\n").unwrap();
        let values = read_file(&path).unwrap();
        assert_eq!(values["APP_NAME"], "Filed");
        assert_eq!(values["DATABASE_POOL_SIZE"], "7");

        std::fs::write(&path, "app_nmae = \"typo\"\n").unwrap();
        let err = read_file(&path).unwrap_err().to_string();
        assert!(err.contains("unknown setting \"app_nmae\""), "{err}");
    }

    #[test]
    fn readme_lists_every_setting() {
        let readme = include_str!("../../README.md");
        for s in SETTINGS {
            assert!(
                readme.contains(&format!("`{}`", s.name)),
                "README.md configuration table misses {}",
                s.name
            );
        }
    }
}
