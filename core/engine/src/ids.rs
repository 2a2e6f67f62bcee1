//! Identifiers that must never be confused with each other.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A message's own id: a UUIDv7, so ids sort by creation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(Uuid);

impl MessageId {
    pub fn new() -> Self {
        MessageId(Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// When the id was made, in Unix milliseconds: a UUIDv7 carries it. `None` for an
    /// id of another version (parsed from outside).
    pub fn created_at_ms(&self) -> Option<i64> {
        let (secs, nanos) = self.0.get_timestamp()?.to_unix();
        Some(secs as i64 * 1000 + (nanos / 1_000_000) as i64)
    }
}

impl Default for MessageId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for MessageId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(MessageId)
    }
}

/// The key under which a receiver deduplicates a message; unique per route.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn new(key: impl Into<String>) -> Self {
        IdempotencyKey(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_sort_by_creation() {
        let a = MessageId::new();
        let b = MessageId::new();
        assert!(a < b);
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert_eq!(a.to_string().parse::<MessageId>().unwrap(), a);
    }

    #[test]
    fn a_message_id_knows_when_it_was_made() {
        let before = chrono::Utc::now().timestamp_millis();
        let made = MessageId::new().created_at_ms().unwrap();
        let after = chrono::Utc::now().timestamp_millis();
        assert!(
            (before..=after).contains(&made),
            "{before} <= {made} <= {after}"
        );
        let v4: MessageId = "8c0f6a1e-6f4b-4d5e-9a2b-3c4d5e6f7a8b".parse().unwrap();
        assert_eq!(v4.created_at_ms(), None);
    }
}
