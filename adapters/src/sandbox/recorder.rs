//! What a simulator received, deduplicated by message id like the real receiver.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize)]
pub struct Received {
    pub seq: u64,
    pub key: String,
    pub message_id: Option<String>,
    pub content_type: Option<String>,
    pub size: usize,
    pub duplicate: bool,
    pub at: String,
    /// The body as text (lossy), kept for inspection.
    pub body: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// Every request that reached the protocol endpoint, faults included.
    pub raw_requests: u64,
    /// Requests accepted (not faulted).
    pub accepted: u64,
    /// Distinct message ids accepted.
    pub unique: u64,
    /// Accepted requests whose message id had been accepted before.
    pub duplicates: u64,
    /// Requests answered with an injected fault.
    pub faulted: u64,
    /// Requests refused because they failed validation.
    pub invalid: u64,
}

/// The most body bytes a recorder keeps for inspection, whatever its count: a
/// simulator run for hours, or fed large documents, keeps its latest few megabytes.
pub const KEEP_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug)]
struct Inner {
    seen: HashMap<String, u64>,
    /// The latest requests, oldest first.
    log: VecDeque<Received>,
    /// The bytes of the bodies in `log`.
    log_bytes: usize,
    stats: Stats,
}

/// Shared record of one simulator.
#[derive(Debug)]
pub struct Recorder {
    inner: Mutex<Inner>,
    /// How many of the latest requests to keep for inspection (and at most
    /// [`KEEP_BYTES`] of their bodies); counting goes on past it.
    keep: usize,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new(10_000)
    }
}

impl Recorder {
    pub fn new(keep: usize) -> Self {
        Recorder {
            inner: Mutex::new(Inner {
                seen: HashMap::new(),
                log: VecDeque::new(),
                log_bytes: 0,
                stats: Stats::default(),
            }),
            keep,
        }
    }

    pub fn count_request(&self) {
        self.inner.lock().expect("recorder").stats.raw_requests += 1;
    }

    pub fn count_fault(&self) {
        self.inner.lock().expect("recorder").stats.faulted += 1;
    }

    pub fn count_invalid(&self) {
        self.inner.lock().expect("recorder").stats.invalid += 1;
    }

    /// Records an accepted message; returns whether it was a duplicate and the sequence
    /// number it first got.
    pub fn accept(
        &self,
        key: &str,
        message_id: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (bool, u64) {
        let mut inner = self.inner.lock().expect("recorder");
        inner.stats.accepted += 1;
        let next_seq = inner.stats.accepted;
        let (duplicate, seq) = match inner.seen.get(key) {
            Some(first) => (true, *first),
            None => {
                inner.seen.insert(key.to_string(), next_seq);
                (false, next_seq)
            }
        };
        if duplicate {
            inner.stats.duplicates += 1;
        } else {
            inner.stats.unique += 1;
        }
        if self.keep > 0 {
            let size = body.len();
            let body = String::from_utf8_lossy(body).into_owned();
            inner.log_bytes += body.len();
            inner.log.push_back(Received {
                seq: next_seq,
                key: key.to_string(),
                message_id: message_id.map(str::to_string),
                content_type: content_type.map(str::to_string),
                size,
                duplicate,
                at: chrono::Utc::now().to_rfc3339(),
                body,
            });
            // The oldest make room; the latest is kept whatever its size.
            while inner.log.len() > self.keep
                || (inner.log_bytes > KEEP_BYTES && inner.log.len() > 1)
            {
                let oldest = inner.log.pop_front().expect("longer than one");
                inner.log_bytes -= oldest.body.len();
            }
        }
        (duplicate, seq)
    }

    pub fn stats(&self) -> Stats {
        self.inner.lock().expect("recorder").stats.clone()
    }

    pub fn received(&self, limit: usize) -> Vec<Received> {
        let inner = self.inner.lock().expect("recorder");
        inner.log.iter().rev().take(limit).cloned().collect()
    }

    pub fn has_key(&self, key: &str) -> bool {
        self.inner.lock().expect("recorder").seen.contains_key(key)
    }

    pub fn keys(&self) -> Vec<String> {
        self.inner
            .lock()
            .expect("recorder")
            .seen
            .keys()
            .cloned()
            .collect()
    }

    pub fn reset(&self) {
        let mut inner = self.inner.lock().expect("recorder");
        inner.seen.clear();
        inner.log.clear();
        inner.log_bytes = 0;
        inner.stats = Stats::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_counted_not_recorded_twice_as_unique() {
        let r = Recorder::new(10);
        assert_eq!(r.accept("k1", None, None, b"a"), (false, 1));
        assert_eq!(r.accept("k1", None, None, b"a"), (true, 1));
        assert_eq!(r.accept("k2", None, None, b"b"), (false, 3));
        let s = r.stats();
        assert_eq!((s.unique, s.duplicates, s.accepted), (2, 1, 3));
    }

    #[test]
    fn the_latest_requests_are_kept_within_the_count() {
        let r = Recorder::new(3);
        for k in 0..5 {
            r.accept(&format!("k{k}"), None, None, b"body");
        }
        let keys: Vec<String> = r.received(10).into_iter().map(|x| x.key).collect();
        assert_eq!(keys, ["k4", "k3", "k2"]);
        assert_eq!(r.stats().unique, 5, "counting goes on past what is kept");
    }

    #[test]
    fn bodies_are_kept_within_the_byte_budget_and_the_latest_always() {
        let r = Recorder::new(100);
        let big = vec![b'x'; KEEP_BYTES / 3 + 1];
        for k in 0..4 {
            r.accept(&format!("k{k}"), None, None, &big);
        }
        let kept = r.received(100);
        assert_eq!(
            kept.len(),
            2,
            "three of a third and a byte each are over the budget"
        );
        assert_eq!(kept[0].key, "k3");
        let huge = vec![b'y'; KEEP_BYTES + 1];
        r.accept("huge", None, None, &huge);
        let kept = r.received(100);
        assert_eq!(kept.len(), 1);
        assert_eq!(
            (kept[0].key.as_str(), kept[0].size),
            ("huge", KEEP_BYTES + 1)
        );
        r.reset();
        r.accept("after", None, None, b"small");
        assert_eq!(r.received(100).len(), 1);
    }
}
