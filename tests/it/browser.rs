//! The web page in a real browser: Debian's Chromium driven through chromedriver (WebDriver)
//! with fantoccini, against the service ingesting from the emulator. Filters, paging, a row's
//! details, narrowing the histogram, live tail with lines pushed meanwhile, sources and
//! rejected lines, and the token prompt. Screenshots go to `target/screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`); as root, the test installs them with apt when they are missing, as
//! `.ci/run` does.

use crate::common;

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::app::TestApp;
use common::{eventually, service_config, temp_db};
use fantoccini::actions::InputSource;
use fantoccini::{Client, ClientBuilder, Locator};
use loggerator::emulator;
use loggerator::tokens::{new_token, Scope};
use serde_json::{json, Value};
use tokio::net::TcpListener;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const LINES: u64 = 3_000;
const WAIT: Duration = Duration::from_secs(20);

/// One browser at a time: two would fight for the 2 cores and time out.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Installs Chromium and its driver if missing and allowed (root with apt), once.
fn ensure_browser() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        if std::path::Path::new(CHROMEDRIVER).exists() {
            return;
        }
        eprintln!("{CHROMEDRIVER} is missing: installing Debian's chromium and chromium-driver");
        let installed = Command::new("sh")
            .args([
                "-c",
                "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver",
            ])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            installed,
            "the browser tests need Debian's chromium and chromium-driver \
             (apt-get install chromium chromium-driver)"
        );
    });
}

struct Browser {
    client: Client,
    driver: Child,
    shots: PathBuf,
}

