//! The arithmetic and number formatting of the bench reports, kept pure so it is tested without
//! running a service.

/// The `percent`th percentile of `sorted` (ascending), by nearest rank: the smallest sample with
/// at least `percent`% of the samples at or below it. It is always one of the samples, never an
/// interpolation, so a p99 of 200 samples is the second largest, a time that really happened.
pub fn percentile(sorted: &[f64], percent: u32) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (percent.min(100) as usize * sorted.len()).div_ceil(100);
    Some(sorted[rank.max(1) - 1])
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Sorts `samples` in place.
pub fn latency(samples: &mut [f64]) -> Option<Latency> {
    samples.sort_by(|a, b| a.total_cmp(b));
    Some(Latency {
        p50: percentile(samples, 50)?,
        p99: percentile(samples, 99)?,
        max: *samples.last()?,
    })
}

/// The running total of ingested lines reached `rows` at `secs` after the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub rows: u64,
    pub secs: f64,
}

/// The boundaries (multiples of `step`, and `target` itself) that the total passed between two
/// polls, each placed by linear interpolation: a poll only sees the total every 50 ms, and
/// several boundaries may fall between two polls when steps are small.
pub fn crossings(before: Mark, after: Mark, step: u64, target: u64) -> Vec<Mark> {
    let step = step.max(1);
    if after.rows <= before.rows {
        return Vec::new();
    }
    let mut rows: Vec<u64> = Vec::new();
    let mut next = (before.rows / step + 1) * step;
    while next <= after.rows {
        rows.push(next);
        next += step;
    }
    if before.rows < target && target <= after.rows && !target.is_multiple_of(step) {
        rows.push(target);
        rows.sort_unstable();
    }
    let span = (after.rows - before.rows) as f64;
    rows.into_iter()
        .map(|r| Mark {
            rows: r,
            secs: before.secs + (r - before.rows) as f64 / span * (after.secs - before.secs),
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRate {
    pub rows: u64,
    pub secs: f64,
    /// Over the step that ends at `rows`, not since the start.
    pub lines_per_sec: f64,
}

pub fn step_rates(marks: &[Mark]) -> Vec<StepRate> {
    let mut previous = Mark { rows: 0, secs: 0.0 };
    marks
        .iter()
        .map(|&mark| {
            let lines = mark.rows.saturating_sub(previous.rows) as f64;
            // Two boundaries interpolated into the same instant would divide by zero.
            let secs = (mark.secs - previous.secs).max(1e-9);
            previous = mark;
            StepRate {
                rows: mark.rows,
                secs: mark.secs,
                lines_per_sec: lines / secs,
            }
        })
        .collect()
}

/// The last full step's rate as a percentage of the first's: how much ingest slows as the tables
/// grow. A final partial step is left out, its few lines make a noisy rate. None without two
/// full steps.
pub fn slowdown_percent(rates: &[StepRate], step: u64) -> Option<f64> {
    let mut full = rates.iter().filter(|r| r.rows.is_multiple_of(step.max(1)));
    let first = full.next()?;
    let last = full.next_back()?;
    Some(last.lines_per_sec / first.lines_per_sec * 100.0)
}

/// `lines` over `parts` sources; the first takes the remainder.
pub fn split_lines(lines: u64, parts: u64) -> Vec<u64> {
    let parts = parts.max(1);
    let mut counts = vec![lines / parts; parts as usize];
    counts[0] += lines % parts;
    counts
}

/// 1234567 as "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// 2000000 as "2M", 2500000 as "2.5M", 500000 as "500k", anything else in full.
pub fn rows_label(rows: u64) -> String {
    if rows >= 1_000_000 && rows.is_multiple_of(1_000_000) {
        format!("{}M", rows / 1_000_000)
    } else if rows >= 1_000_000 && rows.is_multiple_of(100_000) {
        format!("{}.{}M", rows / 1_000_000, rows % 1_000_000 / 100_000)
    } else if rows >= 1_000 && rows.is_multiple_of(1_000) {
        format!("{}k", thousands(rows / 1_000))
    } else {
        thousands(rows)
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(rows: u64, secs: f64) -> Mark {
        Mark { rows, secs }
    }

    #[test]
    fn percentiles_are_nearest_rank_samples() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 50), Some(50.0));
        assert_eq!(percentile(&samples, 99), Some(99.0));
        assert_eq!(percentile(&samples, 100), Some(100.0));
        assert_eq!(percentile(&samples, 0), Some(1.0));
        let samples: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&samples, 99), Some(198.0));
        assert_eq!(percentile(&[7.5], 99), Some(7.5));
        assert_eq!(percentile(&[], 50), None);
        // With fewer than 100 samples the p99 is the largest.
        let samples: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&samples, 99), Some(10.0));
        assert_eq!(percentile(&samples, 50), Some(5.0));
    }

    #[test]
    fn latency_sorts_first() {
        let mut samples = vec![3.0, 1.0, 2.0, 10.0];
        let l = latency(&mut samples).unwrap();
        assert_eq!((l.p50, l.p99, l.max), (2.0, 10.0, 10.0));
        assert_eq!(latency(&mut []), None);
    }

    #[test]
    fn crossings_are_interpolated_between_polls() {
        let got = crossings(
            mark(500_000, 1.0),
            mark(2_500_000, 3.0),
            1_000_000,
            10_000_000,
        );
        assert_eq!(got, vec![mark(1_000_000, 1.5), mark(2_000_000, 2.5)]);
        // A boundary exactly on a poll counts once, in the interval that ends there.
        assert_eq!(
            crossings(mark(0, 0.0), mark(1_000_000, 2.0), 1_000_000, 5_000_000),
            vec![mark(1_000_000, 2.0)]
        );
        let within_a_step = crossings(
            mark(1_000_000, 2.0),
            mark(1_500_000, 3.0),
            1_000_000,
            5_000_000,
        );
        assert!(within_a_step.is_empty());
        assert!(crossings(mark(10, 1.0), mark(10, 2.0), 1, 100).is_empty());
    }

    #[test]
    fn a_target_off_the_steps_is_a_boundary_too() {
        let got = crossings(
            mark(2_000_000, 4.0),
            mark(2_500_000, 5.0),
            1_000_000,
            2_500_000,
        );
        assert_eq!(got, vec![mark(2_500_000, 5.0)]);
    }

    #[test]
    fn step_rates_are_per_step_not_cumulative() {
        let marks = [
            mark(1_000_000, 1.0),
            mark(2_000_000, 3.0),
            mark(2_500_000, 4.0),
        ];
        let rates: Vec<f64> = step_rates(&marks).iter().map(|r| r.lines_per_sec).collect();
        assert_eq!(rates, vec![1_000_000.0, 500_000.0, 500_000.0]);
    }

    #[test]
    fn slowdown_compares_the_last_full_step_with_the_first() {
        let rates = step_rates(&[
            mark(1_000_000, 1.0),
            mark(2_000_000, 2.0),
            mark(3_000_000, 5.0),
            mark(3_000_010, 5.1),
        ]);
        let percent = slowdown_percent(&rates, 1_000_000).unwrap();
        assert!((percent - 100.0 / 3.0).abs() < 1e-9, "{percent}");
        assert_eq!(slowdown_percent(&rates[..1], 1_000_000), None);
    }

    #[test]
    fn the_first_source_takes_the_remainder() {
        assert_eq!(split_lines(10, 4), vec![4, 2, 2, 2]);
        assert_eq!(split_lines(8, 4), vec![2, 2, 2, 2]);
        assert_eq!(split_lines(5, 1), vec![5]);
    }

    #[test]
    fn formats_counts_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(rows_label(3_000_000), "3M");
        assert_eq!(rows_label(500_000), "500k");
        assert_eq!(rows_label(2_500_000), "2.5M");
        assert_eq!(rows_label(2_550_000), "2,550k");
        assert_eq!(rows_label(1_234), "1,234");
    }
}
