//! Expires presigned uploads that were never confirmed, deleting their bytes.

use std::sync::Arc;
use std::time::Duration;

use super::Storage;
use crate::blob::BlobRef;

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

/// Runs [`Storage::sweep_pending`] every `interval` for the life of the process.
pub fn spawn_sweeper(storage: Arc<Storage>, interval: Duration) {
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
