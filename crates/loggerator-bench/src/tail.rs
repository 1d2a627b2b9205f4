//! Live-tail subscribers for `loggerator-bench ingest --tail-subscribers N`: N followers of
//! `/logs/stream`, each with a filter matching about 1 % of the lines (one user of 64, two
//! codes of 3), and one unfiltered. Each measures, per event, the time from its batch's commit
//! (the `: committed <ms>` comment the service sends before a batch's events) to its arrival.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use awc::Client;
use futures_util::StreamExt;
use tokio::sync::watch;

use loggerator::emulator::LineGenerator;

/// What one subscriber saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Milliseconds from commit to arrival, one per line event.
    pub latencies_ms: Vec<f64>,
    pub lines: u64,
    pub overflows: u64,
    pub skipped: u64,
    pub unfiltered: bool,
}

/// The filtered subscribers' queries: each user of the emulated sources (seeds 1 to
/// `sources`, 16 users each) with `code=500,403`, in turn.
pub fn filters(sources: u64, subscribers: usize) -> Vec<String> {
    let users: Vec<String> = (1..=sources.max(1))
        .flat_map(|seed| {
            LineGenerator::new(seed)
                .users()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    (0..subscribers)
        .map(|i| {
            let user = &users[i % users.len()];
            format!(
                "user={}&code=500,403",
                serde_urlencoded::to_string([("u", user)])
                    .unwrap_or_default()
                    .trim_start_matches("u=")
            )
        })
        .collect()
}

/// Follows `/logs/stream?{query}` until `stop` says so.
pub async fn follow(base: String, query: String, mut stop: watch::Receiver<bool>) -> Seen {
    let mut seen = Seen {
        unfiltered: query.is_empty(),
        ..Seen::default()
    };
    let client = Client::builder()
        .timeout(Duration::from_secs(24 * 3600))
        .finish();
    let Ok(mut response) = client
        .get(format!("{base}/logs/stream?{query}"))
        .send()
        .await
    else {
        return seen;
    };
    let mut buffer = String::new();
    let mut committed_ms: Option<f64> = None;
    loop {
        let chunk = tokio::select! {
            _ = stop.changed() => return seen,
            chunk = response.next() => chunk,
        };
        let Some(Ok(chunk)) = chunk else {
            return seen;
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
            if let Some(at) = block.strip_prefix(": committed ") {
                committed_ms = at.trim().parse().ok();
            } else if block.contains("event: overflow") {
                seen.overflows += 1;
            } else if block.contains("event: skipped") {
                seen.skipped += 1;
            } else if block.starts_with("id: ") {
                seen.lines += 1;
                if let Some(at) = committed_ms {
                    seen.latencies_ms.push(now_ms - at);
                }
            }
        }
    }
}
