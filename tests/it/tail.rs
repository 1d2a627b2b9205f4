//! Live tail (`GET /logs/stream`) against the service on a random port, fed by a source the
//! test controls: lines committed after subscribing arrive as events, a reconnecting client
//! resumes with `Last-Event-ID`, a client that does not read is told it fell behind and gets
//! what it missed, and open streams end at shutdown.

use crate::common;

use std::time::{Duration, Instant};

use awc::Client;
use common::app::TestApp;
use common::eventually;
use futures_util::StreamExt;
use loggerator::emulator::LineGenerator;
use loggerator::parse::parse_line;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

/// A source that sends whatever the test gives it, when it gives it.
async fn controlled_source() -> (String, mpsc::UnboundedSender<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (lines, mut to_send) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        while let Some(text) = to_send.recv().await {
            if socket.write_all(text.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    (address, lines)
}

fn send(source: &mpsc::UnboundedSender<String>, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    source.send(text).unwrap();
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Event {
    id: Option<String>,
    event: Option<String>,
    data: String,
    /// A comment (`: keep-alive`) rather than an event.
    comment: bool,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {:?}", self.data))
    }

    fn is_line(&self) -> bool {
        !self.comment && self.event.is_none() && self.id.is_some()
    }
}

/// An open event stream, parsed as it arrives.
struct Stream {
    body: Body,
    buffer: String,
}

type Body = awc::ClientResponse<
    actix_web::dev::Decompress<
        actix_web::dev::Payload<
            std::pin::Pin<
                Box<
                    dyn futures_util::Stream<
                        Item = Result<actix_web::web::Bytes, awc::error::PayloadError>,
                    >,
                >,
            >,
        >,
    >,
>;

async fn open(
    app: &TestApp,
    query: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<Stream>, String) {
    let mut request = Client::builder()
        .timeout(Duration::from_secs(600))
        .finish()
        .get(app.url(&format!("/logs/stream?{query}")));
    for &(name, value) in headers {
        request = request.insert_header((name, value));
    }
    let mut response: Body = request.send().await.expect("a response");
    let status = response.status().as_u16();
    if status != 200 {
        let body = response.body().await.unwrap();
        return (status, None, String::from_utf8_lossy(&body).into_owned());
    }
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    (
        status,
        Some(Stream {
            body: response,
            buffer: String::new(),
        }),
        content_type,
    )
}

impl Stream {
    /// The next event or comment; `None` once the stream has ended.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Event::default();
                for line in block.lines() {
                    if let Some(comment) = line.strip_prefix(':') {
                        event.comment = true;
                        event.data = comment.trim().to_owned();
                    } else if let Some((field, value)) = line.split_once(':') {
                        let value = value.strip_prefix(' ').unwrap_or(value);
                        match field {
                            "id" => event.id = Some(value.to_owned()),
                            "event" => event.event = Some(value.to_owned()),
                            "data" => event.data.push_str(value),
                            _ => {}
                        }
                    }
                }
                if block
                    .lines()
                    .filter(|l| !l.is_empty())
                    .all(|l| l.starts_with("retry:"))
                {
                    continue;
                }
                return Some(event);
            }
            let chunk = tokio::time::timeout(WAIT, self.body.next())
                .await
                .expect("the stream stalled")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk.expect("a chunk")).unwrap());
        }
    }

    /// Line events until `done` says enough, skipping comments; control events are returned
    /// too.
    async fn collect(&mut self, mut done: impl FnMut(&[Event]) -> bool) -> Vec<Event> {
        let deadline = Instant::now() + WAIT;
        let mut events = Vec::new();
        while !done(&events) {
            assert!(
                Instant::now() < deadline,
                "timed out after {} events; the last: {:?}",
                events.len(),
                events.last()
            );
            match self.next().await {
                Some(event) if event.comment => {}
                Some(event) => events.push(event),
                None => break,
            }
        }
        events
    }
}

fn lines(seed: u64, count: usize) -> Vec<String> {
    let mut generator = LineGenerator::new(seed);
    (0..count).map(|_| generator.next_line()).collect()
}

