//! What a simulator received, deduplicated by message id like the real receiver.

use std::collections::HashMap;
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

#[derive(Debug)]
struct Inner {
    seen: HashMap<String, u64>,
    log: Vec<Received>,
    stats: Stats,
}

/// Shared record of one simulator.
#[derive(Debug)]
pub struct Recorder {
    inner: Mutex<Inner>,
    /// How many bodies to keep for inspection; counting goes on past it.
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
                log: Vec::new(),
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
        if inner.log.len() < self.keep {
            inner.log.push(Received {
                seq: next_seq,
                key: key.to_string(),
                message_id: message_id.map(str::to_string),
                content_type: content_type.map(str::to_string),
                size: body.len(),
                duplicate,
                at: chrono::Utc::now().to_rfc3339(),
                body: String::from_utf8_lossy(body).into_owned(),
            });
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
}
