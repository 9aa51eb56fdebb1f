//! The real `server` binary: start-up failures are one clear line and a non-zero exit,
//! and SIGTERM shuts a running server down cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::postgres_admin_url;

/// The server binary with a clean environment in an empty directory (so no `.env` is read).
fn server(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir);
    cmd
}

fn non_empty_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn assert_one_line_error(out: &Output, needle: &str) -> String {
    assert!(!out.status.success(), "should fail: {out:?}");
    let lines = non_empty_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "exactly one error line expected, got {lines:#?}");
    assert!(lines[0].contains(needle), "{:?} should mention {needle}", lines[0]);
    lines[0].clone()
}

#[test]
fn wrong_database_url_scheme_is_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = server(dir.path())
        .env("DATABASE_URL", "mysql://root:hunter2@localhost/db")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = assert_one_line_error(&out, "DATABASE_URL");
    assert!(!line.contains("hunter2"), "password leaked: {line}");
}

#[test]
fn unreachable_postgres_is_one_line_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let out = server(dir.path())
        .env("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:1/signals")
        .output()
        .unwrap();
    let line = assert_one_line_error(&out, "cannot connect to PostgreSQL at 127.0.0.1:1/signals");
    assert!(!line.contains("hunter2"), "password leaked: {line}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("hunter2"),
        "password leaked to stdout"
    );
}

#[test]
fn unwritable_data_directory_is_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // A directory cannot be created below a regular file, whoever we run as (tests may run as root).
    std::fs::write(dir.path().join("occupied"), b"").unwrap();
    let out = server(dir.path()).env("DATA_DIR", "occupied/data").output().unwrap();
    assert_one_line_error(&out, "data directory occupied/data is not usable");
}

#[test]
fn malformed_setting_is_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = server(dir.path()).env("BIND_ADDR", "everywhere").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_one_line_error(&out, "BIND_ADDR: expected an address:port");
}

#[test]
fn migrate_command_applies_migrations_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = server(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    assert!(
        dir.path().join("data/signaldesk.db").exists(),
        "SQLite default file created in DATA_DIR"
    );
}

#[test]
fn sigterm_stops_a_running_server_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = server(dir.path())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    // The "serving" log line carries the bound address.
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        assert!(Instant::now() < deadline, "server never logged that it was serving");
        let line = lines.next().expect("server exited early").unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        if event["message"] == "serving" {
            break event["addr"].as_str().unwrap().to_owned();
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async { reqwest::get(format!("http://{addr}/healthz")).await.unwrap().status() });
    assert_eq!(status, 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    assert!(
        rest.iter().any(|l| l.contains("\"stopped\"")),
        "no clean stop logged: {rest:#?}"
    );
}

#[test]
fn postgres_admin_url_is_reachable_for_the_test_suite() {
    // The postgres variants of every test need this; failing here names the cause directly.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sea_orm::Database::connect(postgres_admin_url())
            .await
            .expect("PostgreSQL is not reachable at TEST_POSTGRES_URL; the test command starts it");
    });
}

#[test]
fn admin_cli_creates_promotes_and_demotes_without_default_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = server(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    // Nothing piped in: a strong password is generated and printed once.
    let out = run(&["admin", "create", "--email", "Root@Example.com"], "");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("created admin root@example.com"), "{stdout}");
    let password = stdout
        .lines()
        .find_map(|l| l.split("store it now): ").nth(1))
        .expect("generated password line");
    assert!(password.len() >= 20, "{password}");

    // A piped password is used as given and never echoed.
    let out = run(
        &["admin", "create", "--email", "ops@example.com"],
        "a piped passphrase here\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("a piped passphrase"));

    // Too short a piped password is refused with one line.
    let out = run(&["admin", "create", "--email", "weak@example.com"], "short\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));

    let out = run(&["admin", "demote", "--email", "ops@example.com"], "");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ops@example.com is now a customer"),
        "{out:?}"
    );
    let out = run(&["admin", "promote", "--email", "ops@example.com"], "");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ops@example.com is now an admin"),
        "{out:?}"
    );
    let out = run(&["admin", "promote", "--email", "ghost@example.com"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no account with that email"));
}

#[test]
fn channel_tier_cli_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| server(dir.path()).args(args).output().unwrap();
    let out = run(&["channel", "tier", "--id", "1100000000000000010", "--tier", "gold"]);
    assert_one_line_error(&out, "no tier \"gold\"");
    let out = run(&["channel", "tier", "--id", "1100000000000000010", "--tier", "every"]);
    assert_one_line_error(&out, "no such channel");
    let out = run(&["channel", "tier", "--id", "not-a-snowflake", "--tier", "pro"]);
    assert_one_line_error(&out, "--id");
}
