//! The events Knudepunkt publishes for the municipality's other systems (B3.199): a
//! route renders a case-core event as Knudepunkt's event document (`mappings/events/`),
//! and the `amqp-events` adapter publishes it on the topic exchange [`EXCHANGE`] of the
//! municipality's RabbitMQ, with the event's type (`case.created`, `document.added`, ...)
//! as the routing key, so that any system can bind a queue to what it wants. The
//! document names the case and what happened, never the citizen: a subscriber reads the
//! details through the case API, where the read is audited.

pub mod publisher;

pub use publisher::EventPublisher;

/// The exchange events are published on (topic, durable).
pub const EXCHANGE: &str = "knudepunkt.events";
/// The adapter name routes deliver through.
pub const ADAPTER: &str = "amqp-events";
/// The external id the AMQP message id is kept under.
pub const MESSAGE_ID: &str = "amqp_message_id";
