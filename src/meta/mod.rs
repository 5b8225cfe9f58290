//! Metadata: buckets, objects and the storage config row, behind one trait.
//!
//! Two implementations with the same behaviour: [`SqliteMeta`] (the embedded default, one file)
//! and [`PgMeta`] (production). Both are pinned by the contract suite in `tests/`.

mod cache;
mod postgres;
mod sqlite;

pub use cache::{CachedMeta, Change, LookupCache};
pub use postgres::PgMeta;
pub use sqlite::SqliteMeta;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A logical bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    pub public: bool,
    pub created_at: DateTime<Utc>,
}

/// A stored object's metadata. `version` names its bytes in the blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub bucket: String,
    pub key: String,
    pub size: i64,
    pub mime_type: Option<String>,
    pub uploaded_at: DateTime<Utc>,
    pub uploaded_by: Option<String>,
    pub etag: Option<String>,
    pub version: String,
}

/// How an object was written (the `uploaded_via` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Rest,
    S3,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Rest => "rest",
            Via::S3 => "s3",
        }
    }
}

/// A new version of an object to publish. `uploaded_by` applies only when the key is new:
/// replacing an object never changes its owner.
#[derive(Debug, Clone)]
pub struct NewObject {
    pub object: Object,
    pub via: Via,
}

/// Decides, inside the write transaction, whether the existing object may be replaced.
pub type ReplaceCheck<'a> = &'a (dyn Fn(&Object) -> bool + Send + Sync);

/// A bucket and, when asked for, one of its objects: the whole read path in one round trip.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub bucket: Bucket,
    pub object: Option<Object>,
}

/// A list request, already validated and clamped.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub bucket: String,
    pub prefix: Option<String>,
    pub search: Option<String>,
    /// Only objects uploaded by this subject (callers that see only their own objects).
    pub owner: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// One page of a listing and the exact number of matches.
#[derive(Debug, Clone)]
pub struct Page {
    pub objects: Vec<Object>,
    pub total: i64,
}

/// The storage configuration singleton.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub id: String,
    pub max_file_size_mb: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A key removed by a delete and the version whose bytes must go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub key: String,
    pub version: String,
}

/// A presigned upload that was issued and not yet confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub version: String,
    pub bucket: String,
    pub key: String,
    /// The subject it was issued to (`None` for admin callers).
    pub owner: Option<String>,
    pub content_type: String,
    pub max_bytes: i64,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bucket already exists")]
    BucketExists,
    #[error("bucket not found")]
    BucketNotFound,
    #[error("the existing object may not be replaced by this caller")]
    ReplaceDenied,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[async_trait]
pub trait MetaStore: Send + Sync {
    /// Every bucket, ordered by name.
    async fn list_buckets(&self) -> Result<Vec<Bucket>>;
    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>>;
    /// Fails with [`Error::BucketExists`] when the name is taken.
    async fn create_bucket(&self, name: &str, public: bool) -> Result<Bucket>;
    /// Returns false when the bucket does not exist.
    async fn set_bucket_public(&self, name: &str, public: bool) -> Result<bool>;
    /// Deletes the bucket and all its objects; `None` when it does not exist. The removed
    /// versions are returned so their bytes can be deleted.
    async fn delete_bucket(&self, name: &str) -> Result<Option<Vec<Removed>>>;

    /// The bucket and the object under `key`; `None` when the bucket does not exist.
    async fn lookup(&self, bucket: &str, key: &str) -> Result<Option<Lookup>>;
    /// Publishes a new version of an object. When the key exists, `may_replace` decides under
    /// the row lock; the superseded version is returned. Fails with [`Error::BucketNotFound`]
    /// when the bucket is gone.
    async fn put_object(
        &self,
        new: NewObject,
        may_replace: ReplaceCheck<'_>,
    ) -> Result<Option<String>>;
    /// Deletes the given keys (only those owned by `owner` when set) and reports what went.
    async fn delete_objects(
        &self,
        bucket: &str,
        keys: &[String],
        owner: Option<&str>,
    ) -> Result<Vec<Removed>>;
    async fn list_objects(&self, query: &ListQuery) -> Result<Page>;

    async fn get_config(&self) -> Result<StorageConfig>;
    async fn set_max_file_size_mb(&self, mb: i64) -> Result<StorageConfig>;

    async fn add_pending(&self, pending: &Pending) -> Result<()>;
    /// Unexpired pending uploads of a key, newest first.
    async fn pending_for(&self, bucket: &str, key: &str) -> Result<Vec<Pending>>;
    /// Removes and returns one unexpired pending upload: whoever claims it publishes it.
    async fn claim_pending(&self, version: &str) -> Result<Option<Pending>>;
    /// Removes and returns up to `limit` expired pending uploads (for the sweeper).
    async fn take_expired_pending(&self, limit: i64) -> Result<Vec<Pending>>;
    /// Every version a bucket's metadata points at: objects and pending uploads.
    async fn bucket_versions(&self, bucket: &str) -> Result<Vec<String>>;
}

/// Bounds `[lower, upper)` selecting exactly the keys that start with `prefix` under byte
/// order. UTF-8 byte order equals code-point order, so the upper bound is the prefix with
/// its last character replaced by the next one; keys are ≤ 1024 bytes, so a run of 257
/// `U+10FFFF` is above every key when no finite bound exists. This keeps prefix listing a
/// plain index range in both databases, with no `LIKE` wildcards to escape.
pub fn prefix_range(prefix: Option<&str>) -> (String, String) {
    let top = || char::MAX.to_string().repeat(257);
    let Some(prefix) = prefix.filter(|p| !p.is_empty()) else {
        return (String::new(), top());
    };
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return (prefix.to_string(), chars.into_iter().collect());
        }
    }
    (prefix.to_string(), top())
}

pub(crate) fn now_ms() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).expect("current time is in range")
}

#[cfg(test)]
mod tests {
    use super::prefix_range;

    #[test]
    fn prefix_range_is_exact() {
        let (lo, hi) = prefix_range(Some("a/b"));
        assert_eq!((lo.as_str(), hi.as_str()), ("a/b", "a/c"));
        let (lo, hi) = prefix_range(Some("x\u{10FFFF}"));
        assert_eq!((lo.as_str(), hi.as_str()), ("x\u{10FFFF}", "y"));
        let (lo, hi) = prefix_range(Some("\u{D7FF}"));
        assert_eq!(hi, "\u{E000}");
        assert_eq!(lo, "\u{D7FF}");
        let (lo, hi) = prefix_range(None);
        assert_eq!(lo, "");
        assert!(hi.len() > 1024);
        for key in ["a/b", "a/b/c", "a/b%", "a/b\u{10FFFF}zz"] {
            let (lo, hi) = prefix_range(Some("a/b"));
            assert!(key >= lo.as_str() && key < hi.as_str(), "{key}");
        }
        for key in ["a/a", "a/c", "a/", "b"] {
            let (lo, hi) = prefix_range(Some("a/b"));
            assert!(!(key >= lo.as_str() && key < hi.as_str()), "{key}");
        }
    }
}
