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
