//! A read-through cache of lookups (bucket + object) and of the config row.
//!
//! Coherence: every write bumps a generation before and after it runs and then invalidates;
//! a reader inserts what it read only if the generation did not move meanwhile, so a stale
//! row never lands in the cache, and a request that starts after a write has answered sees
//! it. On SQLite this process is the only writer (start-up locks the data directory). On
//! PostgreSQL other servers write too: their changes arrive as notifications, handled with
//! the same generation rule, and while the notification channel is down the cache is off.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use quick_cache::sync::Cache;

use super::{
    Bucket, ListQuery, Lookup, MetaStore, NewObject, Page, Pending, Removed, ReplaceCheck, Result,
    StorageConfig,
};

/// Lookups kept (a few hundred bytes each).
const CAPACITY: usize = 100_000;

/// What changed, as the writers (ours or another server's) report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// One object of one bucket.
    Key(String, String),
    /// Buckets changed: everything cached may be stale.
    All,
    /// The config row.
    Config,
}

impl Change {
    /// The notification payload: fields separated by tabs (keys hold no control characters).
    pub fn encode(&self) -> String {
        match self {
            Change::Key(bucket, key) => format!("k\t{bucket}\t{key}"),
            Change::All => "*".into(),
            Change::Config => "c".into(),
        }
    }

    /// Anything unreadable counts as "everything changed".
    pub fn decode(payload: &str) -> Change {
        let mut parts = payload.splitn(3, '\t');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("k"), Some(bucket), Some(key)) => Change::Key(bucket.into(), key.into()),
            (Some("c"), None, None) => Change::Config,
            _ => Change::All,
        }
    }
}

/// The cached state, shared between the store wrapper and (on PostgreSQL) the listener.
pub struct LookupCache {
    lookups: Cache<(String, String), Option<Lookup>>,
    config: Mutex<Option<StorageConfig>>,
    generation: AtomicU64,
    enabled: AtomicBool,
}

impl LookupCache {
    /// A cache that starts `enabled` (SQLite) or off until its listener is up (PostgreSQL).
    pub fn new(enabled: bool) -> Arc<LookupCache> {
        Arc::new(LookupCache {
            lookups: Cache::new(CAPACITY),
            config: Mutex::new(None),
            generation: AtomicU64::new(0),
            enabled: AtomicBool::new(enabled),
        })
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Applies a change: bump, then drop what it touched.
    pub fn changed(&self, change: &Change) {
        self.bump();
        match change {
            Change::Key(bucket, key) => {
                self.lookups.remove(&(bucket.clone(), key.clone()));
            }
            Change::All => {
                self.lookups.clear();
                *self.config.lock().expect("config cache lock") = None;
            }
            Change::Config => *self.config.lock().expect("config cache lock") = None,
        }
    }

    /// Turns caching on or off; either way nothing cached before survives.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(false, Ordering::SeqCst);
        self.changed(&Change::All);
        self.enabled.store(on, Ordering::SeqCst);
    }

    fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }
}

pub struct CachedMeta<M> {
    inner: M,
    cache: Arc<LookupCache>,
}

impl<M: MetaStore> CachedMeta<M> {
    pub fn new(inner: M, cache: Arc<LookupCache>) -> Self {
        CachedMeta { inner, cache }
    }

    /// Runs a write with the generation bumped around it, then applies its changes.
    async fn write<T>(&self, changes: &[Change], op: impl Future<Output = T>) -> T {
        self.cache.bump();
        let out = op.await;
        for change in changes {
            self.cache.changed(change);
        }
        out
    }
}

fn keys_of(bucket: &str, keys: &[String]) -> Vec<Change> {
    keys.iter()
        .map(|k| Change::Key(bucket.to_string(), k.clone()))
        .collect()
}

#[async_trait]
impl<M: MetaStore> MetaStore for CachedMeta<M> {
    async fn list_buckets(&self) -> Result<Vec<Bucket>> {
        self.inner.list_buckets().await
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        self.inner.get_bucket(name).await
    }