impl Browser {
    async fn start(width: u32, height: u32) -> Browser {
        ensure_browser();
        let port = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // As root Chromium needs --no-sandbox; the rest keep it quiet and offline.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-gpu",
                    format!("--window-size={width},{height}"),
                ],
            }
        });
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(capabilities.as_object().unwrap().clone());
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        let client = loop {
            match builder.connect(&url).await {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            client,
            driver,
            shots,
        }
    }

    /// Evaluates `script` (a function body returning a value) until it returns something
    /// other than null, false or undefined.
    async fn until(&self, what: &str, script: &str) -> Value {
        self.until_within(what, script, WAIT).await
    }

    async fn until_within(&self, what: &str, script: &str, wait: Duration) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            let value = self.client.execute(script, vec![]).await.unwrap();
            if !matches!(value, Value::Null | Value::Bool(false)) {
                return value;
            }
            if Instant::now() > deadline {
                self.shot("timed-out").await;
                panic!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn shot(&self, name: &str) {
        if let Ok(png) = self.client.screenshot().await {
            std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
        }
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The ids of the result rows on the page, in order (live lines included).
const ROW_IDS: &str =
    "return [...document.querySelectorAll('#rows tbody tr[data-id]')].map(r => Number(r.dataset.id));";

async fn emulated_source(count: u64, seed: u64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    actix_rt::spawn(emulator::serve(listener, count, seed));
    address
}

async fn ingested(sources: Vec<String>, lines: i64) -> TestApp {
    let app = TestApp::spawn(sources).await;
    eventually("the emulator's lines", WAIT, || async {
        (app.count("").await == lines).then_some(())
    })
    .await;
    app
}

fn ids_of(rows: &Value) -> Vec<i64> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

fn numbers(values: &Value) -> Vec<i64> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

#[actix_rt::test]
async fn the_page_filters_pages_charts_and_tails_the_logs() {
    let _one = ONE_BROWSER.lock().await;
    let source = emulated_source(LINES, 41).await;
    let app = ingested(vec![source.clone()], LINES as i64).await;
    // A rejected line, pushed, for the rejected view.
    let (status, _, _) =
        common::app::post_text(&app.url("/ingest?source=web"), "this is no log line\n").await;
    assert_eq!(status, 200);

    let browser = Browser::start(1280, 800).await;
    let page = &browser.client;
    page.goto(&app.url("/")).await.unwrap();
    browser
        .until(
            "the first rows",
            "return document.querySelectorAll('#rows tbody tr').length === 50;",
        )
        .await;
    browser
        .until(
            "the count",
            &format!("return document.getElementById('count').dataset.count === '{LINES}';"),
        )
        .await;
    browser
        .until(
            "the histogram",
            "return document.querySelectorAll('#histogram rect.bar').length > 0;",
        )
        .await;
    browser
        .until(
            "top users",
            "return document.querySelectorAll('#top-user button').length > 0;",
        )
        .await;
    browser.shot("page-1280x800").await;

    // Only 500s, and as many as the API counts.
    let expected = app.count("code=500").await;
    browser.fill("#f-code", "500").await;
    browser.click("#search").await;
    browser
        .until(
            "the 500s' count",
            &format!("return document.getElementById('count').dataset.count === '{expected}';"),
        )
        .await;
    let codes = browser
        .until(
            "only 500s",
            "const codes = [...document.querySelectorAll('#rows tbody td.code')].map(c => c.textContent);\
             return codes.length === 50 && codes.every(c => c === '500') && codes;",
        )
        .await;
    assert_eq!(codes.as_array().unwrap().len(), 50);
    assert!(page
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("code=500"));
    // The downloads export the same matches.
    let csv = browser
        .js("return document.getElementById('dl-csv').getAttribute('href');")
        .await;
    assert_eq!(csv, json!("/logs?code=500&format=csv"));
    let name = browser
        .js("return document.getElementById('dl-csv').download;")
        .await;
    let name = name.as_str().unwrap();
    assert!(
        name.len() == "loggerator-20261128-130512.csv".len()
            && name.starts_with("loggerator-20")
            && name.ends_with(".csv"),
        "{name}"
    );
    let api_pages = app.get("/logs?code=500&limit=100").await.body;
    assert_eq!(
        numbers(&browser.js(ROW_IDS).await)[..],
        ids_of(&api_pages)[..50]
    );

    // The second page, through the Link cursor.
    browser.click("#more").await;
    browser
        .until(
            "the second page",
            "return document.querySelectorAll('#rows tbody tr[data-id]').length === 100;",
        )
        .await;
    assert_eq!(numbers(&browser.js(ROW_IDS).await), ids_of(&api_pages));

    // A row's details: every field and the original line.
    browser.click("#rows tbody tr[data-id] button.expand").await;
    let line = browser
        .until("the details", "const pre = document.querySelector('#rows tr.detail pre.line'); return pre && pre.textContent;")
        .await;
    assert_eq!(line, api_pages[0]["line"]);
    let fields = browser
        .js("return [...document.querySelectorAll('#rows tr.detail dt')].map(d => d.textContent);")
        .await;
    for field in [
        "id", "source", "ip", "user", "date", "method", "url", "protocol", "code", "size",
    ] {
        assert!(
            fields.as_array().unwrap().contains(&json!(field)),
            "{field}: {fields}"
        );
    }

    // Drag across the histogram: since/until in the form and the URL, and the count follows.
    // Pointer actions take viewport coordinates: the chart's box as the viewport has it.
    let rect = browser
        .js(
            "const chart = document.querySelector('#histogram svg'); chart.scrollIntoView(); \
             const r = chart.getBoundingClientRect(); return [r.x, r.y, r.width, r.height];",
        )
        .await;
    let rect: Vec<f64> = rect
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let (x, y, width, height) = (rect[0], rect[1], rect[2], rect[3]);
    let actions = fantoccini::actions::MouseActions::new("mouse".to_owned())
        .then(fantoccini::actions::PointerAction::MoveTo {
            duration: None,
            x: x + width * 0.30,
            y: y + height / 2.0,
        })
        .then(fantoccini::actions::PointerAction::Down {
            button: fantoccini::actions::MOUSE_BUTTON_LEFT,
        })
        .then(fantoccini::actions::PointerAction::MoveTo {
            duration: Some(Duration::from_millis(100)),
            x: x + width * 0.45,
            y: y + height / 2.0,
        })
        .then(fantoccini::actions::PointerAction::Up {
            button: fantoccini::actions::MOUSE_BUTTON_LEFT,
        });
    page.perform_actions(actions).await.unwrap();
    let url = browser
        .until("since and until in the URL", "return location.search.includes('since=') && location.search.includes('until=') && location.search;")
        .await;
    let query = url.as_str().unwrap().trim_start_matches('?').to_owned();
    let narrowed = app.count(&query).await;
    assert!(
        narrowed > 0 && narrowed < expected,
        "{query}: {narrowed} of {expected}"
    );
    browser
        .until(
            "the narrowed count",
            &format!("return document.getElementById('count').dataset.count === '{narrowed}';"),
        )
        .await;
    // Back goes to the query before.
    page.back().await.unwrap();
    browser
        .until("back to code=500 alone", &format!("return !location.search.includes('since=') && document.getElementById('f-since').value === '' && document.getElementById('count').dataset.count === '{expected}';"))
        .await;

    // Oldest first: the same matches and count, the listing reversed; live tail is off then.
    browser
        .js(
            "const order = document.getElementById('f-order'); order.value = 'asc'; \
             order.dispatchEvent(new Event('change')); return true;",
        )
        .await;
    let oldest = app.get("/logs?code=500&order=asc&limit=1").await.body;
    browser
        .until(
            "oldest first",
            &format!(
                "return location.search.includes('order=asc') \
            && document.getElementById('count').dataset.count === '{expected}' \
            && document.querySelector('#rows tbody tr[data-id]').dataset.id === '{}' \
            && document.getElementById('tail-switch').disabled \
            && document.querySelectorAll('#histogram rect.bar').length > 0;",
                oldest[0]["id"]
            ),
        )
        .await;
    page.back().await.unwrap();
    browser
        .until("newest first again", "return !location.search.includes('order=') && !document.getElementById('tail-switch').disabled;")
        .await;

    // A top user is a filter: clicked, it joins the query.
    let top_users = browser
        .until(
            "two top users",
            "const names = [...document.querySelectorAll('#top-user button')].map(b => b.textContent); \
             return names.length >= 2 && names;",
        )
        .await;
    let top_users: Vec<String> = serde_json::from_value(top_users).unwrap();
    let (top_user, second_user) = (top_users[0].clone(), top_users[1].clone());
    browser.click("#top-user button").await;
    let for_user = app.count(&format!("code=500&user={top_user}")).await;
    browser
        .until("the top user's count", &format!("return location.search.includes('user=') && document.getElementById('count').dataset.count === '{for_user}';"))
        .await;

    // Several users: "+" gives a second input, either user matches, and the URL carries both,
    // so that loading it fills both inputs again.
    browser.click("#m-user button.add").await;
    browser.fill("#m-user .extra input", &second_user).await;
    browser.click("#search").await;
    let either = format!("code=500&user={top_user}&user={second_user}");
    let for_either = app.count(&either).await;
    assert!(for_either > for_user, "{for_either} for {either}");
    browser
        .until("both users' count", &format!("return location.search === '?{either}' && document.getElementById('count').dataset.count === '{for_either}';"))
        .await;
    browser.js("window.scrollTo(0, 0); return true;").await;
    browser.shot("several-users").await;
    page.goto(&app.url(&format!("/?{either}"))).await.unwrap();
    let inputs = browser
        .until("both users in the form", &format!("const values = [...document.querySelectorAll('#m-user input')].map(i => i.value); \
            return document.getElementById('count').dataset.count === '{for_either}' && values;"))
        .await;
    assert_eq!(inputs, json!([top_user, second_user]));
    // Removing the second leaves the first alone.
    browser.click("#m-user .extra button.remove").await;
    browser.click("#search").await;
    browser
        .until("one user again", &format!("return document.querySelectorAll('#m-user input').length === 1 && document.getElementById('count').dataset.count === '{for_user}';"))
        .await;

    // A query the API refuses: its reason once, and nothing shown as if it were an answer.
    browser.click("#clear").await;
    browser.fill("#f-code", "server error").await;
    browser.click("#search").await;
    let message = browser
        .until(
            "the refusal",
            "const m = document.getElementById('message'); \
            return !m.hidden && document.getElementById('count').textContent === 'No results' \
            && document.querySelector('#top-user li').textContent === '—' && m.textContent;",
        )
        .await;
    assert!(
        message
            .as_str()
            .unwrap()
            .starts_with("The query is not valid: "),
        "{message}"
    );
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#rows tbody tr').length;")
            .await,
        json!(0)
    );

    // Live tail: lines pushed after switching it on appear, filtered like the rest.
    browser.click("#clear").await;
    browser.fill("#f-path", "/browser-tail/").await;
    browser.click("#search").await;
    browser
        .until(
            "no rows for the new path",
            "return document.getElementById('count').dataset.count === '0';",
        )
        .await;
    browser.click("#tail-switch").await;
    // The subscription starts when the stream's first bytes arrive; until then a push could
    // pass before it. Keep-alives come every 200 ms in tests, so a moment is enough, and the
    // loop below pushes again until a line shows.
    let marker_lines = |n: usize| -> String {
        (0..n)
            .map(|i| {
                let second = i % 60;
                format!("10.9.8.7 - tailer [01/Aug/2000:10:00:{second:02} +0000] \"GET /browser-tail/{i} HTTP/1.0\" 200 12\n")
            })
            .collect()
    };
    let url = app.url("/ingest?source=tail");
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, _, _) = common::app::post_text(&url, &marker_lines(3)).await;
        assert_eq!(status, 200);
        let shown = browser
            .js("return document.querySelectorAll('#rows tbody tr.tail-row').length;")
            .await;
        if shown.as_i64().unwrap_or(0) >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "no live line appeared");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let live = browser
        .js("return [...document.querySelectorAll('#rows tbody tr.tail-row td.url')].map(c => c.textContent);")
        .await;
    assert!(
        live.as_array()
            .unwrap()
            .iter()
            .all(|u| u.as_str().unwrap().starts_with("/browser-tail/")),
        "{live}"
    );
    browser
        .until(
            "a lines/s figure",
            "return /lines\\/s/.test(document.getElementById('tail-rate').textContent);",
        )
        .await;
    browser.shot("live-tail").await;

    // Paused, nothing new shows; resumed, what came meanwhile is read back, in order.
    browser.click("#tail-pause").await;
    let before = browser
        .js("return document.querySelectorAll('#rows tbody tr.tail-row').length;")
        .await
        .as_i64()
        .unwrap();
    let (status, _, _) = common::app::post_text(&url, &marker_lines(2)).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#rows tbody tr.tail-row').length;")
            .await,
        json!(before),
        "nothing shows while paused"
    );
    browser.click("#tail-pause").await;
    browser
        .until(
            "the lines pushed while paused",
            &format!(
                "return document.querySelectorAll('#rows tbody tr.tail-row').length === {};",
                before + 2
            ),
        )
        .await;

    // Paused past what the service reads back (100,000 lines): resumed, the page says how
    // many lines it missed.
    browser.click("#tail-pause").await;
    let batch = marker_lines(10_000);
    for _ in 0..11 {
        let (status, _, body) = common::app::post_text(&url, &batch).await;
        assert_eq!(status, 200, "{body}");
    }
    browser.click("#tail-pause").await;
    // The 100,000 lines read back come first, then the notice.
    let notice = browser
        .until_within(
            "the missed-lines notice",
            "const n = document.getElementById('tail-notice'); return !n.hidden && n.textContent;",
            Duration::from_secs(90),
        )
        .await;
    assert!(
        notice.as_str().unwrap().contains("lines were missed"),
        "{notice}"
    );
    browser.click("#tail-switch").await;

    // Sources and rejected lines, each in its view.
    browser.click("#tab-sources").await;
    browser
        .until("the sources", &format!("return [...document.querySelectorAll('#sources tbody tr')].some(r => r.dataset.address === '{source}' && r.querySelector('.state').textContent === 'finished');"))
        .await;
    assert!(page
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("view=sources"));
    browser.shot("sources").await;
    // A source's address opens its lines.
    browser
        .click(&format!(
            "#sources tbody tr[data-address='{source}'] button"
        ))
        .await;
    browser
        .until(
            "the source's lines",
            &format!(
                "return location.search.includes('source=') \
            && document.getElementById('f-source').value === '{source}' \
            && document.getElementById('count').dataset.count === '{LINES}';"
            ),
        )
        .await;
    browser.click("#tab-sources").await;
    browser.click("#tab-rejected").await;
    browser
        .until("the rejected line", "return [...document.querySelectorAll('#rejected tbody pre')].some(p => p.textContent === 'this is no log line');")
        .await;
    browser.close().await;

    // Phone width: the same page, readable.
    let phone = Browser::start(390, 844).await;
    phone.client.goto(&app.url("/")).await.unwrap();
    phone
        .until(
            "rows on a phone",
            "return document.querySelectorAll('#rows tbody tr').length === 50;",
        )
        .await;
    let overflow = phone
        .js("return document.documentElement.scrollWidth <= window.innerWidth + 1;")
        .await;
    assert_eq!(overflow, json!(true), "the page is wider than a phone");
    phone.shot("page-phone").await;
    phone.close().await;
    app.stop().await;
}

