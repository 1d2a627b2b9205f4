//! Capped exponential backoff with "equal jitter" (a random delay in the upper half of the
//! ceiling), so that many sources failing together do not reconnect in lockstep.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    pub initial: Duration,
    pub max: Duration,
}

#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    failures: u32,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Self {
        Self {
            config,
            failures: 0,
        }
    }

    /// The upper bound of the next delay: `initial * 2^failures`, capped at `max`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(31)).unwrap_or(u32::MAX);
        self.config
            .initial
            .saturating_mul(factor)
            .min(self.config.max)
    }

    /// A random delay in `[ceiling / 2, ceiling]`, then the ceiling doubles.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let half = ceiling / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=ceiling - half)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff::new(BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        })
    }

    #[test]
    fn doubles_up_to_the_cap_and_stays_within_jitter_bounds() {
        let mut b = backoff();
        let ceilings: Vec<u64> = (0..6)
            .map(|_| {
                let ceiling = b.ceiling();
                let delay = b.next_delay();
                assert!(
                    delay <= ceiling && delay >= ceiling / 2,
                    "{delay:?} vs {ceiling:?}"
                );
                ceiling.as_millis() as u64
            })
            .collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn reset_starts_over() {
        let mut b = backoff();
        for _ in 0..4 {
            b.next_delay();
        }
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn never_overflows() {
        let mut b = backoff();
        for _ in 0..100 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), Duration::from_secs(1));
    }
}
