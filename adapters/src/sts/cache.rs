//! Tokens cached per key, refreshed before they expire. Concurrent callers wanting the
//! same missing or stale token wait for one fetch (single flight); a token a service
//! refused is dropped so the next caller fetches anew.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

struct Slot<T> {
    current: RwLock<Option<Arc<T>>>,
    fetching: tokio::sync::Mutex<()>,
}

/// A token with the moment it stops being used (its expiry less a margin).
pub trait Expiring {
    fn expires_at(&self) -> DateTime<Utc>;
}

pub struct TokenCache<K, T> {
    slots: RwLock<HashMap<K, Arc<Slot<T>>>>,
    /// How long before expiry a token is replaced.
    margin: chrono::Duration,
}

impl<K: Eq + Hash + Clone, T: Expiring> TokenCache<K, T> {
    pub fn new(margin: std::time::Duration) -> Self {
        TokenCache {
            slots: RwLock::new(HashMap::new()),
            margin: chrono::Duration::from_std(margin)
                .unwrap_or_else(|_| chrono::Duration::seconds(60)),
        }
    }

    fn slot(&self, key: &K) -> Arc<Slot<T>> {
        if let Some(s) = self.slots.read().expect("token cache").get(key) {
            return s.clone();
        }
        self.slots
            .write()
            .expect("token cache")
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Slot {
                    current: RwLock::new(None),
                    fetching: tokio::sync::Mutex::new(()),
                })
            })
            .clone()
    }

    fn fresh(&self, slot: &Slot<T>) -> Option<Arc<T>> {
        let now = Utc::now();
        slot.current
            .read()
            .expect("token slot")
            .as_ref()
            .filter(|t| t.expires_at() - self.margin > now)
            .cloned()
    }

    /// The cached token if it is fresh; no waiting, no fetching.
    pub fn cached(&self, key: &K) -> Option<Arc<T>> {
        let slot = self.slots.read().expect("token cache").get(key).cloned()?;
        self.fresh(&slot)
    }

    /// The token for `key`, fetched with `fetch` if there is no fresh one.
    pub async fn get<E, F, Fut>(&self, key: &K, fetch: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let slot = self.slot(key);
        if let Some(t) = self.fresh(&slot) {
            return Ok(t);
        }
        let _one_at_a_time = slot.fetching.lock().await;
        // Whoever held the lock before may have fetched it.
        if let Some(t) = self.fresh(&slot) {
            return Ok(t);
        }
        let token = Arc::new(fetch().await?);
        *slot.current.write().expect("token slot") = Some(token.clone());
        Ok(token)
    }

    /// Drops `token` if it is still the cached one (a service refused it).
    pub fn invalidate(&self, key: &K, token: &Arc<T>) {
        if let Some(slot) = self.slots.read().expect("token cache").get(key) {
            let mut current = slot.current.write().expect("token slot");
            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, token)) {
                *current = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct T(DateTime<Utc>);
    impl Expiring for T {
        fn expires_at(&self) -> DateTime<Utc> {
            self.0
        }
    }

    #[tokio::test]
    async fn one_fetch_serves_many_and_stale_or_refused_tokens_are_replaced() {
        let cache: Arc<TokenCache<&str, T>> =
            Arc::new(TokenCache::new(std::time::Duration::from_secs(60)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let (cache, fetches) = (cache.clone(), fetches.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get(&"k", || async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        Ok::<_, ()>(T(Utc::now() + chrono::Duration::hours(1)))
                    })
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        let token = cache.cached(&"k").unwrap();
        cache.invalidate(&"k", &token);
        assert!(cache.cached(&"k").is_none());
        // Within the margin of its expiry a token counts as stale.
        let t = cache
            .get(&"k", || async {
                Ok::<_, ()>(T(Utc::now() + chrono::Duration::seconds(30)))
            })
            .await
            .unwrap();
        let again = cache
            .get(&"k", || async {
                Ok::<_, ()>(T(Utc::now() + chrono::Duration::hours(1)))
            })
            .await
            .unwrap();
        assert!(!Arc::ptr_eq(&t, &again));
    }
}