#[actix_rt::test]
async fn with_tokens_the_page_asks_for_one_and_then_shows_the_data() {
    let _one = ONE_BROWSER.lock().await;
    let db = temp_db();
    let (token, line) = new_token("viewer", &[Scope::Read]);
    let (no_scope, other) = new_token("pusher", &[Scope::Ingest]);
    let tokens = db.dir.path().join("tokens.txt");
    std::fs::write(&tokens, format!("{line}\n{other}\n")).unwrap();
    common::store_lines(&db, "src:1", &{
        let mut generator = emulator::LineGenerator::new(42);
        (0..500).map(|_| generator.next_line()).collect::<Vec<_>>()
    });
    let mut config = service_config(&db, vec![]);
    config.tokens_file = Some(tokens);
    let app = TestApp::spawn_with(db, config).await;

    let browser = Browser::start(1280, 800).await;
    browser.client.goto(&app.url("/")).await.unwrap();
    browser
        .until(
            "the token prompt",
            "return document.getElementById('token-dialog').open;",
        )
        .await;
    let message = browser
        .until(
            "401 shown",
            "const m = document.getElementById('message'); return !m.hidden && m.textContent;",
        )
        .await;
    assert!(message.as_str().unwrap().starts_with("401"), "{message}");
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#rows tbody tr').length;")
            .await,
        json!(0)
    );
    // Nothing else pretends to answer: no top list says the lines are too many.
    assert_eq!(
        browser
            .js("return document.querySelector('.tops').textContent.includes('Too many');")
            .await,
        json!(false)
    );
    browser.shot("token-prompt").await;

    // A token without the read scope: 403, said as such.
    browser.fill("#token-input", &no_scope).await;
    browser.click("#token-save").await;
    let message = browser
        .until("403 shown", "const m = document.getElementById('message'); return m.textContent.startsWith('403') && m.textContent;")
        .await;
    assert!(message.as_str().unwrap().contains("read"), "{message}");

    browser.click("#token-button").await;
    browser.fill("#token-input", &token).await;
    browser.click("#token-save").await;
    browser
        .until("the data", "return document.getElementById('count').dataset.count === '500' && document.querySelectorAll('#rows tbody tr').length === 50;")
        .await;
    // Kept for the session: a reload needs no prompt.
    browser.client.refresh().await.unwrap();
    browser
        .until(
            "the data after a reload",
            "return document.getElementById('count').dataset.count === '500';",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('token-dialog').open;")
            .await,
        json!(false)
    );
    browser.close().await;
    app.stop().await;
}

