//! Access control: tokens with scopes from a tokens file, 401 and 403 with JSON bodies, the open
//! endpoints, the live tail's `access_token`, and the refusal to serve beyond loopback without
//! tokens.

mod common;

use awc::Client;
use common::app::TestApp;
use common::{service_config, temp_db};
use loggerator::service::{Service, StartError};
use loggerator::tokens::{new_token, Scope};
use serde_json::Value;

struct Tokens {
    read: String,
    ingest: String,
    admin: String,
}

/// The service with three tokens: `read`, `ingest` only, and `admin`.
async fn app_with_tokens() -> (TestApp, Tokens) {
    let db = temp_db();
    let (read, read_line) = new_token("reader", &[Scope::Read]);
    let (ingest, ingest_line) = new_token("shipper", &[Scope::Ingest]);
    let (admin, admin_line) = new_token("root", &[Scope::Admin]);
    let path = db.dir.path().join("tokens.txt");
    std::fs::write(
        &path,
        format!("# name scopes sha256\n{read_line}\n{ingest_line}\n{admin_line}\n"),
    )
    .unwrap();
    let mut config = service_config(&db, vec![]);
    config.tokens_file = Some(path);
    let app = TestApp::spawn_with(db, config).await;
    (
        app,
        Tokens {
            read,
            ingest,
            admin,
        },
    )
}

/// Status, `WWW-Authenticate` and JSON body of `GET path` with `token` as a bearer, if any.
async fn get_as(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = Client::default().get(app.url(path));
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request.send().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status().as_u16();
    let body = response.body().limit(1 << 24).await.unwrap();
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, challenge, body)
}

#[actix_rt::test]
async fn data_needs_a_token_with_its_scope_and_the_documentation_does_not() {
    let (app, tokens) = app_with_tokens().await;
    for path in [
        "/logs",
        "/logs/count",
        "/stats?by=code",
        "/sources",
        "/rejected",
    ] {
        let (status, challenge, body) = get_as(&app, path, None).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="loggerator""#));
        assert!(body["error"].as_str().unwrap().contains("token"), "{body}");

        let (status, challenge, _) = get_as(&app, path, Some("lgr_not_a_token")).await;
        assert_eq!(status, 401, "{path}");
        assert!(challenge.unwrap().contains("invalid_token"));

        let (status, _, body) = get_as(&app, path, Some(&tokens.ingest)).await;
        assert_eq!(status, 403, "{path}");
        assert!(body["error"].as_str().unwrap().contains("read"), "{body}");

        for token in [&tokens.read, &tokens.admin] {
            let (status, _, _) = get_as(&app, path, Some(token)).await;
            assert_eq!(status, 200, "{path}");
        }
    }
    // Metrics take their own scope (admin has them all).
    let (status, _, _) = get_as(&app, "/metrics", Some(&tokens.read)).await;
    assert_eq!(status, 403);
    let (status, _, _) = get_as(&app, "/metrics", None).await;
    assert_eq!(status, 401);
    let metrics = Client::default()
        .get(app.url("/metrics"))
        .insert_header(("Authorization", format!("Bearer {}", tokens.admin)))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status().as_u16(), 200);
    for open in ["/healthz", "/openapi.json"] {
        let (status, _, _) = get_as(&app, open, None).await;
        assert_eq!(status, 200, "{open}");
    }
    let docs = Client::default()
        .get(app.url("/docs/"))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status().as_u16(), 200);
    // Unknown paths tell an anonymous client nothing.
    let (status, _, _) = get_as(&app, "/nowhere", None).await;
    assert_eq!(status, 401);
    app.stop().await;
}

#[actix_rt::test]
async fn the_live_tail_takes_its_token_from_the_query_string_too() {
    let (app, tokens) = app_with_tokens().await;
    let open = |query: String| {
        let url = app.url(&format!("/logs/stream?{query}"));
        async move {
            let response = Client::default().get(url).send().await.unwrap();
            response.status().as_u16()
        }
    };
    assert_eq!(open("code=500".to_owned()).await, 401);
    assert_eq!(open(format!("access_token={}", tokens.ingest)).await, 403);
    assert_eq!(
        open(format!("code=500&access_token={}", tokens.read)).await,
        200
    );
    // Only the stream: elsewhere a token goes in the header.
    let (status, _, _) = get_as(&app, &format!("/logs?access_token={}", tokens.read), None).await;
    assert_eq!(status, 401);
    app.stop().await;
}

#[actix_rt::test]
async fn beyond_loopback_the_service_needs_tokens_or_an_explicit_allowance() {
    let db = temp_db();
    let mut config = service_config(&db, vec![]);
    config.listen = "0.0.0.0:0".to_owned();
    match Service::start(config.clone()).await {
        Err(StartError::Unauthenticated { address }) => assert_eq!(address, "0.0.0.0:0"),
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("served 0.0.0.0 without tokens"),
    }
    config.allow_unauthenticated = true;
    let service = Service::start(config).await.expect("allowed");
    service.shutdown().await;

    // A tokens file that does not hold tokens is an error at start, naming the line.
    let path = db.dir.path().join("bad.txt");
    std::fs::write(&path, "alice read not-a-hash\n").unwrap();
    let mut config = service_config(&db, vec![]);
    config.tokens_file = Some(path);
    let error = Service::start(config).await.err().expect("refused");
    assert!(error.to_string().contains("line 1"), "{error}");
}
