//! Expires presigned uploads that were never confirmed, deleting their bytes.

use std::sync::Arc;
use std::time::Duration;

use super::Storage;
use crate::blob::BlobRef;

/// Blob files younger than this are never treated as orphans (an upload may be between its
/// rename and its commit, possibly on another server sharing the directory).
const ORPHAN_MIN_AGE: Duration = Duration::from_secs(3600);

/// How often the orphan sweep runs after the one at start-up.
const ORPHAN_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// Pending uploads handled per round trip.
const BATCH: i64 = 500;

impl Storage {
    /// One sweep: removes every expired pending upload and its bytes. Returns how many.
    pub async fn sweep_pending(&self) -> usize {
        let mut swept = 0;
        loop {
            let expired = match self.meta.take_expired_pending(BATCH).await {
                Ok(expired) => expired,
                Err(e) => {
                    tracing::warn!(error = %e, "pending-upload sweep failed");
                    return swept;
                }
            };
            for p in &expired {
                let at = BlobRef {
                    bucket: &p.bucket,
                    key: &p.key,
                    version: &p.version,
                };
                if let Err(e) = self.blobs.delete(at).await {
                    tracing::warn!(bucket = %p.bucket, key = %p.key, error = %e,
                        "could not delete bytes of an expired upload");
                }
            }
            swept += expired.len();
            if (expired.len() as i64) < BATCH {
                return swept;
            }
        }
    }
}

impl Storage {
    /// Deletes blob files no metadata points at (left by a crash between the rename and the
    /// commit, or by a failed delete). Only files older than `min_age` are considered, so an
    /// upload in flight on another server sharing the directory is never touched.
    pub async fn sweep_orphans(&self, min_age: Duration) -> usize {
        let Ok(buckets) = self.meta.list_buckets().await else {
            return 0;
        };
        let cutoff = std::time::SystemTime::now() - min_age;
        let mut swept = 0;
        for bucket in buckets {
            let Ok(stored) = self.blobs.stale_versions(&bucket.name, cutoff).await else {
                continue;
            };
            if stored.is_empty() {
                continue;
            }
            let Ok(live) = self.meta.bucket_versions(&bucket.name).await else {
                continue;
            };
            let live: std::collections::HashSet<String> = live.into_iter().collect();
            // The key only names S3 paths; local blobs are found by version alone.
            let orphans: Vec<(String, String)> = stored
                .into_iter()
                .filter(|v| !live.contains(v))
                .map(|v| (String::new(), v))
                .collect();
            swept += orphans.len() - self.blobs.delete_many(&bucket.name, &orphans).await;
        }
        swept
    }
}

/// Runs [`Storage::sweep_pending`] every `interval`, and [`Storage::sweep_orphans`] at
/// start-up and every few hours (it lists every blob, so it runs rarely).
pub fn spawn_sweeper(storage: Arc<Storage>, interval: Duration) {
    let orphans = storage.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(ORPHAN_INTERVAL);
        loop {
            ticker.tick().await;
            let swept = orphans.sweep_orphans(ORPHAN_MIN_AGE).await;
            if swept > 0 {
                tracing::info!(swept, "unreferenced blob files removed");
            }
        }
    });
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval.max(Duration::from_secs(1)));
        loop {
            ticker.tick().await;
            let swept = storage.sweep_pending().await;
            if swept > 0 {
                tracing::info!(swept, "expired pending uploads removed");
            }
        }
    });
}
