//! Access control: tokens with scopes from a tokens file, 401 and 403 with JSON bodies, the open
//! endpoints, the live tail's `access_token`, and the refusal to serve beyond loopback without
//! tokens.

use crate::common;

use awc::Client;
use common::app::TestApp;
use common::{service_config, temp_db};
use loggerator::service::{Service, StartError};
use loggerator::tokens::{new_token, Scope};
use serde_json::Value;
use std::time::Duration;

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

/// Status and JSON body of a request with `headers`.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, Value) {
    let client = Client::default();
    let mut request = match method {
        "POST" => client.post(app.url(path)),
        _ => client.get(app.url(path)),
    };
    for (name, value) in headers {
        request = request.insert_header((*name, value.clone()));
    }
    let mut response = request.send_body(body.to_owned()).await.unwrap();
    let status = response.status().as_u16();
    let body = response.body().limit(1 << 24).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[actix_rt::test]
async fn without_tokens_only_loopback_hosts_and_allowed_names_get_in() {
    let db = temp_db();
    let mut config = service_config(&db, vec![]);
    config.allowed_hosts = vec!["Logs.Example".to_owned()];
    let app = TestApp::spawn_with(db, config).await;
    let port = app.service.http_addr.port();
    // A page on a name that resolves to 127.0.0.1 (DNS rebinding) names its own host.
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("10.1.2.3:{port}"),
    ] {
        let (status, body) = send(&app, "GET", "/logs", &[("Host", host.clone())], "").await;
        assert_eq!(status, 421, "{host}");
        assert!(
            body["error"].as_str().unwrap().contains("--allowed-host"),
            "{body}"
        );
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
        format!("logs.example:{port}"),
    ] {
        let (status, body) = send(&app, "GET", "/logs", &[("Host", host.clone())], "").await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    app.stop().await;

    // With tokens, the token decides, whatever the host.
    let (app, tokens) = app_with_tokens().await;
    let bearer = format!("Bearer {}", tokens.read);
    let headers = [
        ("Host", "evil.example".to_owned()),
        ("Authorization", bearer),
    ];
    let (status, _) = send(&app, "GET", "/logs", &headers, "").await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[actix_rt::test]
async fn without_tokens_reads_and_writes_come_only_from_the_services_own_origin() {
    let app = TestApp::spawn(vec![]).await;
    let own = app.base.clone();
    let line = format!("{}\n", common::fixture_lines()[0]);
    let refused = [
        vec![("Origin", "http://localhost:3000".to_owned())],
        vec![("Origin", "https://evil.example".to_owned())],
        vec![("Origin", own.replace("http:", "https:"))],
        vec![("Origin", "null".to_owned())],
        vec![("Sec-Fetch-Site", "cross-site".to_owned())],
        vec![("Sec-Fetch-Site", "same-site".to_owned())],
    ];
    for headers in &refused {
        let (status, body) = send(&app, "POST", "/ingest", headers, &line).await;
        assert_eq!(status, 403, "{headers:?}");
        assert!(body["error"].as_str().unwrap().contains("origin"), "{body}");
    }
    assert_eq!(app.count("").await, 0, "a refused write stored nothing");
    let admitted = [
        vec![],
        vec![("Origin", own.clone())],
        vec![
            ("Origin", own.clone()),
            ("Sec-Fetch-Site", "same-origin".to_owned()),
        ],
        vec![("Sec-Fetch-Site", "none".to_owned())],
        vec![("Sec-Fetch-Site", "same-origin".to_owned())],
    ];
    for headers in &admitted {
        let (status, body) = send(&app, "POST", "/ingest", headers, &line).await;
        assert_eq!(status, 200, "{headers:?}: {body}");
    }
    // Reads from another origin's page are refused too: it could not see the answers (no CORS
    // headers are sent), but it could hold live tails and query places open.
    for cross in [
        ("Origin", "http://localhost:3000".to_owned()),
        ("Sec-Fetch-Site", "cross-site".to_owned()),
    ] {
        for path in ["/logs/count", "/logs/stream"] {
            let (status, body) = send(&app, "GET", path, std::slice::from_ref(&cross), "").await;
            assert_eq!(
                (status, body["code"].as_str()),
                (403, Some("cross_origin")),
                "{path}"
            );
        }
    }
    // The page's own requests, and a typed address, are the service's own.
    for own in ["same-origin", "none"] {
        let (status, _) = send(
            &app,
            "GET",
            "/logs/count",
            &[("Sec-Fetch-Site", own.to_owned())],
            "",
        )
        .await;
        assert_eq!(status, 200, "{own}");
    }
    common::eventually("the admitted lines", Duration::from_secs(10), || async {
        (app.count("").await == admitted.len() as i64).then_some(())
    })
    .await;
    app.stop().await;
}

#[actix_rt::test]
async fn an_ingest_token_bound_to_sources_writes_and_claims_keys_only_there() {
    let db = temp_db();
    let (bound, bound_line) = new_token("web", &[Scope::Ingest]);
    let path = db.dir.path().join("tokens.txt");
    let (admin, admin_line) = new_token("root", &[Scope::Admin]);
    std::fs::write(
        &path,
        format!("{bound_line} sources=web-*,api\n{admin_line}\n"),
    )
    .unwrap();
    let mut config = service_config(&db, vec![]);
    config.tokens_file = Some(path);
    let app = TestApp::spawn_with(db, config).await;
    let line = format!("{}\n", common::fixture_lines()[0]);
    let auth = ("Authorization", format!("Bearer {bound}"));
    for (query, wanted) in [
        ("?source=web-1", 200),
        ("?source=api", 200),
        ("?source=db-1", 403),
        ("?source=apis", 403),
        // Its own name is not among its sources.
        ("", 403),
    ] {
        let (status, body) = send(
            &app,
            "POST",
            &format!("/ingest{query}"),
            std::slice::from_ref(&auth),
            &line,
        )
        .await;
        assert_eq!(status, wanted, "{query}: {body}");
        if wanted == 403 {
            assert!(
                body["error"].as_str().unwrap().contains("may not push"),
                "{body}"
            );
        }
    }
    // A key under a source it may not write is neither used nor claimed.
    let keyed = [auth.clone(), ("Idempotency-Key", "k1".to_owned())];
    let (status, _) = send(&app, "POST", "/ingest?source=db-1", &keyed, &line).await;
    assert_eq!(status, 403);
    let as_admin = [("Authorization", format!("Bearer {admin}"))];
    let (status, sources) = send(&app, "GET", "/sources", &as_admin, "").await;
    assert_eq!(status, 200);
    let text = sources.to_string();
    assert!(
        text.contains("push:web-1") && !text.contains("push:db-1"),
        "{text}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_token_revoked_by_a_reload_ends_its_open_live_tail() {
    let db = temp_db();
    let (reader, reader_line) = new_token("reader", &[Scope::Read]);
    let (shipper, shipper_line) = new_token("shipper", &[Scope::Ingest]);
    let path = db.dir.path().join("tokens.txt");
    std::fs::write(&path, format!("{reader_line}\n{shipper_line}\n")).unwrap();
    let mut config = service_config(&db, vec![]);
    config.tokens_file = Some(path.clone());
    let app = TestApp::spawn_with(db, config).await;
    let mut stream = Client::builder()
        .timeout(Duration::from_secs(60))
        .finish()
        .get(app.url(&format!("/logs/stream?access_token={reader}")))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    // The reader's line is deleted, and the service told to read the file again.
    std::fs::write(&path, format!("{shipper_line}\n")).unwrap();
    let pid = std::process::id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    common::eventually(
        "the reader's token refused",
        Duration::from_secs(10),
        || async {
            let (status, _, _) = get_as(&app, "/logs/count", Some(&reader)).await;
            (status == 401).then_some(())
        },
    )
    .await;
    // The next lines committed reach the stream's follower, which ends it instead.
    let line = format!("{}\n", common::fixture_lines()[0]);
    let auth = ("Authorization", format!("Bearer {shipper}"));
    let (status, _) = send(&app, "POST", "/ingest", &[auth], &line).await;
    assert_eq!(status, 200);
    let mut text = String::new();
    let read = async {
        use futures_util::StreamExt;
        while let Some(chunk) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the stream ends");
    assert!(text.contains("event: revoked"), "{text}");
    assert!(
        !text.contains("\"id\":"),
        "no line after the revocation: {text}"
    );
    app.stop().await;
}
