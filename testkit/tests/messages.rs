//! The fake Discord's channel message routes, over HTTP as Discord v10 answers them.

use serde_json::{Value, json};
use testkit::discord::{BOT_TOKEN, BOT_USER_ID, FakeDiscord, Fault, Limits};

const CHANNEL: u64 = 700;

struct Api {
    fake: FakeDiscord,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Self {
        // These tests are about the routes' answers, not the rate limits (tested with the bot).
        let fake = FakeDiscord::start_with(0, Limits::none()).await.unwrap();
        fake.with(|w| {
            w.add_guild(1, "Customers", 100);
            w.add_channel(1, CHANNEL, "signals", 0, None);
        });
        Api {
            fake,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v10/channels/{CHANNEL}/messages{path}", self.fake.url())
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let r = req
            .header("authorization", format!("Bot {BOT_TOKEN}"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, content: &str) -> Value {
        let (status, body) = self
            .call(self.http.post(self.url("")).json(&json!({"content": content})))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn list(&self, query: &str) -> Vec<String> {
        let (status, body) = self.call(self.http.get(self.url(query))).await;
        assert_eq!(status, 200, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn create_answers_a_full_message_object_and_enforces_the_limits() {
    let api = Api::start().await;
    let m = api.post("hello").await;
    assert_eq!(m["content"], "hello");
    assert_eq!(m["channel_id"], CHANNEL.to_string());
    assert_eq!(m["guild_id"], "1");
    assert_eq!(m["author"]["id"], BOT_USER_ID.to_string());
    assert_eq!(m["author"]["bot"], true);
    assert!(m["timestamp"].as_str().unwrap().starts_with("20"), "{m}");
    assert_eq!(m["edited_timestamp"], Value::Null);

    let (status, body) = api
        .call(api.http.post(api.url("")).json(&json!({"content": "x".repeat(2001)})))
        .await;
    assert_eq!((status, body["code"].clone()), (400, json!(50035)));
    let embeds: Vec<Value> = (0..11).map(|i| json!({"title": i.to_string()})).collect();
    let (status, _) = api
        .call(api.http.post(api.url("")).json(&json!({"embeds": embeds})))
        .await;
    assert_eq!(status, 400);
    let (status, body) = api.call(api.http.post(api.url("")).body("{not json")).await;
    assert_eq!((status, body["code"].clone()), (400, json!(50109)));

    let anonymous = api
        .http
        .post(api.url(""))
        .json(&json!({"content": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn multipart_create_carries_the_uploaded_files() {
    let api = Api::start().await;
    let boundary = "XyZboundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json\r\n\r\n{}\r\n",
            json!({"content": "chart", "attachments": [{"id": 0, "filename": "chart.png"}]})
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"chart.png\"\r\nContent-Type: image/png\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(&[0x89, b'P', b'N', b'G', 1, 2, 3]);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (status, m) = api
        .call(
            api.http
                .post(api.url(""))
                .header("content-type", format!("multipart/form-data; boundary={boundary}"))
                .body(body),
        )
        .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["content"], "chart");
    assert_eq!(m["attachments"][0]["filename"], "chart.png");
    assert_eq!(m["attachments"][0]["size"], 7);
}

#[tokio::test]
async fn edit_and_delete_apply_unless_scripted_not_to() {
    let api = Api::start().await;
    let id = api.post("v1").await["id"].as_str().unwrap().to_owned();

    let (status, m) = api
        .call(
            api.http
                .patch(api.url(&format!("/{id}")))
                .json(&json!({"content": "v2"})),
        )
        .await;
    assert_eq!((status, m["content"].clone()), (200, json!("v2")));
    assert!(m["edited_timestamp"].is_string());

    api.fake.with(|w| w.fault("PATCH", "/messages/", Fault::Ignore, 1));
    let (status, _) = api
        .call(
            api.http
                .patch(api.url(&format!("/{id}")))
                .json(&json!({"content": "v3"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        api.list("").await,
        ["v2"],
        "an ignored edit is answered but not applied"
    );

    let (status, _) = api.call(api.http.delete(api.url(&format!("/{id}")))).await;
    assert_eq!(status, 204);
    let (status, body) = api.call(api.http.delete(api.url(&format!("/{id}")))).await;
    assert_eq!((status, body["code"].clone()), (404, json!(10008)));
    let (status, body) = api
        .call(
            api.http
                .patch(api.url(&format!("/{id}")))
                .json(&json!({"content": "v4"})),
        )
        .await;
    assert_eq!((status, body["code"].clone()), (404, json!(10008)));
}

#[tokio::test]
async fn list_pages_by_after_before_and_limit_newest_first() {
    let api = Api::start().await;
    let mut ids = Vec::new();
    for i in 1..=5 {
        ids.push(api.post(&format!("m{i}")).await["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(api.list("").await, ["m5", "m4", "m3", "m2", "m1"]);
    assert_eq!(api.list("?limit=2").await, ["m5", "m4"], "no cursor: the newest");
    // serenity writes `?&k=v`; the empty first pair is accepted.
    assert_eq!(
        api.list(&format!("?&after={}&limit=2", ids[0])).await,
        ["m3", "m2"],
        "after: the oldest after the cursor"
    );
    assert_eq!(api.list(&format!("?after={}", ids[4])).await, Vec::<String>::new());
    assert_eq!(api.list(&format!("?before={}&limit=2", ids[4])).await, ["m4", "m3"]);

    let (status, body) = api.call(api.http.get(api.url("?limit=101"))).await;
    assert_eq!((status, body["code"].clone()), (400, json!(50035)));
    let (status, _) = api.call(api.http.get(api.url("?after=abc"))).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn message_ids_are_snowflakes_that_carry_their_time() {
    let api = Api::start().await;
    let m = api.post("now").await;
    let id: u64 = m["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(testkit::discord::snowflake_time(id), m["timestamp"].as_str().unwrap());
    let year: i32 = m["timestamp"].as_str().unwrap()[..4].parse().unwrap();
    assert!(year >= 2026, "{m}");
}

/// The CDN route: no token needed, and the bytes are what the extension says (a PNG's magic
/// number for `.png`), so the server's fetch and sniffing run as against Discord's CDN.
#[tokio::test]
async fn the_cdn_serves_files_by_their_extension_without_a_token() {
    let fake = FakeDiscord::start_with(0, Limits::none()).await.unwrap();
    let get = |name: &str| reqwest::get(format!("{}/attachments/1/2/{name}", fake.url()));
    let png = get("chart.png").await.unwrap();
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    let pdf = get("report.pdf").await.unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));
}
