//! The blob store on S3-compatible object storage (`BLOB_STORE_URL=s3://bucket/prefix`), against
//! a real local S3 server (moto's, installed by `scripts/test`; `S3_TEST_SERVER` names it). The
//! same `BlobStore` code the directory default runs, through `object_store`'s S3 client.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use domain::blobs::{BlobStore, digest};
use domain::config::BlobStoreTarget;

struct S3Server(Child);

impl Drop for S3Server {
    fn drop(&mut self) {
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

#[tokio::test]
async fn blobs_round_trip_through_an_s3_compatible_server() {
    let server = std::env::var("S3_TEST_SERVER").unwrap_or_else(|_| {
        format!(
            "{}/.cache/signaldesk/venv/bin/moto_server",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let port = free_port();
    let child = Command::new(&server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("the S3 test server {server} must be installed (scripts/test does it): {e}"));
    let _server = S3Server(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    // Creating the bucket is the operator's job; here, one unsigned call moto accepts.
    loop {
        match http.put(format!("{endpoint}/signal-blobs")).send().await {
            Ok(res) if res.status().is_success() => break,
            _ if std::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("the S3 test server never answered: {other:?}"),
        }
    }
    // The standard AWS_* variables, as an operator sets them (this binary has this one test).
    for (k, v) in [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ] {
        // SAFETY: set before any thread of this test binary reads the environment.
        unsafe { std::env::set_var(k, v) };
    }
    let store = BlobStore::open(&BlobStoreTarget::S3 {
        bucket: "signal-blobs".into(),
        prefix: "attachments".into(),
    })
    .unwrap();
    let bytes = Bytes::from_static(b"\x89PNG\r\n\x1a\n a chart");
    let sha = store.put(bytes.clone()).await.unwrap();
    assert_eq!(sha, digest(&bytes));
    assert_eq!(store.put(bytes.clone()).await.unwrap(), sha, "stored once, same name");
    assert_eq!(store.get(&sha).await.unwrap(), Some(bytes));
    assert_eq!(store.get(&digest(b"never stored")).await.unwrap(), None);
    // Under the prefix, named by the digest: what another machine reads.
    let listed = http
        .get(format!("{endpoint}/signal-blobs?list-type=2&prefix=attachments/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains(&format!("attachments/sha256/{}/{}/{sha}", &sha[..2], &sha[2..4])),
        "{listed}"
    );
}
