//! Bytes: one trait over where object contents live.
//!
//! A blob is named by (bucket, key, version). Every upload writes a new version, so an
//! overwrite never touches bytes another reader may be streaming; the service deletes the
//! superseded version after the metadata commit.

mod local;
pub mod presign;
mod s3;

pub use local::LocalBlobs;
pub use s3::S3Blobs;

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

/// A stream of body chunks, in or out.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// Where a blob lives, logically.
#[derive(Debug, Clone, Copy)]
pub struct BlobRef<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub version: &'a str,
}

/// What a completed write measured while the bytes went by.
#[derive(Debug, Clone)]
pub struct Written {
    pub size: u64,
    /// Lower-case hex MD5 of the bytes (the ETag).
    pub md5_hex: String,
}

/// Size and (store) ETag of a blob that exists.
#[derive(Debug, Clone)]
pub struct Head {
    pub size: u64,
    pub etag: Option<String>,
}

/// A form upload straight to the store: POST `fields` first, then the file, to `url`.
#[derive(Debug, Clone)]
pub struct PresignedPost {
    pub url: String,
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("blob not found")]
    NotFound,
    /// The incoming body failed (client went away, or the service's limit tripped).
    #[error("upload body failed: {0}")]
    Body(io::Error),
    #[error("blob store I/O error: {0}")]
    Io(#[from] io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Streams `body` into a new blob. Either the whole blob becomes durable under `at`, or
    /// nothing is left behind.
    async fn put(&self, at: BlobRef<'_>, body: ByteStream) -> Result<Written>;
    /// Streams the bytes of `range` (already validated against the size) or the whole blob.
    async fn get(&self, at: BlobRef<'_>, range: Option<Range<u64>>) -> Result<ByteStream>;
    /// Removes a blob; a missing blob is not an error.
    async fn delete(&self, at: BlobRef<'_>) -> Result<()>;
    /// Size and ETag of a blob, or `None` when it does not exist.
    async fn head(&self, at: BlobRef<'_>) -> Result<Option<Head>>;
    /// Removes many blobs of one bucket (`(key, version)` pairs); missing ones are fine.
    /// Returns how many could not be removed.
    async fn delete_many(&self, bucket: &str, blobs: &[(String, String)]) -> usize;
    /// Versions stored for a bucket that were last written before `older_than`, for the
    /// orphan sweep. Stores that cannot list cheaply return none.
    async fn stale_versions(
        &self,
        _bucket: &str,
        _older_than: std::time::SystemTime,
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// True when clients move bytes directly with the store (presigned URLs).
    fn presigned(&self) -> bool {
        false
    }
    /// A URL that fetches the blob without credentials, when the store can mint one.
    async fn presign_get(
        &self,
        _at: BlobRef<'_>,
        _ttl: Duration,
        _attachment: bool,
    ) -> Result<Option<String>> {
        Ok(None)
    }
    /// A POST form that uploads at most `max_bytes` of `content_type` to `at`.
    async fn presign_post(
        &self,
        _at: BlobRef<'_>,
        _content_type: &str,
        _max_bytes: u64,
        _ttl: Duration,
    ) -> Result<Option<PresignedPost>> {
        Ok(None)
    }
}
