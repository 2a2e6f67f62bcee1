//! How much of the time SQLite's one write connection is held. Every write to the
//! journal (a caller's outbox transaction, a claim, the writer's batch of outcomes) takes
//! that connection in turn, so when it is held nearly all the time it is what limits
//! throughput, however many cores are idle. The pool's hooks note when the connection
//! is handed out and when it comes back.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The connection's time held so far, and how many times it was taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterOccupancy {
    pub held: Duration,
    pub turns: u64,
}

impl WriterOccupancy {
    /// What was held between `earlier` and this reading.
    pub fn since(&self, earlier: &WriterOccupancy) -> WriterOccupancy {
        WriterOccupancy {
            held: self.held.saturating_sub(earlier.held),
            turns: self.turns.saturating_sub(earlier.turns),
        }
    }

    /// The share of `wall` the connection was held, in per cent.
    pub fn percent_of(&self, wall: Duration) -> f64 {
        if wall.is_zero() {
            return 0.0;
        }
        100.0 * self.held.as_secs_f64() / wall.as_secs_f64()
    }
}

/// Kept for a pool of exactly one connection: one holder at a time.
#[derive(Debug, Default)]
pub(super) struct Occupancy {
    taken_at: Mutex<Option<Instant>>,
    held_ns: AtomicU64,
    turns: AtomicU64,
}

impl Occupancy {
    /// The connection is handed out.
    pub(super) fn taken(&self) {
        *self.taken_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// The connection is back in the pool. A return without a noted hand-out is not
    /// counted.
    pub(super) fn returned(&self) {
        // Counted under the lock, so that a reading sees a turn either in progress or
        // added, never neither nor both.
        let mut taken_at = self.taken_at.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = taken_at.take() {
            let ns = u64::try_from(at.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.held_ns.fetch_add(ns, Ordering::Relaxed);
            self.turns.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The time held so far, the turn in progress included: the difference of two
    /// readings is what was held between them, even when a turn spans one of them.
    pub(super) fn reading(&self) -> WriterOccupancy {
        let taken_at = self.taken_at.lock().unwrap_or_else(|e| e.into_inner());
        let current = taken_at.map_or(0, |at| {
            u64::try_from(at.elapsed().as_nanos()).unwrap_or(u64::MAX)
        });
        WriterOccupancy {
            held: Duration::from_nanos(
                self.held_ns.load(Ordering::Relaxed).saturating_add(current),
            ),
            turns: self.turns.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_turns_noted_from_hand_out_to_return_count() {
        let o = Occupancy::default();
        o.returned();
        assert_eq!(o.reading(), WriterOccupancy::default());
        o.taken();
        std::thread::sleep(Duration::from_millis(20));
        o.returned();
        o.returned();
        let r = o.reading();
        assert_eq!(r.turns, 1);
        assert!(r.held >= Duration::from_millis(20), "{r:?}");
        let later = WriterOccupancy {
            held: r.held + Duration::from_millis(30),
            turns: 3,
        };
        let d = later.since(&r);
        assert_eq!(d.turns, 2);
        assert_eq!(d.held, Duration::from_millis(30));
        assert_eq!(d.percent_of(Duration::from_millis(60)), 50.0);
        assert_eq!(d.percent_of(Duration::ZERO), 0.0);
    }

    #[test]
    fn a_turn_spanning_a_reading_is_split_at_it() {
        let o = Occupancy::default();
        o.taken();
        std::thread::sleep(Duration::from_millis(30));
        let wall = Instant::now();
        let before = o.reading();
        assert!(before.held >= Duration::from_millis(30), "{before:?}");
        assert_eq!(before.turns, 0, "the turn is not over");
        std::thread::sleep(Duration::from_millis(10));
        o.returned();
        let between = o.reading().since(&before);
        assert_eq!(between.turns, 1);
        assert!(between.held >= Duration::from_millis(10), "{between:?}");
        assert!(
            between.held <= wall.elapsed(),
            "only the part after the first reading: {between:?}"
        );
    }
}
