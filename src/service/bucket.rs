//! Bucket and configuration operations (admin only).

use super::{BucketName, Caller, Error, MAX_FILE_SIZE_MB, MIB, Result, Storage};
use crate::auth;
use crate::meta::{self, Bucket, Removed, StorageConfig};

impl Storage {
    pub async fn list_buckets(&self, caller: &Caller) -> Result<Vec<Bucket>> {
        auth::require_admin(caller.clone())?;
        Ok(self.meta.list_buckets().await?)
    }

    pub async fn create_bucket(&self, caller: &Caller, name: &str, public: bool) -> Result<Bucket> {
        auth::require_admin(caller.clone())?;
        let name = BucketName::parse(name)?;
        match self.meta.create_bucket(name.as_str(), public).await {
            Err(meta::Error::BucketExists) => Err(Error::BucketExists(name.to_string())),
            other => Ok(other?),
        }
    }

    pub async fn set_bucket_public(&self, caller: &Caller, name: &str, public: bool) -> Result<()> {
        auth::require_admin(caller.clone())?;
        let name = BucketName::parse(name)?;
        if self.meta.set_bucket_public(name.as_str(), public).await? {
            Ok(())
        } else {
            Err(Error::BucketNotFound(name.to_string()))
        }
    }

    /// Deletes the bucket, its objects' metadata, then their bytes.
    pub async fn delete_bucket(&self, caller: &Caller, name: &str) -> Result<()> {
        auth::require_admin(caller.clone())?;
        let name = BucketName::parse(name)?;
        let removed = self
            .meta
            .delete_bucket(name.as_str())
            .await?
            .ok_or_else(|| Error::BucketNotFound(name.to_string()))?;
        // Exactly the versions the metadata released (objects and unconfirmed uploads), never
        // the whole prefix: that would race a same-name bucket created meanwhile and destroy
        // the bytes of objects committed into it.
        self.drop_blobs(name.as_str(), removed).await;
        Ok(())
    }

    /// Deletes the bytes of versions no metadata points at any more. A failure only leaves
    /// unreferenced bytes behind, so it is logged rather than reported.
    pub(super) async fn drop_blobs(&self, bucket: &str, removed: Vec<Removed>) {
        if removed.is_empty() {
            return;
        }
        let pairs: Vec<(String, String)> =
            removed.into_iter().map(|r| (r.key, r.version)).collect();
        let failed = self.blobs.delete_many(bucket, &pairs).await;
        if failed > 0 {
            tracing::warn!(bucket, failed, "could not delete some unreferenced bytes");
        }
    }

    pub async fn get_config(&self, caller: &Caller) -> Result<StorageConfig> {
        auth::require_admin(caller.clone())?;
        Ok(self.meta.get_config().await?)
    }

    pub async fn set_max_file_size(&self, caller: &Caller, mb: i64) -> Result<StorageConfig> {
        auth::require_admin(caller.clone())?;
        if mb < 1 {
            return Err(Error::Invalid(
                "maxFileSizeMb: Must be at least 1 MB".into(),
            ));
        }
        if mb > MAX_FILE_SIZE_MB {
            return Err(Error::Invalid(format!(
                "maxFileSizeMb: Must be at most {MAX_FILE_SIZE_MB} MB"
            )));
        }
        Ok(self.meta.set_max_file_size_mb(mb).await?)
    }

    /// Applies an operator-set byte limit at start-up (rounded up to whole MiB).
    pub async fn apply_max_file_size(&self, bytes: u64) -> Result<()> {
        let mb = bytes.div_ceil(MIB).clamp(1, MAX_FILE_SIZE_MB as u64) as i64;
        self.meta.set_max_file_size_mb(mb).await?;
        Ok(())
    }

    pub(super) async fn upload_limit(&self) -> Result<(u64, i64)> {
        let mb = self.meta.get_config().await?.max_file_size_mb;
        Ok((mb as u64 * MIB, mb))
    }
}