/// The histogram's bars follow the range shown, from minutes for two hours to half days for a
/// month (about 30 to 100 of them), each starting at a multiple of its interval; together they
/// hold every matching line.
#[actix_rt::test]
async fn the_histogram_picks_its_interval_from_the_range_shown() {
    let _one = ONE_BROWSER.lock().await;
    let db = temp_db();
    // Lines on every day of July 2000, between 01:00 and 13:00.
    common::store_lines(&db, "src:1", &{
        let mut generator = emulator::LineGenerator::new(7);
        (0..LINES)
            .map(|_| generator.next_line())
            .collect::<Vec<_>>()
    });
    let app = TestApp::spawn_on(db, vec![]).await;
    let browser = Browser::start(1280, 800).await;
    for (query, unit, seconds) in [
        ("", "12 hours", 12 * 3_600),
        ("since=2000-07-10&until=2000-07-14", "hour", 3_600),
        ("since=2000-07-10&until=2000-07-11", "15 minutes", 900),
        (
            "since=2000-07-10T03:00:00Z&until=2000-07-10T05:00:00Z",
            "2 minutes",
            120,
        ),
    ] {
        browser
            .client
            .goto(&app.url(&format!("/?{query}")))
            .await
            .unwrap();
        let bars = browser
            .until(
                &format!("bars per {unit}"),
                &format!(
                    "const bars = [...document.querySelectorAll('#histogram rect.bar')]; \
                     return document.getElementById('histogram-unit').textContent.includes('per {unit},') \
                     && bars.length > 0 && bars.map(b => [Number(b.dataset.start), b.getAttribute('aria-label')]);"
                ),
            )
            .await;
        let bars = bars.as_array().unwrap();
        let mut lines = 0;
        for bar in bars {
            let start = bar[0].as_i64().unwrap();
            assert_eq!(start % seconds, 0, "{query}: a bar at {start}");
            let label = bar[1].as_str().unwrap();
            let count = label
                .rsplit(": ")
                .next()
                .unwrap()
                .trim_end_matches(" lines");
            lines += count
                .trim_end_matches(" line")
                .replace(',', "")
                .parse::<i64>()
                .unwrap();
        }
        assert_eq!(lines, app.count(query).await, "{query}");
        if query.is_empty() {
            assert!((30..=100).contains(&bars.len()), "{} bars", bars.len());
        }
    }
    browser.close().await;
    app.stop().await;
}

