//! `server --demo` as a newcomer runs it: the real binary starts the fake Discord and a bot
//! beside itself, and the demo customer can link a Discord account and watch the Pro role
//! arrive in the fake's customers' server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sea_orm::EntityTrait;
use serde_json::Value;

use crate::helpers::session_cookie;

struct Running(Child);

impl Drop for Running {
    /// SIGTERM, so the server stops the processes it started (the fake Discord and the bot).
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .unwrap_or_else(|| panic!("a redirect, got {}", res.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_demos_credentials_are_the_fakes() {
    assert_eq!(server::demo::FAKE_CLIENT_ID, testkit::discord::CLIENT_ID);
    assert_eq!(server::demo::FAKE_CLIENT_SECRET, testkit::discord::CLIENT_SECRET);
    assert_eq!(server::demo::FAKE_BOT_TOKEN, testkit::discord::BOT_TOKEN);
}

#[tokio::test]
async fn demo_starts_the_fake_discord_and_a_bot_and_linking_gives_the_role() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("--demo")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("PUBLIC_URL", &base)
        .env("RUST_LOG", "warn")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Running(child);
    // Read the demo's announcements: the customer's password and the fake Discord's address.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut password, mut fake) = (None, None);
    while password.is_none() || fake.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the demo announces its logins and the fake Discord");
        if let Some(pw) = line.split("customer@demo.signaldesk  password: ").nth(1) {
            password = Some(pw.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("demo: fake Discord at ") {
            fake = rest.split_whitespace().next().map(str::to_owned);
        }
        assert!(!line.starts_with("demo: no "), "{line} (CI builds every binary first)");
    }
    let (password, fake) = (password.unwrap(), fake.unwrap());

    let http = no_redirects();
    let mut signed_in = None;
    for _ in 0..100 {
        if let Ok(res) = http
            .post(format!("{base}/rpc/sign-in"))
            .header("accept", "application/json")
            .header("origin", &base)
            .form(&[("email", "customer@demo.signaldesk"), ("password", password.as_str())])
            .send()
            .await
        {
            signed_in = session_cookie(&res);
            assert!(signed_in.is_some(), "sign-in: {} {:?}", res.status(), res.text().await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let session = signed_in.expect("the demo customer signs in");
    let cookie = format!("sd_session={session}");

    let res = http
        .post(format!("{base}/account/discord/link"))
        .header("origin", &base)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let authorize = url::Url::parse(&location(&res)).unwrap();
    assert!(authorize.as_str().starts_with(&fake), "{authorize}");
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("username".into(), "newcomer".into()));
    form.push(("decision".into(), "authorize".into()));
    let res = http
        .post(format!("{fake}/oauth2/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = http.get(location(&res)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).contains("discord=linked"), "{}", location(&res));

    // The bot gives the demo customer (30 days of Pro) the Pro role in the fake's server.
    let pro = "1000000000000000113";
    let mut roles = Vec::new();
    for _ in 0..150 {
        let state: Value = reqwest::get(format!("{fake}/_fake/state"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        roles = state["guilds"][0]["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["username"] == "newcomer")
            .flat_map(|m| m["roles"].as_array().cloned().unwrap_or_default())
            .collect();
        if roles.iter().any(|r| r == pro) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !roles.iter().any(|r| r == pro) {
        let db = sea_orm::Database::connect(format!("sqlite://{}/data/signaldesk.db", dir.path().display()))
            .await
            .unwrap();
        let jobs = entity::job::Entity::find().all(&db).await.unwrap();
        let calls: Value = reqwest::get(format!("{fake}/_fake/state"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        panic!("the Pro role never arrived: {roles:?}; jobs {jobs:#?}; fake {calls}");
    }
    drop(server);
}
