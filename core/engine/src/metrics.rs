//! Prometheus metrics: per route, delivered/retried/dead counters, a submit-to-delivered
//! latency histogram, and backlog and oldest-open gauges (refreshed at each scrape).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::journal::RouteBacklog;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStateLabel {
    pub route: String,
    pub state: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

pub struct Metrics {
    registry: Registry,
    pub delivered: Family<RouteLabel, Counter>,
    pub accepted: Family<RouteLabel, Counter>,
    pub retried: Family<RouteLabel, Counter>,
    pub dead: Family<RouteLabel, Counter>,
    pub submitted: Family<RouteLabel, Counter>,
    pub latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
    pub backlog: Family<RouteStateLabel, Gauge>,
    pub oldest_open_seconds: Family<RouteLabel, Gauge<f64, AtomicU64>>,
    /// Messages the outbox relay handed to the broker (RabbitMQ transport).
    pub relayed: Counter,
    /// Broker messages acked and skipped because the journal had them as done.
    pub skipped: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("knudepunkt");
        let m = Metrics {
            delivered: Family::default(),
            accepted: Family::default(),
            retried: Family::default(),
            dead: Family::default(),
            submitted: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            backlog: Family::default(),
            oldest_open_seconds: Family::default(),
            relayed: Counter::default(),
            skipped: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "messages_submitted",
            "Messages journaled, per route",
            m.submitted.clone(),
        );
        registry.register(
            "messages_delivered",
            "Messages delivered, per route",
            m.delivered.clone(),
        );
        registry.register(
            "messages_accepted",
            "Messages accepted, awaiting confirmation",
            m.accepted.clone(),
        );
        registry.register(
            "messages_retried",
            "Failed attempts that will be retried",
            m.retried.clone(),
        );
        registry.register(
            "messages_dead",
            "Messages moved to the dead letter queue",
            m.dead.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "Time from journaling to delivery",
            m.latency.clone(),
        );
        registry.register(
            "backlog_messages",
            "Open messages per route and state",
            m.backlog.clone(),
        );
        registry.register(
            "oldest_open_message_seconds",
            "Age of the oldest open message per route",
            m.oldest_open_seconds.clone(),
        );
        registry.register(
            "messages_relayed",
            "Messages handed to the broker, their confirm received (RabbitMQ transport)",
            m.relayed.clone(),
        );
        registry.register(
            "broker_messages_skipped",
            "Broker messages acked and skipped: the journal had them as done",
            m.skipped.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn route(route: &str) -> RouteLabel {
        RouteLabel {
            route: route.to_string(),
        }
    }

    /// Sets the backlog gauges from a fresh journal reading; every configured route
    /// shows, with zeros where nothing is open.
    pub fn set_backlog<'a>(
        &self,
        routes: impl IntoIterator<Item = &'a str>,
        backlog: &[RouteBacklog],
        now_ms: i64,
    ) {
        self.backlog.clear();
        self.oldest_open_seconds.clear();
        for route in routes {
            for state in ["pending", "in_flight", "retrying", "accepted"] {
                self.backlog
                    .get_or_create(&RouteStateLabel {
                        route: route.to_string(),
                        state: state.to_string(),
                    })
                    .set(0);
            }
            self.oldest_open_seconds
                .get_or_create(&Self::route(route))
                .set(0.0);
        }
        for b in backlog {
            self.backlog
                .get_or_create(&RouteStateLabel {
                    route: b.route.clone(),
                    state: b.state.as_str().to_string(),
                })
                .set(b.count);
            let age = (now_ms - b.oldest_created_at).max(0) as f64 / 1000.0;
            let g = self
                .oldest_open_seconds
                .get_or_create(&Self::route(&b.route));
            if age > g.get() {
                g.set(age);
            }
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_in_text_format() {
        let m = Metrics::new();
        m.delivered
            .get_or_create(&Metrics::route("generic.notify"))
            .inc();
        m.latency
            .get_or_create(&Metrics::route("generic.notify"))
            .observe(0.004);
        let text = m.encode();
        assert!(
            text.contains("knudepunkt_messages_delivered_total{route=\"generic.notify\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("knudepunkt_delivery_latency_seconds_count{route=\"generic.notify\"} 1")
        );
    }
}
