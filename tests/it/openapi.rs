//! The OpenAPI document and the docs page, from the running service.

use crate::common;

use common::app::{get, get_text, TestApp};
use serde_json::Value;

/// The endpoints `docs/api.md` documents, from its `### `GET /path`` (or `POST`) headings.
fn documented_endpoints() -> Vec<String> {
    let api_doc = include_str!("../../docs/api.md");
    let mut paths: Vec<String> = api_doc
        .lines()
        .filter_map(|line| {
            line.strip_prefix("### `GET ")
                .or_else(|| line.strip_prefix("### `POST "))
        })
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect();
    paths.sort();
    paths
}

#[actix_rt::test]
async fn every_endpoint_is_in_the_document_with_its_parameters_and_answers() {
    let app = TestApp::spawn(vec![]).await;
    let document = app.get("/openapi.json").await;
    assert_eq!(document.status, 200);
    let document = document.body;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(document["info"]["title"], "loggerator");
    let mut documented: Vec<String> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    documented.sort();
    let mut expected: Vec<String> = documented_endpoints()
        .into_iter()
        .filter(|path| path != "/openapi.json")
        .collect();
    expected.sort();
    assert_eq!(
        documented, expected,
        "docs/api.md's endpoints and the document's"
    );

    for (path, item) in document["paths"].as_object().unwrap() {
        let get = if item["post"].is_object() {
            &item["post"]
        } else {
            &item["get"]
        };
        assert!(get.is_object(), "{path} has a GET or POST operation");
        assert!(
            get["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{path}"
        );
        assert!(get["responses"]["200"].is_object(), "{path} answers 200");
    }
    // Every filter, on every endpoint that takes them.
    let filters = [
        "code", "method", "user", "source", "ip", "path", "q", "since", "until",
    ];
    for path in ["/logs", "/logs/count", "/logs/stream", "/stats"] {
        let names: Vec<&str> = document["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for filter in filters {
            assert!(
                names.contains(&filter),
                "{path} documents {filter}: {names:?}"
            );
        }
        let errors = &document["paths"][path]["get"]["responses"]["400"];
        assert!(errors.is_object(), "{path} documents its 400");
    }
    let logs: Vec<&str> = document["paths"]["/logs"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["limit", "cursor", "format", "order"] {
        assert!(logs.contains(&name), "/logs documents {name}");
    }
    app.stop().await;
}

#[actix_rt::test]
async fn the_docs_page_is_served_from_the_binary_and_other_methods_get_405() {
    let app = TestApp::spawn(vec![]).await;
    let response = awc::Client::builder()
        .disable_redirects()
        .finish()
        .get(app.url("/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 307);
    assert_eq!(response.headers().get("location").unwrap(), "/docs/");
    let (status, content_type, page) = get_text(&app.url("/docs/"), &[]).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("swagger-ui"), "{page}");
    let (status, _, script) = get_text(&app.url("/docs/swagger-initializer.js"), &[]).await;
    assert_eq!(status, 200);
    assert!(script.contains("/openapi.json"), "{script}");

    let response = awc::Client::default()
        .post(app.url("/logs"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers().get("allow").unwrap(), "GET");
    let missing = get(&app.url("/nowhere")).await;
    assert_eq!(missing.status, 404);
    assert!(matches!(missing.body["error"], Value::String(_)));

    // Every answer says not to sniff; the docs page is held to its own files.
    let client = awc::Client::default();
    for path in [
        "/logs",
        "/logs?limit=x",
        "/nowhere",
        "/healthz",
        "/openapi.json",
        "/docs/",
        "/",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        let sniff = response.headers().get("x-content-type-options");
        assert_eq!(
            sniff.map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{path}"
        );
    }
    for path in ["/docs/", "/docs/swagger-initializer.js"] {
        let response = client.get(app.url(path)).send().await.unwrap();
        let policy = response.headers().get("content-security-policy").unwrap();
        let policy = policy.to_str().unwrap();
        assert!(policy.contains("default-src 'self'"), "{path}: {policy}");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(
            !policy.contains("script-src"),
            "no script exception: {policy}"
        );
    }
    app.stop().await;
}

#[actix_rt::test]
async fn reason_codes_are_the_same_in_the_code_the_document_and_the_docs() {
    let app = TestApp::spawn(vec![]).await;
    let document = app.get("/openapi.json").await.body;
    let schema = &document["components"]["schemas"]["Reason"];
    let listed: Vec<&str> = schema["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("no enum in {schema}"))
        .iter()
        .map(|code| code.as_str().unwrap())
        .collect();
    let defined: Vec<&str> = loggerator::reason::Reason::ALL
        .iter()
        .map(|(_, code, _)| *code)
        .collect();
    assert_eq!(listed, defined);
    // Every error body and /healthz refer to it.
    for body in ["ErrorBody", "HealthBody"] {
        let code = &document["components"]["schemas"][body]["properties"]["code"];
        assert!(code.to_string().contains("Reason"), "{body}: {code}");
    }
    let api_doc = include_str!("../../docs/api.md");
    for (_, code, meaning) in loggerator::reason::Reason::ALL {
        let row = format!("| `{code}` | {meaning} |");
        assert!(api_doc.contains(&row), "docs/api.md lacks {row}");
    }
    app.stop().await;
}
