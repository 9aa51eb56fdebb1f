//! The operator's command line: `server` (serve, the default) and `server migrate`.

use clap::{Parser, Subcommand};

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
}
