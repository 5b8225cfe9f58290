//! The storage service: validation, authorization, the write protocol and strategies.
//!
//! REST handlers (and, later, the S3 gateway) call these methods; nothing here knows about
//! HTTP types. Stores are reached through trait objects.

pub mod access;
mod bucket;
pub mod mime;
mod names;
mod object;
mod signed;
mod strategy;
mod sweeper;
pub use sweeper::spawn_sweeper;

use std::sync::Arc;

pub use names::{BucketName, MAX_KEY_BYTES, ObjectKey};
pub use object::{Download, FilePart, ListParams, Removal, auto_key};
pub use signed::Signer;
pub use strategy::{DownloadStrategy, UploadStrategy, encode_component};

use crate::auth::{self, Principal};
use crate::blob::{self, BlobStore};
use crate::meta::{self, MetaStore};

/// Largest configurable `maxFileSizeMb` (5 GiB: the largest single S3 PUT).
pub const MAX_FILE_SIZE_MB: i64 = 5 * 1024;
const MIB: u64 = 1024 * 1024;

/// The caller as the HTTP layer resolved it: a principal, or why its credentials failed.
pub type Caller = Result<Principal, auth::Error>;

pub struct Storage {
    meta: Arc<dyn MetaStore>,
    blobs: Arc<dyn BlobStore>,
    base_url: String,
    signer: Signer,
    pending_ttl: std::time::Duration,
    /// Admission for uploads: beyond this many at once, callers get 429 and retry.
    uploads: tokio::sync::Semaphore,
}

/// The service's tunables, from the configuration.
pub struct Settings {
    /// Public base of absolute URLs, without a trailing slash.
    pub base_url: String,
    pub signer: Signer,
    /// How long a presigned upload may wait for its confirm.
    pub pending_ttl: std::time::Duration,
    /// Uploads streamed at the same time.
    pub max_uploads: usize,
}

impl Storage {
    pub fn new(meta: Arc<dyn MetaStore>, blobs: Arc<dyn BlobStore>, settings: Settings) -> Storage {
        Storage {
            meta,
            blobs,
            base_url: settings.base_url,
            signer: settings.signer,
            pending_ttl: settings.pending_ttl,
            uploads: tokio::sync::Semaphore::new(settings.max_uploads.max(1)),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// Everything that can go wrong in a storage operation, named by condition.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Auth(#[from] auth::Error),
    #[error("Invalid bucket name. Use only letters, numbers, hyphens, and underscores.")]
    InvalidBucketName,
    #[error("Object key is required")]
    KeyRequired,
    #[error("{0}")]
    InvalidKey(String),
    /// A request parameter or body failed validation.
    #[error("{0}")]
    Invalid(String),
    #[error("File is required")]
    FileRequired,
    #[error("Bucket \"{0}\" does not exist")]
    BucketNotFound(String),
    #[error("Bucket \"{0}\" already exists")]
    BucketExists(String),
    #[error("Object not found")]
    ObjectNotFound,
    #[error("Upload not found for key \"{key}\" in bucket \"{bucket}\"")]
    UploadNotFound { bucket: String, key: String },
    #[error("You do not have permission to write \"{key}\" in bucket \"{bucket}\"")]
    WriteDenied { bucket: String, key: String },
    #[error("Forbidden")]
    Forbidden,
    #[error("File too large. Maximum upload size is {limit_mb} MB.")]
    TooLarge { limit_mb: i64 },
    #[error("Invalid or expired signed URL")]
    BadSignature,
    #[error("Too many uploads in progress; retry shortly")]
    Busy,
    #[error("The upload stalled: no bytes arrived in time")]
    Stalled,
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<meta::Error> for Error {
    fn from(e: meta::Error) -> Self {
        match e {
            meta::Error::BucketExists => Error::Internal("unexpected bucket conflict".into()),
            meta::Error::BucketNotFound => Error::Internal("unexpected missing bucket".into()),
            meta::Error::ReplaceDenied => Error::Forbidden,
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<blob::Error> for Error {
    fn from(e: blob::Error) -> Self {
        match e {
            blob::Error::NotFound => Error::ObjectNotFound,
            other => Error::Internal(other.to_string()),
        }
    }
}

/// The principal, or the reason credentials failed, for routes that need one.
fn require(caller: &Caller) -> Result<&Principal> {
    caller.as_ref().map_err(|e| Error::Auth(*e))
}
