//! The real `bot` binary: with no Discord token it connects to the database, says it is idle,
//! and stops cleanly on SIGTERM; with an unusable database it fails with one line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn bot(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bot"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir);
    cmd
}

#[test]
fn idle_bot_logs_why_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = bot(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let idle = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("bot idle"))
        .expect("the bot should log that it is idle");
    assert!(idle.contains("DISCORD_BOT_TOKEN is not set"), "{idle}");
    assert!(
        idle.contains("database=\"sqlite\"") || idle.contains("database=sqlite"),
        "{idle}"
    );

    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(rest.iter().any(|l| l.contains("bot stopped")), "{rest:#?}");
}

#[test]
fn bot_with_unreachable_database_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = bot(dir.path())
        .env("DATABASE_URL", "postgres://bot:hunter2@127.0.0.1:1/signals")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("cannot connect to PostgreSQL at 127.0.0.1:1/signals"),
        "{}",
        lines[0]
    );
    assert!(!stderr.contains("hunter2"));
}
