//! `/api/v1/openapi.json` and the routes must agree: every documented operation is routed (and
//! guarded by the connector token), no documented path answers an undocumented method, and every
//! operation carries examples.

use serde_json::Value;

use crate::helpers::{Backend, spawn_app};

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

#[tokio::test]
async fn openapi_document_and_routes_agree() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app.get("/api/v1/openapi.json").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");

    for required in [
        "/events",
        "/events/batch",
        "/connector/hello",
        "/connector/config",
        "/discovery/guilds",
        "/discovery/guilds/{guild_id}/channels",
    ] {
        assert!(paths.contains_key(required), "{required} is not documented");
    }

    for (path, item) in paths {
        let concrete = path.replace("{guild_id}", "1100000000000000001");
        let url = app.url(&format!("/api/v1{concrete}"));
        for method in METHODS {
            let req = app
                .client
                .request(method.to_uppercase().parse().unwrap(), &url)
                .header("content-type", "application/json")
                .body("{}");
            let status = req.send().await.unwrap().status().as_u16();
            match item.get(*method) {
                Some(op) => {
                    assert_eq!(status, 401, "{method} {path}: documented, so routed and token-guarded");
                    let text = op.to_string();
                    assert!(text.contains("\"example"), "{method} {path} has no example");
                    assert!(
                        op["responses"].get("401").is_some(),
                        "{method} {path} does not document 401"
                    );
                }
                None => assert_eq!(status, 405, "{method} {path} is routed but not documented"),
            }
        }
    }

    // Schemas referenced by operations exist.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "missing schema {name}"
        );
    }
    let res = app.get("/api/v1/no-such-endpoint").await;
    assert_eq!(res.status(), 404);
}
