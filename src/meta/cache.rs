//! A read-through cache of lookups (bucket + object) and of the config row, for a store
//! that only this process writes: the embedded SQLite file, which start-up locks.
//!
//! Coherence: every write bumps a generation and invalidates after it commits; a reader
//! inserts what it read only if no write started or finished meanwhile, so a stale row never
//! lands in the cache. A request that starts after a write has answered always sees it.
//! Not used for PostgreSQL, where other servers may write.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use quick_cache::sync::Cache;

use super::{
    Bucket, ListQuery, Lookup, MetaStore, NewObject, Page, Pending, Removed, ReplaceCheck, Result,
    StorageConfig,
};

/// Lookups kept (a few hundred bytes each).
const CAPACITY: usize = 100_000;

pub struct CachedMeta<M> {
    inner: M,
    lookups: Cache<(String, String), Option<Lookup>>,
    config: Mutex<Option<StorageConfig>>,
    /// Bumped before and after every write; readers compare it around their read.
    generation: AtomicU64,
}

impl<M: MetaStore> CachedMeta<M> {
    pub fn new(inner: M) -> Self {
        CachedMeta {
            inner,
            lookups: Cache::new(CAPACITY),
            config: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// Runs a write, invalidating before (readers in flight won't insert) and after.
    async fn write<T>(&self, keys: Invalidate<'_>, op: impl Future<Output = T>) -> T {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let out = op.await;
        self.generation.fetch_add(1, Ordering::SeqCst);
        match keys {
            Invalidate::All => self.lookups.clear(),
            Invalidate::Keys(bucket, keys) => {
                for key in keys {
                    self.lookups.remove(&(bucket.to_string(), key.clone()));
                }
            }
        }
        out
    }
}

enum Invalidate<'a> {
    All,
    Keys(&'a str, &'a [String]),
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
        self.write(Invalidate::All, self.inner.create_bucket(name, public))
            .await
    }

    async fn set_bucket_public(&self, name: &str, public: bool) -> Result<bool> {
        self.write(Invalidate::All, self.inner.set_bucket_public(name, public))
            .await
    }

    async fn delete_bucket(&self, name: &str) -> Result<Option<Vec<Removed>>> {
        self.write(Invalidate::All, self.inner.delete_bucket(name))
            .await
    }

    async fn lookup(&self, bucket: &str, key: &str) -> Result<Option<Lookup>> {
        let id = (bucket.to_string(), key.to_string());
        if let Some(hit) = self.lookups.get(&id) {
            return Ok(hit);
        }
        let before = self.generation.load(Ordering::SeqCst);
        let found = self.inner.lookup(bucket, key).await?;
        if self.generation.load(Ordering::SeqCst) == before {
            self.lookups.insert(id, found.clone());
        }
        Ok(found)
    }

    async fn put_object(
        &self,
        new: NewObject,
        may_replace: ReplaceCheck<'_>,
    ) -> Result<Option<String>> {
        let bucket = new.object.bucket.clone();
        let keys = [new.object.key.clone()];
        self.write(
            Invalidate::Keys(&bucket, &keys),
            self.inner.put_object(new, may_replace),
        )
        .await
    }

    async fn delete_objects(
        &self,
        bucket: &str,
        keys: &[String],
        owner: Option<&str>,
    ) -> Result<Vec<Removed>> {
        self.write(
            Invalidate::Keys(bucket, keys),
            self.inner.delete_objects(bucket, keys, owner),
        )
        .await
    }

    async fn list_objects(&self, query: &ListQuery) -> Result<Page> {
        self.inner.list_objects(query).await
    }

    async fn get_config(&self) -> Result<StorageConfig> {
        if let Some(config) = self.config.lock().expect("config cache lock").clone() {
            return Ok(config);
        }
        let before = self.generation.load(Ordering::SeqCst);
        let config = self.inner.get_config().await?;
        if self.generation.load(Ordering::SeqCst) == before {
            *self.config.lock().expect("config cache lock") = Some(config.clone());
        }
        Ok(config)
    }

    async fn set_max_file_size_mb(&self, mb: i64) -> Result<StorageConfig> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        *self.config.lock().expect("config cache lock") = None;
        let out = self.inner.set_max_file_size_mb(mb).await;
        self.generation.fetch_add(1, Ordering::SeqCst);
        *self.config.lock().expect("config cache lock") = None;
        out
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
}
