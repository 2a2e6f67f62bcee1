//! The route file format: `routes/<system>.yaml`. One typed definition drives parsing,
//! validation and `route list`; unknown keys are errors.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_saphyr::Spanned;

/// A whole route file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    /// The routes this file declares.
    pub routes: Vec<RouteConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Unique over all route files, e.g. `digitalpost.letter`.
    pub id: Spanned<String>,
    /// What the route is for, in a sentence.
    #[serde(default)]
    pub description: String,
    /// Environments the route runs in; all when left out.
    #[serde(default)]
    pub enabled_in: Option<Spanned<Vec<String>>>,
    pub source: Spanned<SourceConfig>,
    /// A tera expression over the input; the message goes on only when it renders `true`.
    #[serde(default)]
    pub filter: Option<Spanned<String>>,
    pub transform: TransformConfig,
    pub deliver: DeliverConfig,
    /// A tera expression giving the key receivers deduplicate by; unique per route.
    pub idempotency_key: Spanned<String>,
    /// A tera expression giving the case or citizen the message belongs to.
    #[serde(default)]
    pub correlation_id: Option<Spanned<String>>,
    /// Deliver the messages of one correlation id one at a time, in the order they were
    /// journaled: a message waits while an earlier one of the same correlation id on
    /// this route is still open (pending, retrying, in flight or accepted). For
    /// receivers whose operations depend on each other (an index's import before its
    /// updates). Needs `correlation_id`.
    #[serde(default)]
    pub ordered: Option<Spanned<bool>>,
    #[serde(default)]
    pub redelivery: Option<Spanned<RedeliveryConfig>>,
    #[serde(default)]
    pub dead_letter: DeadLetterConfig,
}

/// Where a route's messages come from.
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// An event submitted by a library caller (the case core) through the outbox; `name`
    /// is one event name or a list of them. `match` takes only events whose top-level
    /// fields have these values (e.g. a Beskedfordeler message's `beskedtype`): a
    /// declaration tools can read, where a `filter` is an expression.
    Event {
        name: EventNames,
        #[serde(default, rename = "match", skip_serializing_if = "BTreeMap::is_empty")]
        matches: BTreeMap<String, String>,
    },
    /// An inbound HTTP path on the engine's server.
    Http(HttpSourceConfig),
    /// A queue on an AMQP broker that another system fills (the profile's endpoint):
    /// each message's body, JSON, is the route's input.
    Amqp(AmqpSourceConfig),
}

/// The events an event route takes: one name, or a list.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum EventNames {
    One(String),
    Many(Vec<String>),
}

impl EventNames {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let names: &[String] = match self {
            EventNames::One(n) => std::slice::from_ref(n),
            EventNames::Many(ns) => ns,
        };
        names.iter().map(String::as_str)
    }
}

impl std::fmt::Display for EventNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.iter().collect::<Vec<_>>().join(", "))
    }
}

#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct HttpSourceConfig {
    /// Path under the server root, e.g. `/in/generic/notify`.
    pub path: String,
    /// `sync` answers with the receiver's reply; `async` answers 202 once journaled.
    #[serde(default)]
    pub mode: HttpMode,
    /// How long a synchronous caller waits before it gets a problem+json.
    #[serde(default = "default_sync_deadline", deserialize_with = "de_duration")]
    #[serde(serialize_with = "ser_duration")]
    pub deadline: Duration,
    /// Largest body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body: usize,
}

/// An AMQP queue a route takes its input from.
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct AmqpSourceConfig {
    /// The broker: an endpoint of the profile (`amqp://` or `amqps://`).
    pub endpoint: String,
    /// The queue, declared by the system that fills it.
    pub queue: String,
    /// Messages taken before they are acked.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
}

fn default_prefetch() -> u16 {
    32
}

#[derive(Debug, Deserialize, Serialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum HttpMode {
    Sync,
    #[default]
    Async,
}

fn default_sync_deadline() -> Duration {
    Duration::from_secs(10)
}

fn default_max_body() -> usize {
    1024 * 1024
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    /// A tera template under `mappings/`, e.g. `generic/notification.xml.tera`.
    pub template: Spanned<String>,
    /// The content type of the rendered payload.
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// An XSD the rendered payload must validate against: under the schema directory, or
    /// `mappings/...` for one of the project's own models of a format with no public
    /// schema.
    #[serde(default)]
    pub xsd: Option<Spanned<String>>,
}

fn default_content_type() -> String {
    "application/xml".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverConfig {
    /// The adapter that talks to the receiver, e.g. `http`.
    pub adapter: Spanned<String>,
    /// The endpoint profile in `environments/<env>.yaml`.
    pub endpoint: Spanned<String>,
    /// Settings the adapter reads (e.g. Digital Post's `kombi_valg`); each adapter
    /// documents its own.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

/// The redelivery policy: exponential backoff with a cap and jitter.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RedeliveryConfig {
    /// Attempts in all, the first one included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The wait after the first failed attempt.
    #[serde(
        default = "default_initial",
        deserialize_with = "de_duration",
        serialize_with = "ser_duration"
    )]
    pub initial: Duration,
    /// How much each wait grows over the one before.
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// The longest wait.
    #[serde(
        default = "default_cap",
        deserialize_with = "de_duration",
        serialize_with = "ser_duration"
    )]
    pub cap: Duration,
    /// A fraction (0 to 1) each wait is spread by, up or down.
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// When an accepted message's confirmation (a receipt) does not come by its deadline,
    /// send it again, unchanged and with the same identifiers so that the receiver
    /// deduplicates it, as an attempt counted against `max_attempts`; without this, or
    /// when the attempts are spent, the message is dead.
    #[serde(default)]
    pub resend_unconfirmed: bool,
}

impl Default for RedeliveryConfig {
    fn default() -> Self {
        RedeliveryConfig {
            max_attempts: default_max_attempts(),
            initial: default_initial(),
            multiplier: default_multiplier(),
            cap: default_cap(),
            jitter: default_jitter(),
            resend_unconfirmed: false,
        }
    }
}

fn default_max_attempts() -> u32 {
    10
}
fn default_initial() -> Duration {
    Duration::from_secs(1)
}
fn default_multiplier() -> f64 {
    2.0
}
fn default_cap() -> Duration {
    Duration::from_secs(600)
}
fn default_jitter() -> f64 {
    0.2
}

/// Where dead letters and errors go.
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// Tell the initiator (an event back to the case core) when a message dies.
    #[serde(default = "default_true")]
    pub notify_initiator: bool,
    /// Free text for operators: who looks after this route's dead letters.
    #[serde(default)]
    pub owner: Option<String>,
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig {
            notify_initiator: true,
            owner: None,
        }
    }
}

fn default_true() -> bool {
    true
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!("{s:?} is not a duration like 500ms, 2s or 5m: {e}"))
    })
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}
