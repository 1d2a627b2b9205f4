//! Parser throughput on the three line shapes it accepts.
//!
//!     cargo bench --bench parser
//!
//! Each iteration parses a whole set of distinct lines, so branch predictors and caches see
//! the variety of a real stream rather than one line over and over.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use loggerator::batch::Entry;
use loggerator::emulator::LineGenerator;
use loggerator::parse::parse_line;

const LINES: usize = 10_000;

fn loggerator_lines() -> Vec<String> {
    let mut generator = LineGenerator::new(1);
    (0..LINES).map(|_| generator.next_line()).collect()
}

/// Common Log Format: a colon between date and time, any offset, `-` sizes now and then.
fn clf_lines() -> Vec<String> {
    (0..LINES)
        .map(|i| {
            let size = if i % 10 == 0 { "-".to_owned() } else { (i * 7 % 5000).to_string() };
            format!(
                "10.{}.{}.{} - user{} [{:02}/Oct/2000:{:02}:{:02}:{:02} -0700] \"GET /a/{} HTTP/1.1\" {} {}",
                i % 256,
                i / 256 % 256,
                i % 97,
                i % 50,
                1 + i % 28,
                i % 24,
                i % 60,
                i * 7 % 60,
                i,
                [200, 304, 404, 500][i % 4],
                size
            )
        })
        .collect()
}

/// Combined Log Format: CLF plus quoted referer and user agent.
fn combined_lines() -> Vec<String> {
    clf_lines()
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            format!(
                "{line} \"https://example.com/from/{i}\" \"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/{}.0\"",
                100 + i % 30
            )
        })
        .collect()
}

fn parser(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_line");
    group.throughput(Throughput::Elements(LINES as u64));
    for (name, lines) in [
        ("loggerator", loggerator_lines()),
        ("clf", clf_lines()),
        ("combined", combined_lines()),
    ] {
        assert!(
            lines.iter().all(|l| parse_line(l).is_ok()),
            "{name} lines parse"
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                for line in &lines {
                    black_box(parse_line(black_box(line)).is_ok());
                }
            })
        });
    }
    group.finish();

    // What an IngestActor does per line: parse, and copy the line into the batch.
    let mut group = c.benchmark_group("entry_from_line");
    group.throughput(Throughput::Elements(LINES as u64));
    let lines = loggerator_lines();
    group.bench_function("loggerator", |b| {
        b.iter(|| {
            for line in &lines {
                black_box(Entry::from_line(black_box(line)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parser);
criterion_main!(benches);