/// Not a test of behaviour but the figure docs/api.md quotes: how soon the page shows results on a
/// large database. `LOGGERATOR_PAGE_DB=/tmp/q.db cargo test --release --test it browser:: --
/// --ignored --nocapture`. The live-tail figure pushes 20 lines into that database.
#[actix_rt::test]
#[ignore]
async fn first_paint_with_results_on_a_large_database() {
    let _one = ONE_BROWSER.lock().await;
    let path = std::env::var("LOGGERATOR_PAGE_DB").expect("LOGGERATOR_PAGE_DB=/path/to.db");
    let db = temp_db();
    let mut config = service_config(&db, vec![]);
    config.db = PathBuf::from(path);
    let app = TestApp::spawn_with(db, config).await;
    let browser = Browser::start(1280, 800).await;
    for round in 0..4 {
        browser
            .client
            .goto(&app.url(&format!("/?round={round}")))
            .await
            .unwrap();
        let timing = browser
            .until(
                "rows",
                "const shown = performance.getEntriesByName('rows-shown')[0];\
                 if (!shown) return null;\
                 const paint = performance.getEntriesByName('first-contentful-paint')[0];\
                 const api = performance.getEntriesByType('resource')\
                   .filter(r => r.initiatorType === 'fetch')\
                   .map(r => [r.name.replace(location.origin, ''), Math.round(r.duration), r.transferSize]);\
                 return {rows_shown_ms: Math.round(shown.startTime), first_paint_ms: paint && Math.round(paint.startTime), api};",
            )
            .await;
        println!("round {round}: {timing}");
    }

    // Live tail: from sending a line with POST /ingest to its row on the page (the same
    // machine's clock on both sides).
    browser
        .client
        .goto(&app.url("/?path=/latency/"))
        .await
        .unwrap();
    browser
        .until(
            "the page",
            "return performance.getEntriesByName('rows-shown').length > 0;",
        )
        .await;
    browser.click("#tail-switch").await;
    browser
        .js("window.seen = {}; new MutationObserver(() => { \
               for (const cell of document.querySelectorAll('#rows tbody tr.tail-row td.url')) \
                 if (!(cell.textContent in window.seen)) window.seen[cell.textContent] = Date.now(); \
             }).observe(document.querySelector('#rows tbody'), {childList: true}); return true;")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::new();
    for i in 0..20 {
        let sent = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let line = format!(
            "10.1.1.1 - probe [01/Aug/2000:10:00:00 +0000] \"GET /latency/{i} HTTP/1.0\" 200 1\n"
        );
        common::app::post_text(&app.url("/ingest?source=latency"), &line).await;
        let shown = browser
            .until(
                "the pushed line",
                &format!("return window.seen['/latency/{i}'] || null;"),
            )
            .await;
        latencies.push(shown.as_i64().unwrap() - sent);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    latencies.sort_unstable();
    println!(
        "live tail, POST to row: min {} ms, median {} ms, max {} ms",
        latencies[0],
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    browser.close().await;
    app.stop().await;
}