#[actix_rt::test]
async fn lines_committed_after_subscribing_arrive_filtered_and_a_reconnect_resumes() {
    let (address, source) = controlled_source().await;
    let app = TestApp::spawn(vec![address]).await;
    // The writer publishes a batch just after committing it: a follower of everything, opened
    // first, says when the first lines' batches have all been published, so that a follower
    // opened after that is sent none of them.
    let (_, probe, _) = open(&app, "", &[]).await;
    let mut probe = probe.unwrap();
    let before = lines(11, 200);
    send(&source, &before);
    probe.collect(|events| events.len() >= 200).await;
    drop(probe);
    assert_eq!(app.count("").await, 200);

    let (status, stream, content_type) = open(&app, "code=500&method=get,post", &[]).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let mut stream = stream.unwrap();
    // Keep-alive comments come on an idle stream (every 200 ms in tests).
    let mut comments = 0;
    while comments < 2 {
        let event = stream.next().await.unwrap();
        assert!(event.comment, "nothing was committed yet: {event:?}");
        comments += 1;
    }
    // A second follower, on users: it visits only those users' lines of each batch.
    let after = lines(12, 300);
    let user = parse_line(&after[0]).unwrap().user.unwrap().to_owned();
    let (_, by_user, _) = open(&app, &format!("user={user}&user=-&method=get,put"), &[]).await;
    let mut by_user = by_user.unwrap();
    send(&source, &after);
    let expected: Vec<&String> = after
        .iter()
        .filter(|l| {
            let r = parse_line(l).unwrap();
            r.code == 500 && ["GET", "POST"].contains(&r.method.as_ref())
        })
        .collect();
    assert!(expected.len() > 20);
    let events = stream.collect(|e| e.len() >= expected.len()).await;
    let got: Vec<String> = events
        .iter()
        .map(|e| {
            assert!(e.is_line(), "{e:?}");
            e.json()["line"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        got,
        expected.iter().map(|l| l.to_string()).collect::<Vec<_>>()
    );
    let expected_by_user: Vec<&String> = after
        .iter()
        .filter(|l| {
            let r = parse_line(l).unwrap();
            (r.user == Some(user.as_str()) || r.user.is_none())
                && ["GET", "PUT"].contains(&r.method.as_ref())
        })
        .collect();
    assert!(expected_by_user.len() > 3);
    let got: Vec<String> = by_user
        .collect(|e| e.len() >= expected_by_user.len())
        .await
        .iter()
        .map(|e| e.json()["line"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        got,
        expected_by_user
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
    );
    // Each event is the row as /logs shows it, with the row id as the event id.
    let listed = app.get("/logs?code=500&method=get,post&limit=1000").await;
    for event in &events {
        let id: i64 = event.id.as_deref().unwrap().parse().unwrap();
        let row = listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap();
        assert_eq!(&event.json(), row);
    }

    // A client that reconnects with the id of the 5th event gets the ones after it first, from
    // the database, then what comes next; as a header or as a parameter.
    let fifth = events[4].id.clone().unwrap();
    for (query, headers) in [
        (
            "code=500&method=get,post".to_owned(),
            vec![("Last-Event-ID", fifth.as_str())],
        ),
        (
            format!("code=500&method=get,post&last_event_id={fifth}"),
            vec![],
        ),
    ] {
        let (status, stream, _) = open(&app, &query, &headers).await;
        assert_eq!(status, 200);
        let mut stream = stream.unwrap();
        let resumed = stream.collect(|e| e.len() >= events.len() - 5).await;
        assert_eq!(resumed, events[5..], "{query}");
    }
    app.stop().await;
}

#[actix_rt::test]
async fn a_client_that_does_not_read_is_told_it_fell_behind_and_gets_every_line_once() {
    let (address, source) = controlled_source().await;
    let app = TestApp::spawn(vec![address]).await;
    let (_, stream, _) = open(&app, "", &[]).await;
    let mut stream = stream.unwrap();
    // Far more than the client's buffer, the sockets' and the broadcast's 64 batches (of 500
    // lines in tests) hold while it reads nothing; fewer than the 100,000 lines a follower
    // reads back.
    let total = 90_000;
    let all = lines(13, total + 20_000);
    for chunk in all[..total].chunks(10_000) {
        send(&source, chunk);
    }
    eventually("every line stored", Duration::from_secs(60), || async {
        (app.count("").await == total as i64).then_some(())
    })
    .await;
    let events = stream
        .collect(|e| {
            e.last()
                .and_then(|e| e.id.as_deref())
                .is_some_and(|id| id == total.to_string())
        })
        .await;
    let overflows = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("overflow"))
        .count();
    assert!(overflows >= 1, "the client was told it fell behind");
    let ids: Vec<i64> = events
        .iter()
        .filter(|e| e.is_line())
        .map(|e| e.id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        ids,
        (1..=total as i64).collect::<Vec<_>>(),
        "every line once, in order"
    );

    // Resuming from the start reads back at most 100,000 lines, then says what it skipped.
    send(&source, &all[total..]);
    let total = all.len();
    eventually("every line stored", Duration::from_secs(60), || async {
        (app.count("").await == total as i64).then_some(())
    })
    .await;
    let (_, stream, _) = open(&app, "", &[("Last-Event-ID", "0")]).await;
    let mut stream = stream.unwrap();
    let events = stream
        .collect(|e| {
            e.last()
                .is_some_and(|e| e.event.as_deref() == Some("skipped"))
        })
        .await;
    let skipped = events.last().unwrap().json();
    let replayed = events.iter().filter(|e| e.is_line()).count() as i64;
    assert_eq!(replayed, 100_000);
    assert_eq!(skipped["from_id"], replayed + 1);
    assert_eq!(skipped["to_id"], total as i64);
    assert_eq!(skipped["lines"], total as i64 - replayed);
    assert!(skipped["export"]
        .as_str()
        .unwrap()
        .starts_with("/logs?format=ndjson"));
    app.stop().await;
}

#[actix_rt::test]
async fn open_streams_end_at_shutdown_and_bad_requests_get_400() {
    let app = TestApp::spawn(vec![]).await;
    for (query, headers, parameter) in [
        ("code=9xx", vec![], "code"),
        ("last_event_id=x", vec![], "last_event_id"),
        ("", vec![("Last-Event-ID", "-1")], "Last-Event-ID"),
        ("limit=5", vec![], "limit"),
    ] {
        let (status, _, body) = open(&app, query, &headers).await;
        assert_eq!(status, 400, "{query}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
    }
    let (_, stream, _) = open(&app, "", &[]).await;
    let mut stream = stream.unwrap();
    let reader = actix_rt::spawn(async move {
        let mut events = Vec::new();
        while let Some(event) = stream.next().await {
            events.push(event);
        }
        events
    });
    let started = Instant::now();
    app.stop().await;
    let events = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the stream ended")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        events.last().and_then(|e| e.event.as_deref()),
        Some("shutdown"),
        "{events:?}"
    );
}

/// Hot rows left in the database (none once compaction has taken every segment).
fn hot_rows(db: &common::TempDb) -> i64 {
    use diesel::prelude::*;
    use loggerator::db::schema::log_lines;
    let mut conn = loggerator::db::connection::open_reader(&db.path).unwrap();
    log_lines::table.count().get_result(&mut conn).unwrap()
}

#[actix_rt::test]
async fn a_stream_goes_on_and_a_reconnect_resumes_across_a_compaction() {
    let (address, source) = controlled_source().await;
    let db = common::temp_db();
    let mut config = common::service_config(&db, vec![address]);
    // Segments sealed soon when idle: every line is compacted within seconds, the first 300
    // into one block of two frames of lines.
    config.segment_rows = 1_000;
    config.seal_idle = Duration::from_secs(1);
    let app = TestApp::spawn_with(db, config).await;
    let (_, stream, _) = open(&app, "", &[]).await;
    let mut stream = stream.unwrap();
    let (_, by_code, _) = open(&app, "code=500", &[]).await;
    let mut by_code = by_code.unwrap();
    let first = lines(21, 300);
    send(&source, &first);
    let live = stream.collect(|e| e.len() >= first.len()).await;
    let is_500 = |l: &&String| parse_line(l).unwrap().code == 500;
    let live_500 = by_code
        .collect(|e| e.len() >= first.iter().filter(is_500).count())
        .await;
    eventually("every line compacted", WAIT, || async {
        (hot_rows(&app.db) == 0).then_some(())
    })
    .await;

    // The open streams go on with lines committed after the compaction.
    let second = lines(22, 100);
    send(&source, &second);
    let more = stream.collect(|e| e.len() >= second.len()).await;
    assert!(more.iter().all(Event::is_line));
    let more_500 = by_code
        .collect(|e| e.len() >= second.iter().filter(is_500).count())
        .await;

    // A reconnect from the 5th event reads the rest back from blocks, then what came after.
    let all: Vec<Event> = live.iter().chain(&more).cloned().collect();
    let fifth = all[4].id.clone().unwrap();
    let (_, resumed, _) = open(&app, "", &[("Last-Event-ID", fifth.as_str())]).await;
    let resumed = resumed.unwrap().collect(|e| e.len() >= all.len() - 5).await;
    assert_eq!(resumed, all[5..]);
    let all_500: Vec<Event> = live_500.iter().chain(&more_500).cloned().collect();
    let third = all_500[2].id.clone().unwrap();
    let (_, resumed, _) = open(&app, &format!("code=500&last_event_id={third}"), &[]).await;
    let resumed = resumed
        .unwrap()
        .collect(|e| e.len() >= all_500.len() - 3)
        .await;
    assert_eq!(resumed, all_500[3..]);
    let sent: Vec<&String> = first.iter().chain(&second).collect();
    let streamed: Vec<String> = all
        .iter()
        .map(|e| e.json()["line"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        streamed,
        sent.iter().map(|l| l.to_string()).collect::<Vec<_>>()
    );
    app.stop().await;
}
