//! The service as the API tests see it: started on port 0 with a temporary database, and typed
//! helpers for the requests they make (after zero2prod's `spawn_app`).

use awc::Client;
use loggerator::service::{Service, ServiceConfig};
use serde_json::Value;

use super::{service_config, temp_db, TempDb};

/// Big enough for the largest page (10,000 rows) the tests ask for.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

pub struct TestApp {
    pub service: Service,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Kept for the service's lifetime, and handed back by [`TestApp::stop`] for a restart.
    pub db: TempDb,
}

/// One answer: its status, the URL of its `Link: <...>; rel="next"` header, and its JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub next: Option<String>,
    pub body: Value,
}

impl TestApp {
    /// The service on a fresh temporary database, ingesting from `sources`.
    pub async fn spawn(sources: Vec<String>) -> TestApp {
        TestApp::spawn_on(temp_db(), sources).await
    }

    /// The service on `db` (one a test filled, or one kept across a restart).
    pub async fn spawn_on(db: TempDb, sources: Vec<String>) -> TestApp {
        let config = service_config(&db, sources);
        TestApp::spawn_with(db, config).await
    }

    /// The service on `db` with `config` (the tests' [`service_config`], changed).
    pub async fn spawn_with(db: TempDb, config: ServiceConfig) -> TestApp {
        let service = Service::start(config).await.expect("service starts");
        TestApp {
            base: format!("http://{}", service.http_addr),
            service,
            db,
        }
    }

    /// Shuts down as at a signal; returns the database and how many lines were lost.
    pub async fn stop(self) -> (TempDb, u64) {
        let lost = self.service.shutdown().await;
        (self.db, lost)
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    pub async fn get(&self, path_and_query: &str) -> Reply {
        get(&self.url(path_and_query)).await
    }

    /// `GET /logs/count?{query}`, which must succeed.
    pub async fn count(&self, query: &str) -> i64 {
        let reply = self.get(&format!("/logs/count?{query}")).await;
        assert_eq!(reply.status, 200, "count {query}: {}", reply.body);
        reply.body["count"].as_i64().expect("a count")
    }

    /// `GET /sources`.
    pub async fn sources(&self) -> Vec<Value> {
        let reply = self.get("/sources").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body.as_array().expect("an array").clone()
    }

    /// Every page of a listing, following the `Link` headers from `path_and_query`: the rows
    /// in order, and how many pages there were.
    pub async fn all_pages(&self, path_and_query: &str) -> (Vec<Value>, usize) {
        let mut url = self.url(path_and_query);
        let mut rows = Vec::new();
        let mut pages = 0;
        loop {
            let reply = get(&url).await;
            assert_eq!(reply.status, 200, "{url}: {}", reply.body);
            rows.extend(reply.body.as_array().expect("an array").iter().cloned());
            pages += 1;
            match reply.next {
                Some(next) => url = next,
                None => return (rows, pages),
            }
        }
    }
}

/// `GET url`, with its JSON body.
pub async fn get(url: &str) -> Reply {
    let mut response = Client::default().get(url).send().await.expect("a response");
    let next = response
        .headers()
        .get("link")
        .map(|v| absolute(url, &next_url(v.to_str().expect("an ASCII Link header"))));
    let body = response.body().limit(MAX_BODY_BYTES).await.expect("a body");
    let body = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body:?}"));
    Reply {
        status: response.status().as_u16(),
        next,
        body,
    }
}

/// `GET url` with `headers`: the status, the Content-Type and the body as text.
pub async fn get_text(url: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut request = Client::default().get(url);
    for &(name, value) in headers {
        request = request.insert_header((name, value));
    }
    text_of(request.send().await.expect("a response")).await
}

/// `POST url` with a text body: the status, the Content-Type and the body as text.
pub async fn post_text(url: &str, body: &str) -> (u16, String, String) {
    let response = Client::default()
        .post(url)
        .send_body(body.to_owned())
        .await
        .expect("a response");
    text_of(response).await
}

async fn text_of<S>(mut response: awc::ClientResponse<S>) -> (u16, String, String)
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>> + Unpin,
{
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let body = response.body().limit(MAX_BODY_BYTES).await.expect("a body");
    (
        response.status().as_u16(),
        content_type,
        String::from_utf8(body.to_vec()).expect("UTF-8"),
    )
}

/// `link` (a path, as the service writes them) resolved against `url`'s origin.
pub fn absolute(url: &str, link: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let origin_end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    format!("{}{link}", &url[..origin_end])
}

/// The URL of a `Link: <URL>; rel="next"` header.
pub fn next_url(link: &str) -> String {
    link.strip_prefix('<')
        .and_then(|l| l.split_once(">; rel=\"next\""))
        .unwrap_or_else(|| panic!("not a next link: {link}"))
        .0
        .to_owned()
}

/// The ids of a page of `/logs` objects.
pub fn ids(rows: &[Value]) -> Vec<i64> {
    rows.iter()
        .map(|row| row["id"].as_i64().expect("an id"))
        .collect()
}
