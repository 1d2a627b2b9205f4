//! The benches' HTTP client: awc on the bench's own actix System.

use std::time::Duration;

use awc::http::header::LINK;
use awc::{Client, Connector};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::BenchError;

/// Well past the service's own query timeout (5 s by default), so a slow answer is the service's
/// 503, not a client-side failure.
const TIMEOUT: Duration = Duration::from_secs(60);
const BODY_LIMIT: usize = 1 << 30;

pub struct Fetched {
    pub status: u16,
    pub body: Bytes,
    /// The `rel="next"` URL of the Link header.
    pub next: Option<String>,
}

/// The fields of `GET /sources` (`SourceSnapshot` in src/ingest/status.rs) the benches read.
#[derive(Debug, Deserialize)]
pub struct SourceView {
    pub address: String,
    /// `connecting`, `streaming`, `backing_off`, `finished` or `stopped`.
    pub state: String,
    pub lines_stored: u64,
    pub lines_rejected: u64,
    #[serde(default)]
    pub last_error: Option<String>,
}

pub struct Api {
    client: Client,
    pub base: String,
    gzip: bool,
}

impl Api {
    pub fn new(base: &str, gzip: bool) -> Self {
        let connector = Connector::new()
            // No cap of its own: --concurrency decides how many connections there are.
            .limit(0)
            // A long sequential run must stay on its one keep-alive connection (default: 75 s).
            .conn_lifetime(Duration::from_secs(24 * 3600));
        let client = Client::builder()
            .connector(connector)
            .timeout(TIMEOUT)
            .finish();
        let base = if base.contains("://") {
            base.to_owned()
        } else {
            format!("http://{base}")
        };
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            gzip,
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// The service writes absolute `next` links; a relative one is taken against the base.
    pub fn absolute(&self, link: &str) -> String {
        if link.starts_with('/') {
            self.url(link)
        } else {
            link.to_owned()
        }
    }

    /// One GET, read to the end of the body.
    pub async fn get(&self, url: &str) -> Result<Fetched, BenchError> {
        let mut request = self.client.get(url);
        if !self.gzip {
            // Without Accept-Encoding the service does not compress, as for curl, which is how
            // most of the API's users call it (`--gzip` measures what browsers get).
            request = request.no_decompress();
        }
        let failed = |e: String| BenchError::Http {
            url: url.to_owned(),
            message: e,
        };
        let mut response = request.send().await.map_err(|e| failed(e.to_string()))?;
        let next = response
            .headers()
            .get(LINK)
            .and_then(|value| value.to_str().ok())
            .and_then(next_link);
        let body = response
            .body()
            .limit(BODY_LIMIT)
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(Fetched {
            status: response.status().as_u16(),
            body,
            next,
        })
    }

    /// GET `path_and_query`, expecting 200 and a JSON body.
    pub async fn json<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, BenchError> {
        let url = self.url(path_and_query);
        let fetched = self.get(&url).await?;
        if fetched.status != 200 {
            return Err(BenchError::Http {
                url,
                message: format!(
                    "status {}: {}",
                    fetched.status,
                    String::from_utf8_lossy(&fetched.body)
                ),
            });
        }
        serde_json::from_slice(&fetched.body).map_err(|e| BenchError::Http {
            url,
            message: format!("unexpected body: {e}"),
        })
    }

    pub async fn sources(&self) -> Result<Vec<SourceView>, BenchError> {
        self.json("/sources").await
    }
}

/// The URL of the `rel="next"` link in a Link header (`<URL>; rel="next"`, maybe among others).
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
        params
            .split(';')
            .any(|param| matches!(param.trim(), "rel=\"next\"" | "rel=next"))
            .then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_next_link() {
        let header = "<http://127.0.0.1:8000/logs?limit=100&cursor=AbC_9>; rel=\"next\"";
        assert_eq!(
            next_link(header).as_deref(),
            Some("http://127.0.0.1:8000/logs?limit=100&cursor=AbC_9")
        );
        let several = "<http://h/first>; rel=\"first\", <http://h/next>; rel=\"next\"";
        assert_eq!(next_link(several).as_deref(), Some("http://h/next"));
        assert_eq!(next_link("<http://h/prev>; rel=\"prev\""), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn a_base_without_scheme_is_http() {
        let system = actix_rt::System::new();
        system.block_on(async {
            assert_eq!(
                Api::new("127.0.0.1:8000/", false).base,
                "http://127.0.0.1:8000"
            );
            assert_eq!(
                Api::new("http://localhost:1", false).url("/logs"),
                "http://localhost:1/logs"
            );
        });
    }
}
