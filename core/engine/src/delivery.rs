//! The contract between the engine and its adapters. An adapter makes one attempt and
//! classifies what happened; the engine owns waiting, retrying and dead-lettering.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::environment::Endpoint;
use crate::ids::MessageId;
use crate::message::ExternalIds;
use crate::route::Route;

/// One attempt to hand a message to its receiver.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub message_id: MessageId,
    pub route: &'a Route,
    pub endpoint: &'a Endpoint,
    pub idempotency_key: &'a str,
    pub correlation_id: Option<&'a str>,
    pub payload: &'a [u8],
    pub content_type: &'a str,
    /// From 1.
    pub attempt: i64,
    pub external_ids: &'a ExternalIds,
}

/// What a receiver answered.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    #[serde(skip)]
    pub body: Vec<u8>,
}

#[derive(Clone, Debug)]
pub enum DeliveryOutcome {
    /// The receiver has it and will not confirm later.
    Delivered {
        reply: Option<Reply>,
        external_ids: ExternalIds,
    },
    /// The receiver took it; a confirmation must arrive within `confirm_within`.
    Accepted {
        reply: Option<Reply>,
        external_ids: ExternalIds,
        confirm_within: Duration,
    },
    /// Worth trying again: timeouts, resets, 5xx, SOAP server faults, StatusKode 49.
    Transient {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Trying again will not help: 4xx, schema errors, StatusKode 40, negative receipts.
    Permanent { error: String, reply: Option<Reply> },
}

#[async_trait]
pub trait Adapter: Send + Sync {
    /// The name routes use in `deliver.adapter`.
    fn name(&self) -> &'static str;

    async fn deliver(&self, delivery: &Delivery<'_>) -> DeliveryOutcome;
}

/// A place for an adapter that a library on top of the engine supplies once it is open
/// (the case core takes what inbound routes hand to it, and it exists only after the
/// engine does). Until then its deliveries wait and are tried again.
struct Deferred {
    name: &'static str,
    bound: OnceLock<Arc<dyn Adapter>>,
}

#[async_trait]
impl Adapter for Deferred {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn deliver(&self, delivery: &Delivery<'_>) -> DeliveryOutcome {
        match self.bound.get() {
            Some(adapter) => adapter.deliver(delivery).await,
            None => DeliveryOutcome::Transient {
                error: format!("the {} receiver is not open yet", self.name),
                retry_after: None,
            },
        }
    }
}

/// The adapters a binary was built with.
#[derive(Clone, Default)]
pub struct AdapterRegistry {
    adapters: HashMap<String, Arc<dyn Adapter>>,
    deferred: HashMap<String, Arc<Deferred>>,
}

impl AdapterRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, adapter: Arc<dyn Adapter>) {
        self.adapters.insert(adapter.name().to_string(), adapter);
    }

    /// Keeps a place for the adapter `name`, supplied later with [`AdapterRegistry::bind`].
    pub fn defer(&mut self, name: &'static str) {
        let slot = Arc::new(Deferred {
            name,
            bound: OnceLock::new(),
        });
        self.deferred.insert(name.to_string(), slot.clone());
        self.adapters.insert(name.to_string(), slot);
    }

    /// Supplies a deferred adapter; false when no place was kept for it or it was
    /// supplied already.
    pub fn bind(&self, adapter: Arc<dyn Adapter>) -> bool {
        self.deferred
            .get(adapter.name())
            .is_some_and(|slot| slot.bound.set(adapter).is_ok())
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Adapter>> {
        self.adapters.get(name)
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.adapters.keys().cloned().collect();
        names.sort();
        names
    }
}
