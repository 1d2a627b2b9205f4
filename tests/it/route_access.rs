//! Access is decided by the route that runs: for every route, a token with each single scope is
//! let in or refused as the routes table says, however the path is spelled (percent-encoded
//! letters in either case, `%2F`, doubled slashes, a trailing slash) and whichever method asks,
//! and a property test over random encodings. The router matches the decoded path, so a check
//! that read the raw path would let a `read` token `POST /%69ngest`.

use crate::common;

use std::time::Duration;

use awc::Client;
use common::app::TestApp;
use common::{service_config, temp_db};
use loggerator::tokens::{new_token, Scope};
use proptest::prelude::*;

/// What each route needs (`None`: open), as `http::routes` registers it.
const ROUTES: [(&str, &str, Option<Scope>); 10] = [
    ("GET", "/logs", Some(Scope::Read)),
    ("GET", "/logs/count", Some(Scope::Read)),
    ("GET", "/logs/stream", Some(Scope::Read)),
    ("GET", "/stats", Some(Scope::Read)),
    ("GET", "/rejected", Some(Scope::Read)),
    ("GET", "/sources", Some(Scope::Read)),
    ("GET", "/healthz", None),
    ("GET", "/metrics", Some(Scope::Metrics)),
    ("POST", "/ingest", Some(Scope::Ingest)),
    // No route: unknown paths need `read`, so that they tell an anonymous client nothing.
    ("GET", "/nowhere", Some(Scope::Read)),
];

/// What holds no data: open to all, however spelled.
const OPEN: [&str; 4] = ["/openapi.json", "/docs/", "/ui/app.js", "/ui/app.css"];

/// A token for each single scope, and none.
struct Callers {
    tokens: Vec<(Option<Scope>, Option<String>)>,
}

async fn app_with_a_token_per_scope() -> (TestApp, Callers) {
    let db = temp_db();
    let mut lines = String::new();
    let mut tokens = vec![(None, None)];
    for (name, scope) in Scope::ALL {
        let (token, line) = new_token(name, &[scope]);
        lines.push_str(&line);
        lines.push('\n');
        tokens.push((Some(scope), Some(token)));
    }
    let path = db.dir.path().join("tokens.txt");
    std::fs::write(&path, lines).unwrap();
    let mut config = service_config(&db, vec![]);
    config.tokens_file = Some(path);
    (TestApp::spawn_with(db, config).await, Callers { tokens })
}

/// The status of `method path` as `token`; a push carries one line.
async fn status_of(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> u16 {
    let client = Client::builder().timeout(Duration::from_secs(20)).finish();
    let mut request = match method {
        "POST" => client.post(app.url(path)),
        "HEAD" => client.head(app.url(path)),
        "OPTIONS" => client.request(awc::http::Method::OPTIONS, app.url(path)),
        _ => client.get(app.url(path)),
    };
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let line = common::fixture_lines()[0].to_owned();
    let response = match method {
        "POST" => request.send_body(format!("{line}\n")).await,
        _ => request.send().await,
    };
    response.expect("a response").status().as_u16()
}

/// Whether `token`'s scope is enough for `needed`.
fn allowed(token: Option<Scope>, needed: Option<Scope>) -> bool {
    match (token, needed) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(have), Some(needed)) => have == needed || have == Scope::Admin,
    }
}

/// Checks one spelling against the scope of the route it reaches.
async fn check(
    app: &TestApp,
    callers: &Callers,
    method: &str,
    spelling: &str,
    needed: Option<Scope>,
) {
    for (scope, token) in &callers.tokens {
        let status = status_of(app, method, spelling, token.as_deref()).await;
        let refused = status == 401 || status == 403;
        assert_eq!(
            refused,
            !allowed(*scope, needed),
            "{method} {spelling} as {scope:?}: {status}"
        );
    }
}

/// Every letter of `path` percent-encoded, in lower- or upper-case hex.
fn every_letter_encoded(path: &str, upper: bool) -> String {
    path.chars()
        .map(|c| match (c.is_ascii_alphabetic(), upper) {
            (true, true) => format!("%{:02X}", c as u8),
            (true, false) => format!("%{:02x}", c as u8),
            _ => c.to_string(),
        })
        .collect()
}

#[actix_rt::test]
async fn every_route_lets_in_exactly_the_scopes_of_the_table_however_it_is_spelled() {
    let (app, callers) = app_with_a_token_per_scope().await;
    for (method, path, needed) in ROUTES {
        let mut first_letter = path.to_owned();
        first_letter.replace_range(1..2, &format!("%{:02x}", path.as_bytes()[1]));
        // These reach the route itself, or a path under it (which its check also guards).
        for spelling in [
            path.to_owned(),
            first_letter,
            every_letter_encoded(path, false),
            every_letter_encoded(path, true),
            format!("{path}/"),
        ] {
            check(&app, &callers, method, &spelling, needed).await;
        }
        // Another method reaches the same route's check (and then a 405).
        for other in ["HEAD", "OPTIONS"] {
            check(&app, &callers, other, path, needed).await;
        }
        // These reach no route: `read`, like any unknown path.
        let rest = &path[1..];
        let mut unrouted = vec![
            format!("/%2F{rest}"),
            format!("/{path}"),
            path.replacen('/', "//", 2),
        ];
        if rest.contains('/') {
            unrouted.push(format!("/{}", rest.replace('/', "%2f")));
        }
        for spelling in unrouted {
            check(&app, &callers, method, &spelling, Some(Scope::Read)).await;
        }
    }
    for path in OPEN {
        for spelling in [
            path.to_owned(),
            every_letter_encoded(path, false),
            every_letter_encoded(path, true),
        ] {
            check(&app, &callers, "GET", &spelling, None).await;
        }
    }
    // Nothing a refused push carried was stored: only the admin's and the ingest token's.
    let admin = callers
        .tokens
        .iter()
        .find(|(s, _)| *s == Some(Scope::Admin));
    let admin = admin.unwrap().1.clone().unwrap();
    let count = Client::default()
        .get(app.url("/logs/count"))
        .insert_header(("Authorization", format!("Bearer {admin}")))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let sources = ["admin", "ingest"];
    // Each let in push stored its one line: 4 spellings reach /ingest, by 2 tokens.
    assert_eq!(
        count["count"].as_i64(),
        Some(4 * sources.len() as i64),
        "{count}"
    );
    app.stop().await;
}

/// A path spelled with random letters percent-encoded, in random case.
fn spelled(path: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec((any::<bool>(), any::<bool>()), path.len()).prop_map(move |coins| {
        path.chars()
            .zip(coins)
            .map(|(c, (encode, upper))| match (c != '/' && encode, upper) {
                (true, true) => format!("%{:02X}", c as u8),
                (true, false) => format!("%{:02x}", c as u8),
                _ => c.to_string(),
            })
            .collect()
    })
}

fn any_route() -> impl Strategy<Value = (String, &'static str, Option<Scope>)> {
    (0..ROUTES.len()).prop_flat_map(|i| {
        let (method, path, needed) = ROUTES[i];
        spelled(path).prop_map(move |spelling| (spelling, method, needed))
    })
}

#[test]
fn random_encodings_reach_their_route_and_its_check() {
    let system = actix_rt::System::new();
    let (app, callers) = system.block_on(app_with_a_token_per_scope());
    let config = ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    };
    proptest!(config, |((spelling, method, needed) in any_route())| {
        system.block_on(check(&app, &callers, method, &spelling, needed));
    });
    system.block_on(app.stop());
}
