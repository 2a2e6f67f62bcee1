//! The message model: states, directions and the journal's view of one message.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::MessageId;

/// Where a message is in its life. `accepted` is not `delivered`: some receivers confirm
/// later (a Beskedfordeler status, a MedCom receipt).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    Received,
    Pending,
    InFlight,
    Accepted,
    Delivered,
    Retrying,
    Dead,
    Discarded,
}

impl MessageState {
    /// Whether nothing more happens to a message in this state (unless an operator acts).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            MessageState::Delivered | MessageState::Dead | MessageState::Discarded
        )
    }

    pub const ALL: [MessageState; 8] = [
        MessageState::Received,
        MessageState::Pending,
        MessageState::InFlight,
        MessageState::Accepted,
        MessageState::Delivered,
        MessageState::Retrying,
        MessageState::Dead,
        MessageState::Discarded,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            MessageState::Received => "received",
            MessageState::Pending => "pending",
            MessageState::InFlight => "in_flight",
            MessageState::Accepted => "accepted",
            MessageState::Delivered => "delivered",
            MessageState::Retrying => "retrying",
            MessageState::Dead => "dead",
            MessageState::Discarded => "discarded",
        }
    }

    /// Still owed work by the engine (or a confirmation by the receiver).
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            MessageState::Received
                | MessageState::Pending
                | MessageState::InFlight
                | MessageState::Retrying
                | MessageState::Accepted
        )
    }
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "unknown message state {0:?} (expected one of received, pending, in_flight, accepted, delivered, retrying, dead, discarded)"
)]
pub struct UnknownState(pub String);

impl FromStr for MessageState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outbound,
    Inbound,
}

impl Direction {
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "outbound" => Some(Direction::Outbound),
            "inbound" => Some(Direction::Inbound),
            _ => None,
        }
    }
}

/// Why the last attempt failed, as the adapter classified it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Transient,
    Permanent,
    Integrity,
    Deadline,
}

impl ErrorKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
            ErrorKind::Integrity => "integrity",
            ErrorKind::Deadline => "deadline",
        }
    }
}

/// External ids a message gets from the systems it passes (MeMo messageUUID, MedCom
/// envelope id, Serviceplatformen transaction id, Beskedfordeler BeskedId, ...).
pub type ExternalIds = BTreeMap<String, String>;

/// One message as the journal holds it.
#[derive(Clone, Debug, Serialize)]
pub struct JournalMessage {
    pub id: MessageId,
    pub route: String,
    pub direction: Direction,
    pub correlation_id: Option<String>,
    pub idempotency_key: String,
    #[serde(skip)]
    pub payload: Vec<u8>,
    pub payload_size: usize,
    pub content_type: String,
    pub checksum: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub deadline_at: Option<i64>,
    pub state: MessageState,
    pub last_error_kind: Option<String>,
    pub last_error: Option<String>,
    pub external_ids: ExternalIds,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One entry of a message's history.
#[derive(Clone, Debug, Serialize)]
pub struct Transition {
    pub from_state: Option<String>,
    pub to_state: MessageState,
    pub at: i64,
    pub attempt: i64,
    pub detail: Option<String>,
}

/// Milliseconds since the Unix epoch; the journal's clock.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Renders a journal timestamp for people.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for s in MessageState::ALL {
            assert_eq!(s.as_str().parse::<MessageState>().unwrap(), s);
        }
        assert!("sent".parse::<MessageState>().is_err());
        assert!(MessageState::Accepted.is_open());
        assert!(!MessageState::Dead.is_open());
    }
}