    async fn create_bucket(&self, name: &str, public: bool) -> Result<Bucket> {
        self.write(&[Change::All], self.inner.create_bucket(name, public))
            .await
    }

    async fn set_bucket_public(&self, name: &str, public: bool) -> Result<bool> {
        self.write(&[Change::All], self.inner.set_bucket_public(name, public))
            .await
    }

    async fn delete_bucket(&self, name: &str) -> Result<Option<Vec<Removed>>> {
        self.write(&[Change::All], self.inner.delete_bucket(name))
            .await
    }

    async fn lookup(&self, bucket: &str, key: &str) -> Result<Option<Lookup>> {
        if !self.cache.enabled() {
            return self.inner.lookup(bucket, key).await;
        }
        let id = (bucket.to_string(), key.to_string());
        if let Some(hit) = self.cache.lookups.get(&id) {
            return Ok(hit);
        }
        let before = self.cache.generation.load(Ordering::SeqCst);
        let found = self.inner.lookup(bucket, key).await?;
        if self.cache.generation.load(Ordering::SeqCst) == before && self.cache.enabled() {
            self.cache.lookups.insert(id, found.clone());
        }
        Ok(found)
    }

    async fn put_object(
        &self,
        new: NewObject,
        may_replace: ReplaceCheck<'_>,
    ) -> Result<Option<String>> {
        let changes = keys_of(&new.object.bucket, std::slice::from_ref(&new.object.key));
        self.write(&changes, self.inner.put_object(new, may_replace))
            .await
    }

    async fn delete_objects(
        &self,
        bucket: &str,
        keys: &[String],
        owner: Option<&str>,
    ) -> Result<Vec<Removed>> {
        self.write(
            &keys_of(bucket, keys),
            self.inner.delete_objects(bucket, keys, owner),
        )
        .await
    }

    async fn list_objects(&self, query: &ListQuery) -> Result<Page> {
        self.inner.list_objects(query).await
    }

    async fn get_config(&self) -> Result<StorageConfig> {
        if !self.cache.enabled() {
            return self.inner.get_config().await;
        }
        if let Some(config) = self.cache.config.lock().expect("config cache lock").clone() {
            return Ok(config);
        }
        let before = self.cache.generation.load(Ordering::SeqCst);
        let config = self.inner.get_config().await?;
        if self.cache.generation.load(Ordering::SeqCst) == before && self.cache.enabled() {
            *self.cache.config.lock().expect("config cache lock") = Some(config.clone());
        }
        Ok(config)
    }

    async fn set_max_file_size_mb(&self, mb: i64) -> Result<StorageConfig> {
        self.write(&[Change::Config], self.inner.set_max_file_size_mb(mb))
            .await
    }

    async fn add_pending(&self, pending: &Pending) -> Result<()> {
        self.inner.add_pending(pending).await
    }

    async fn pending_for(&self, bucket: &str, key: &str) -> Result<Vec<Pending>> {
        self.inner.pending_for(bucket, key).await
    }

    async fn claim_pending(&self, version: &str) -> Result<Option<Pending>> {
        self.inner.claim_pending(version).await
    }

    async fn take_expired_pending(&self, limit: i64) -> Result<Vec<Pending>> {
        self.inner.take_expired_pending(limit).await
    }

    async fn bucket_versions(&self, bucket: &str) -> Result<Vec<String>> {
        self.inner.bucket_versions(bucket).await
    }
}

#[cfg(test)]
mod tests {
    use super::Change;

    #[test]
    fn changes_round_trip() {
        for c in [
            Change::Key("b".into(), "a/b c\u{e9}".into()),
            Change::All,
            Change::Config,
        ] {
            assert_eq!(Change::decode(&c.encode()), c);
        }
        assert_eq!(Change::decode("garbage"), Change::All);
    }
}
