//! Knudepunkt's integration engine.
//!
//! The engine keeps a journal of every message (the source of truth), runs declarative
//! routes over it (transform, deliver through an adapter, redeliver, dead-letter), and
//! serves the inbound HTTP side. The case core and the adapters use it as a library.

pub mod audit;
pub mod checksum;
pub mod delivery;
pub mod engine;
pub mod environment;
pub mod ids;
pub mod instance;
pub mod journal;
pub mod message;
pub mod metrics;
pub mod problem;
pub mod redact;
pub mod route;
pub mod schedule;
pub mod schema_dir;
pub mod server;
pub mod transform;
pub mod transport;
mod worker;
mod writer;

pub use checksum::Sha256Digest;
pub use delivery::{Adapter, AdapterRegistry, Delivery, DeliveryOutcome, Reply};
pub use engine::{
    Engine, EngineError, EngineOptions, Inbound, Outbound, Prepared, Submitted, WeakEngine,
};
pub use environment::{Endpoint, Environment};
pub use ids::{IdempotencyKey, MessageId};
pub use journal::{Journal, JournalError};
pub use message::{Direction, MessageState};
pub use redact::redact_url;
pub use route::{Route, RouteSet};
