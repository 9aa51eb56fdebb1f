//! The operator's command line: serve (the default), migrate, and admin account management.
//! There are no default credentials: the first admin is made here.

use std::io::{IsTerminal, Read};

use base64::Engine;
use clap::{Args, Parser, Subcommand};
use domain::accounts::{self, Role};
use domain::{Config, Secret};
use rand::RngCore;

#[derive(Debug, Parser)]
#[command(name = "server", version, about = "SignalDesk web server and operator tools")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Serve with demo accounts, a demo connector and sample signals posted every few seconds.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app and API (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Manage admin accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage connectors (the collectors that post source events).
    #[command(subcommand)]
    Connector(ConnectorCommand),
    /// Post a JSONL file of events to a running server (backfill, demos).
    Ingest(IngestArgs),
    /// Payment operations.
    #[command(subcommand)]
    Payments(PaymentsCommand),
    /// Give a customer access by hand (recorded as an admin grant with the reason).
    #[command(subcommand)]
    Access(AccessCommand),
    /// Mark discovered channels Source or Target, and set the tier that opens them.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// A consistent copy of the database (SQLite) and the blob store while the server runs; on
    /// PostgreSQL it checks `pg_dump` and prints the commands for the database.
    Backup {
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Restore a backup made by `server backup` (the server stopped). Refuses a database that
    /// holds data unless `--force`.
    Restore {
        #[arg(long)]
        from: std::path::PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Bring existing customers over from another system.
    #[command(subcommand)]
    Import(ImportCommand),
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Customers from a CSV file with the columns email, tier, access_end (a date, meaning the end
    /// of that day UTC, or an RFC 3339 time) and optionally discord_id and sellapp_customer_id.
    /// The whole file is checked first and applied in one transaction; running it again changes
    /// nothing.
    Customers {
        #[arg(long)]
        file: std::path::PathBuf,
        /// Show what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run_import(config: &Config, command: ImportCommand) -> Result<String, String> {
    let ImportCommand::Customers { file, dry_run } = command;
    let text = std::fs::read_to_string(&file).map_err(|e| format!("--file {}: {e}", file.display()))?;
    let db = domain::database::connect(config).await.map_err(|e| e.to_string())?;
    domain::database::migrate(&db).await.map_err(|e| e.to_string())?;
    let tiers = domain::entitlements::tiers(&db).await.map_err(|e| e.to_string())?;
    let rows = domain::import::parse(&text, &tiers, chrono::Utc::now()).map_err(|bad| {
        let mut out = format!(
            "{}: nothing was imported; fix these rows and run it again:",
            file.display()
        );
        for b in &bad {
            out.push_str(&format!("\n  {b}"));
        }
        out
    })?;
    let roles = domain::role_sync::RoleGuild::from_config(config);
    let report = domain::import::apply(&db, roles.as_ref(), &rows, dry_run)
        .await
        .map_err(|e| format!("nothing was imported: {e}"))?;
    db.close().await.ok();
    let mut out = String::new();
    for r in &report.rows {
        let what = match (r.granted, r.waiting) {
            (true, false) => "grant",
            (true, true) => "grant (waits for the customer to sign up and verify the address)",
            (false, _) => "no new grant",
        };
        out.push_str(&format!("line {}: {}: {what}", r.line, r.email));
        for n in &r.notes {
            out.push_str(&format!("; {n}"));
        }
        out.push('\n');
    }
    let verb = if dry_run { "would grant" } else { "granted" };
    out.push_str(&format!(
        "{}{verb} {} of {} rows ({} already imported){}",
        if dry_run { "dry run: " } else { "" },
        report.granted(),
        report.rows.len(),
        report.rows.len() - report.granted(),
        if dry_run { "; nothing was changed" } else { "" }
    ));
    Ok(out)
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Grant days of a tier (by slug: basic, advanced, pro).
    Grant {
        #[arg(long)]
        email: String,
        #[arg(long)]
        tier: String,
        #[arg(long)]
        days: i32,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Flag a channel Source (captured); `--off` clears the flag.
    Source {
        #[arg(long)]
        id: String,
        #[arg(long)]
        off: bool,
    },
    /// Flag a channel Target (mirrored into); `--off` clears the flag.
    Target {
        #[arg(long)]
        id: String,
        #[arg(long)]
        off: bool,
    },
    /// Set the lowest tier that opens a channel (a tier slug, or `every`).
    Tier {
        #[arg(long)]
        id: String,
        #[arg(long)]
        tier: String,
    },
}

pub async fn run_access(config: &Config, command: AccessCommand) -> Result<String, String> {
    let AccessCommand::Grant {
        email,
        tier,
        days,
        reason,
    } = command;
    let reason = domain::entitlements::check_reason(&reason).map_err(|m| format!("--reason: {m}"))?;
    if !(1..=domain::payments::policies::DAYS_MAX).contains(&days) {
        return Err("--days: between 1 and 3650".into());
    }
    let db = domain::database::connect(config).await.map_err(|e| e.to_string())?;
    domain::database::migrate(&db).await.map_err(|e| e.to_string())?;
    let email = email.trim().to_lowercase();
    let tiers = domain::entitlements::tiers(&db).await.map_err(|e| e.to_string())?;
    let Some(t) = tiers.iter().find(|t| t.slug == tier) else {
        let known: Vec<&str> = tiers.iter().map(|t| t.slug.as_str()).collect();
        return Err(format!("--tier: one of {}", known.join(", ")));
    };
    let roles = domain::role_sync::RoleGuild::from_config(config);
    let granted = domain::entitlements::admin_grant(
        &db,
        roles.as_ref(),
        domain::entitlements::NewGrant {
            // admin_grant gives it to the address's proven owner, or leaves it waiting.
            user_id: None,
            email: email.clone(),
            order_id: None,
            tier_id: t.id,
            days,
            starts_at: chrono::Utc::now(),
            cause: domain::entitlements::GrantCause::Admin,
            reason,
            actor: Some("command line".into()),
            amount_minor: None,
            currency: None,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    db.close().await.ok();
    Ok(match granted.and_then(|g| g.user_id) {
        Some(_) => format!("granted {days} days of {} to {email}", t.name),
        None => format!(
            "granted {days} days of {} to {email} (waiting: applies once an account has verified this address)",
            t.name
        ),
    })
}

pub async fn run_channel(config: &Config, command: ChannelCommand) -> Result<String, String> {
    use domain::discovery::Role;
    let parse = |id: &str| {
        id.parse::<domain::snowflake::Snowflake>()
            .map_err(|e| format!("--id: {e}"))
    };
    let db = domain::database::connect(config).await.map_err(|e| e.to_string())?;
    domain::database::migrate(&db).await.map_err(|e| e.to_string())?;
    let (id, role, on) = match command {
        ChannelCommand::Source { id, off } => (id, Role::Source, !off),
        ChannelCommand::Target { id, off } => (id, Role::Target, !off),
        ChannelCommand::Tier { id, tier } => {
            let id = parse(&id)?;
            let tier_id = match tier.as_str() {
                "every" => None,
                slug => Some(
                    domain::entitlements::tiers(&db)
                        .await
                        .map_err(|e| e.to_string())?
                        .into_iter()
                        .find(|t| t.slug == slug)
                        .ok_or_else(|| format!("--tier: no tier {slug:?} (a tier slug, or every)"))?
                        .id,
                ),
            };
            let channel = domain::channel_tiers::set_min_tier(&db, id, tier_id)
                .await
                .map_err(|e| e.to_string())?;
            db.close().await.ok();
            return Ok(format!("#{}: opens from {tier}", channel.name));
        }
    };
    let channel = domain::discovery::set_flag(&db, parse(&id)?, role, on)
        .await
        .map_err(|e| e.to_string())?;
    db.close().await.ok();
    Ok(format!(
        "#{}: source {}, target {}",
        channel.name, channel.is_source, channel.is_target
    ))
}

#[derive(Debug, Subcommand)]
pub enum PaymentsCommand {
    /// Compare Sell.app's invoices with the access ledger and repair what webhooks missed.
    Reconcile,
}

/// Runs a payments command; the returned text is printed for the operator.
pub async fn run_payments(config: &Config, command: PaymentsCommand) -> Result<String, String> {
    match command {
        PaymentsCommand::Reconcile => {
            let key = config
                .sellapp_api_key
                .clone()
                .ok_or("SELLAPP_API_KEY is not set: reconciliation needs read access to Sell.app invoices")?;
            let db = domain::database::connect(config).await.map_err(|e| e.to_string())?;
            domain::database::migrate(&db).await.map_err(|e| e.to_string())?;
            let api = domain::payments::reconcile::SellappApi::new(config.sellapp_api_url.clone(), key);
            let roles = domain::role_sync::RoleGuild::from_config(config);
            let report = domain::payments::reconcile::run(&db, &api, roles.as_ref())
                .await
                .map_err(|e| e.to_string());
            db.close().await.ok();
            report.map(|r| format!("reconciliation: {r}"))
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Create a connector and print its token (shown once).
    Create {
        #[arg(long)]
        name: String,
    },
    /// List connectors with their state and last contact.
    List,
    /// Issue a new token; the old one keeps working for 24 hours.
    Rotate {
        #[arg(long)]
        id: String,
    },
    /// Refuse this connector's calls (403) until enabled again.
    Disable {
        #[arg(long)]
        id: String,
    },
    Enable {
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// A file with one event per line, shaped like the body of POST /api/v1/events.
    #[arg(long)]
    pub file: std::path::PathBuf,
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// A connector token (or set CONNECTOR_TOKEN).
    #[arg(long, env = "CONNECTOR_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Events per request (at most 1000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub batch: u16,
}

/// Runs a connector command; the returned text is printed for the operator.
pub async fn run_connector(config: &Config, command: ConnectorCommand) -> Result<String, String> {
    use domain::connectors;
    let db = domain::database::connect(config).await.map_err(|e| e.to_string())?;
    domain::database::migrate(&db).await.map_err(|e| e.to_string())?;
    let outcome = match command {
        ConnectorCommand::Create { name } => connectors::create(&db, &name).await.map(|(c, token)| {
            format!(
                "created connector {} ({})\ntoken (shown once, store it now): {}",
                c.name,
                c.pid,
                token.expose()
            )
        }),
        ConnectorCommand::List => connectors::list(&db).await.map_err(Into::into).map(|all| {
            if all.is_empty() {
                return "no connectors yet: server connector create --name <name>".to_owned();
            }
            all.iter()
                .map(|c| {
                    format!(
                        "{}  {:<24} {:<8} last seen {}  version {}",
                        c.pid,
                        c.name,
                        if c.enabled { "enabled" } else { "disabled" },
                        c.last_seen_at.map_or("never".to_owned(), |t| t.to_rfc3339()),
                        c.version.as_deref().unwrap_or("-")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        }),
        ConnectorCommand::Rotate { id } => connectors::rotate(&db, &id).await.map(|(c, token)| {
            format!(
                "rotated {}: the old token works until {}\nnew token (shown once): {}",
                c.name,
                c.previous_token_expires_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                token.expose()
            )
        }),
        ConnectorCommand::Disable { id } => connectors::set_enabled(&db, &id, false)
            .await
            .map(|c| format!("{} disabled", c.name)),
        ConnectorCommand::Enable { id } => connectors::set_enabled(&db, &id, true)
            .await
            .map(|c| format!("{} enabled", c.name)),
    };
    db.close().await.ok();
    outcome.map_err(|e| format!("connector command failed: {e}"))
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin. The password is read from stdin when it is piped, else generated and printed once.
    Create(EmailArg),
    /// Give an existing account the admin role.
    Promote(EmailArg),
    /// Take the admin role away (the account stays, as a customer).
    Demote(EmailArg),
}

#[derive(Debug, Args)]
pub struct EmailArg {
    #[arg(long)]
    pub email: String,
}

/// Runs an admin command; the returned line is printed for the operator.
pub async fn run_admin(config: &Config, command: AdminCommand) -> Result<String, String> {
    let db = domain::database::connect(config).await.map_err(|e| e.to_string())?;
    domain::database::migrate(&db).await.map_err(|e| e.to_string())?;
    let outcome = match command {
        AdminCommand::Create(EmailArg { email }) => {
            let (password, generated) = read_or_generate_password()?;
            let account = accounts::create(&db, &email, Secret::new(password.clone()), Role::Admin)
                .await
                .map_err(|e| format!("cannot create admin {email}: {e}"))?;
            if generated {
                Ok(format!(
                    "created admin {}\npassword (shown once, store it now): {password}",
                    account.email
                ))
            } else {
                Ok(format!("created admin {}", account.email))
            }
        }
        AdminCommand::Promote(EmailArg { email }) => accounts::set_role(&db, &email, Role::Admin)
            .await
            .map(|a| format!("{} is now an admin", a.email))
            .map_err(|e| format!("cannot promote {email}: {e}")),
        AdminCommand::Demote(EmailArg { email }) => accounts::set_role(&db, &email, Role::Customer)
            .await
            .map(|a| format!("{} is now a customer", a.email))
            .map_err(|e| format!("cannot demote {email}: {e}")),
    };
    db.close().await.ok();
    outcome
}

fn read_or_generate_password() -> Result<(String, bool), String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut input = String::new();
        stdin
            .lock()
            .read_to_string(&mut input)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        let password = input.trim_end_matches(['\r', '\n']).to_owned();
        if !password.is_empty() {
            return Ok((password, false));
        }
    }
    let mut bytes = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Ok((base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes), true))
}
