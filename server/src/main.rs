//! Binary edge: parse the CLI, load and validate config, run. Start-up failures print one line
//! (what went wrong and which setting to fix) and exit non-zero.

use std::process::ExitCode;

use clap::Parser;
use domain::Config;
use server::Application;
use server::cli::{Cli, Command};

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    let mut config = Config::load_or_exit();
    domain::telemetry::init(config.log_format);

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let outcome = runtime.block_on(async move {
        match cli.command.take().unwrap_or(Command::Serve) {
            Command::Serve => {
                let mut helpers = cli.demo.then(|| server::demo::start_fake_discord(&mut config));
                let app = Application::build(config).await.map_err(|e| e.to_string())?;
                if let Some(h) = helpers.as_mut() {
                    server::demo::start_bot(h);
                }
                if cli.demo {
                    let (admin, customer, connector) = server::demo::prepare(app.context()).await?;
                    println!(
                        "demo mode: sample signals every 3 seconds at {}",
                        app.context().config.public_url
                    );
                    for login in [admin, customer] {
                        match login.password {
                            Some(pw) => println!("  {}  password: {pw}", login.email),
                            None => println!("  {}  (exists; password shown when it was created)", login.email),
                        }
                    }
                    server::demo::spawn_feed(app.context().clone(), connector, std::time::Duration::from_secs(3));
                }
                let outcome = app.run_until_stopped().await.map_err(|e| format!("server error: {e}"));
                drop(helpers);
                outcome
            }
            Command::Migrate => {
                let db = domain::database::connect(&config).await.map_err(|e| e.to_string())?;
                domain::database::migrate(&db).await.map_err(|e| e.to_string())?;
                println!("migrations applied");
                Ok(())
            }
            Command::Connector(command) => {
                let text = server::cli::run_connector(&config, command).await?;
                println!("{text}");
                Ok(())
            }
            Command::Ingest(args) => {
                let totals = server::replay::run(
                    &args.file,
                    &args.url,
                    &args.token,
                    usize::from(args.batch),
                    &mut std::io::stderr(),
                )
                .await?;
                println!("done: {totals}");
                if totals.rejected > 0 {
                    return Err(format!("{} events were rejected (see above)", totals.rejected));
                }
                Ok(())
            }
            Command::Access(command) => {
                println!("{}", server::cli::run_access(&config, command).await?);
                Ok(())
            }
            Command::Backup { to } => {
                println!("{}", server::backup::backup(&config, &to).await?);
                Ok(())
            }
            Command::Restore { from, force } => {
                println!("{}", server::backup::restore(&config, &from, force).await?);
                Ok(())
            }
            Command::Import(command) => {
                println!("{}", server::cli::run_import(&config, command).await?);
                Ok(())
            }
            Command::Channel(command) => {
                println!("{}", server::cli::run_channel(&config, command).await?);
                Ok(())
            }
            Command::Payments(command) => {
                let text = server::cli::run_payments(&config, command).await?;
                println!("{text}");
                Ok(())
            }
            Command::Admin(admin) => {
                let line = server::cli::run_admin(&config, admin).await?;
                println!("{line}");
                Ok(())
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("{line}");
            ExitCode::FAILURE
        }
    }
}
