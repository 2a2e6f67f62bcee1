//! This engine instance as the others sharing the journal (and `knudepunkt status`)
//! see it: an id, what it is doing, and a heartbeat in the journal every few seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use crate::engine::Inner;
use crate::journal::Instance;
use crate::message::now_ms;

/// How often an instance writes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// The live counters of this instance.
#[derive(Debug)]
pub struct Live {
    pub instance_id: String,
    pub started_at: i64,
    connected: AtomicBool,
    consumers: AtomicI64,
    in_flight: AtomicI64,
    handled: AtomicI64,
}

impl Live {
    pub fn new() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        Live {
            instance_id: format!(
                "{host}-{}-{}",
                std::process::id(),
                &uuid::Uuid::now_v7().simple().to_string()[24..]
            ),
            started_at: now_ms(),
            connected: AtomicBool::new(false),
            consumers: AtomicI64::new(0),
            in_flight: AtomicI64::new(0),
            handled: AtomicI64::new(0),
        }
    }

    pub(crate) fn set_connected(&self, connected: bool, consumers: usize) {
        self.connected.store(connected, Ordering::Relaxed);
        self.consumers.store(consumers as i64, Ordering::Relaxed);
    }

    pub(crate) fn began(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn ended(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.handled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn handled(&self) -> i64 {
        self.handled.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self, transport: &str) -> Instance {
        let host = self
            .instance_id
            .rsplitn(3, '-')
            .nth(2)
            .unwrap_or("")
            .to_string();
        Instance {
            id: self.instance_id.clone(),
            host,
            pid: std::process::id() as i64,
            transport: transport.to_string(),
            connected: transport == "journal" || self.connected.load(Ordering::Relaxed),
            consumers: self.consumers.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            handled: self.handled.load(Ordering::Relaxed),
            started_at: self.started_at,
            seen_at: now_ms(),
        }
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes the heartbeat until shutdown, then takes this instance off the register.
pub(crate) async fn heartbeat(inner: Arc<Inner>) {
    let transport = if inner.options.amqp.is_some() {
        "rabbitmq"
    } else {
        "journal"
    };
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        if let Err(e) = inner
            .journal
            .heartbeat(&inner.live.snapshot(transport))
            .await
        {
            tracing::debug!(error = %e, "writing the heartbeat failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT) => {}
            _ = shutdown.changed() => break,
        }
    }
    let _ = inner.journal.forget_instance(&inner.live.instance_id).await;
}
