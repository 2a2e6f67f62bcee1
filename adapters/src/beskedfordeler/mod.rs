//! STS Beskedfordeler (SF1461 receive, SF1462 send): events between the municipality's
//! systems as Haendelsesbeskeder (`beskedfordeler/xsd/Beskedkuvert.xsd`), carried over
//! AMQP 0-9-1. Knudepunkt publishes the case core's events ([`publisher`]), takes what its
//! subscriptions bring from its pigeonhole, the dueslag ([`dueslag`]), and keeps the
//! subscriptions its routes declare ([`subscriptions`]). The real Beskedfordeler is AMQP
//! over TLS with a SAML token as credential ([`amqp`]); in the sandbox it is a vhost on
//! the local RabbitMQ, and [`simulator`] plays the distributor and its subscription
//! service.

pub mod amqp;
pub mod besked;
pub mod dueslag;

pub mod publisher;
pub mod simulator;
pub mod subscriptions;

pub use besked::{Besked, KUVERT_NS};

/// The exchange messages are sent to (AfsendBesked).
pub const AFSEND_EXCHANGE: &str = "beskedfordeler.afsend";
/// The event a message from the dueslag is published as, for routes to take by
/// Beskedtype (`source.event.match.beskedtype`).
pub const RECEIVED_EVENT: &str = "beskedfordeler.received";
/// Where Beskedfordeler pushes a message (ModtagBeskedInput), on the mTLS receiver
/// beside PostStatusBeskedModtag.
pub const MODTAG_PATH: &str = "/beskedfordeler/ModtagBesked";
/// The operator-inbox kind of messages of a type no route takes.
pub const UNROUTED: &str = "beskedfordeler.unrouted";
/// The schema of a Haendelsesbesked, under the schema directory.
pub const XSD: &str = "beskedfordeler/xsd/Beskedkuvert.xsd";

/// Opens an AMQP connection, saying where (without the password) when it fails.
pub async fn connect(url: &str) -> Result<lapin::Connection, String> {
    lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .map_err(|e| format!("AMQP at {}: {e}", knudepunkt_engine::redact_url(url)))
}

/// Whether a broker answers at `url` within two seconds.
pub async fn reachable(url: &str) -> bool {
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), connect(url)).await,
        Ok(Ok(_))
    )
}

/// The profile's dueslag endpoint: its AMQP URL and Knudepunkt's dueslag (its queue).
pub fn dueslag_of(env: &knudepunkt_engine::Environment) -> Option<(String, String)> {
    let ep = env.endpoint(DUESLAG_ENDPOINT)?;
    Some((ep.url.clone(), ep.queue.clone()?))
}

/// The endpoint profile name of Beskedfordeler for sending (SF1462, AfsendBesked).
pub const ENDPOINT: &str = "beskedfordeler";
/// The endpoint profile name of Knudepunkt's dueslag (SF1461, ModtagBesked): the broker,
/// the queue, and for the real service the entity id its token is for.
pub const DUESLAG_ENDPOINT: &str = "beskedfordeler-dueslag";
/// The endpoint profile name of its subscription service.
pub const SUBSCRIPTION_ENDPOINT: &str = "beskedfordeler-abonnement";
