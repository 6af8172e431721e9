//! The measured window: load runs from now through a warm-up, then for the measured duration.
//! Only what *starts* inside the measured part is counted.

use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

impl Window {
    pub fn open(warmup: Duration, duration: Duration) -> Window {
        let start = Instant::now() + warmup;
        Window {
            start,
            end: start + duration,
        }
    }

    pub fn measures(&self, at: Instant) -> bool {
        self.start <= at && at < self.end
    }

    pub fn seconds(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }
}
