//! `GET /metrics`: the Prometheus text format. Storage and HTTP metrics are recorded as things
//! happen; the sources' counters and the database's size are read at each scrape.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{get, web, HttpResponse};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use super::error::ApiError;
use super::openapi::ErrorBody;
use super::AppState;
use crate::ingest::{SourceList, SourceSnapshot};

/// The content type of Prometheus' text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The live tail's route: its requests last as long as the stream, so their durations would
/// drown every other route's; they are counted, not timed.
const STREAM_ROUTE: &str = "/logs/stream";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Route {
    route: String,
}

/// Requests by route pattern and status, and their durations by route.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<RouteStatus, Counter>,
    durations: Family<Route, Histogram>,
    /// Chunks exports have asked the readers for (one query each): an export whose client
    /// has gone stops adding to it.
    pub export_chunks: Counter,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            // 100 us to about 13 s.
            durations: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 18))
            }),
            export_chunks: Counter::default(),
        }
    }
}

impl HttpMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "http_requests",
            "HTTP requests by route pattern and status",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "HTTP request durations by route pattern (the live tail's left out)",
            Unit::Seconds,
            self.durations.clone(),
        );
        registry.register(
            "export_chunks",
            "Chunks of rows or lines exports have read, one reader query each",
            self.export_chunks.clone(),
        );
    }
}

/// Counts and times every request, by the route pattern it matched (`unmatched` for none, so
/// that unknown paths cannot grow the label set).
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let recorded = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.http_metrics.clone());
    let started = Instant::now();
    let response = next.call(req).await?;
    if let Some(http) = recorded {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let status = response.status().as_u16();
        http.requests
            .get_or_create(&RouteStatus {
                route: route.clone(),
                status,
            })
            .inc();
        if route != STREAM_ROUTE {
            http.durations
                .get_or_create(&Route { route })
                .observe(started.elapsed().as_secs_f64());
        }
    }
    Ok(response)
}

/// A per-source counter: its name, help and where its value is in a snapshot.
type SourceCounter = (&'static str, &'static str, fn(&SourceSnapshot) -> u64);

/// Each source's counters and state, read from its status at each scrape.
#[derive(Debug)]
pub struct SourcesCollector(pub SourceList);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SourceStateLabel {
    source: String,
    state: String,
}

impl Collector for SourcesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sources = self.0.all();
        let snapshots: Vec<SourceSnapshot> = sources.iter().map(|s| s.snapshot()).collect();
        let counters: [SourceCounter; 6] = [
            (
                "source_lines_received",
                "Lines received from the source",
                |s| s.lines_received,
            ),
            ("source_lines_stored", "Lines of the source stored", |s| {
                s.lines_stored
            }),
            (
                "source_lines_rejected",
                "Lines of the source kept as rejected",
                |s| s.lines_rejected,
            ),
            (
                "source_lines_replayed",
                "Replayed lines skipped as already stored",
                |s| s.lines_replayed,
            ),
            ("source_lines_lost", "Lines received but not stored", |s| {
                s.lines_lost
            }),
            (
                "source_connection_attempts",
                "Connection attempts to the source",
                |s| s.connection_attempts,
            ),
        ];
        for (name, help, value) in counters {
            let mut metric = encoder.encode_descriptor(
                name,
                help,
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            for snapshot in &snapshots {
                let label = SourceLabel {
                    source: snapshot.address.clone(),
                };
                ConstCounter::new(value(snapshot)).encode(metric.encode_family(&label)?)?;
            }
        }
        let mut metric = encoder.encode_descriptor(
            "source_state",
            "1 for the state the source is in",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for snapshot in &snapshots {
            let label = SourceStateLabel {
                source: snapshot.address.clone(),
                state: serde_json::to_value(snapshot.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            };
            ConstGauge::new(1i64).encode(metric.encode_family(&label)?)?;
        }
        let mut metric = encoder.encode_descriptor(
            "writer_batches_waiting",
            "Batches of the source sent to the database writer and not committed yet",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for source in &sources {
            let label = SourceLabel {
                source: source.address.clone(),
            };
            ConstGauge::new(source.batches_waiting() as i64)
                .encode(metric.encode_family(&label)?)?;
        }
        Ok(())
    }
}

/// The database and WAL files' sizes, read at each scrape.
#[derive(Debug)]
pub struct FilesCollector(pub PathBuf);

impl Collector for FilesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let size = |suffix: &str| {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            std::fs::metadata(path).map_or(0, |m| m.len() as i64)
        };
        for (name, help, bytes) in [
            ("database_size", "The database file's size", size("")),
            ("wal_size", "The write-ahead log's size", size("-wal")),
        ] {
            let gauge = ConstGauge::new(bytes);
            let metric =
                encoder.encode_descriptor(name, help, Some(&Unit::Bytes), gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

/// Metrics in Prometheus' text format
///
/// Per source: lines received, stored, rejected, replayed, lost, connection attempts, state.
/// Storage: commit latency, lines per batch, checkpoint time, segments, database and WAL
/// bytes. HTTP: requests by route and status, durations by route.
#[utoipa::path(
    tag = "service",
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain", body = String),
        (status = 500, description = "Internal error", body = ErrorBody),
    ),
)]
#[get("")] // /metrics: see `super::routes`
pub async fn scrape(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &state.metrics)
        .map_err(|_| ApiError::Unavailable)?;
    // The prefix is the registry's; the text format needs no trailer.
    let _ = writeln!(text);
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(text))
}
