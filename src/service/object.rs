//! Object operations: upload (the write protocol), download, list and delete.

use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use futures::StreamExt;

use super::access::{self, Action, Decision};
use super::{BucketName, Caller, Error, ObjectKey, Result, Storage, mime, require};
use crate::auth::Principal;
use crate::blob::{self, BlobRef, ByteStream};
use crate::meta::{self, ListQuery, Lookup, NewObject, Object, Page, Via, now_ms};

/// The file part of an upload: its bytes, streamed, and the client's declared type.
pub struct FilePart {
    pub stream: ByteStream,
    pub content_type: Option<String>,
}

/// An object the caller may read.
#[derive(Debug, Clone)]
pub struct Download {
    pub object: Object,
    pub public: bool,
}

/// List parameters as sent; clamped here (CONTRACT §1.5).
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub prefix: Option<String>,
    pub search: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// One key's outcome in a batch delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub key: String,
    pub deleted: bool,
}

/// Counts the upload while it streams, trips the size limit, and keeps the head for sniffing.
#[derive(Default)]
struct Meter {
    seen: u64,
    over_limit: bool,
    head: Vec<u8>,
}

impl Storage {
    /// The write protocol: check access, stream the bytes to a new blob version, publish the
    /// metadata (re-checking access under the row lock), then drop the superseded bytes.
    pub async fn put_object(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        file: FilePart,
    ) -> Result<Object> {
        let principal = require(caller)?;
        let bucket = BucketName::parse(bucket)?;
        let key = ObjectKey::parse(key)?;
        let _slot = self.uploads.try_acquire().map_err(|_| Error::Busy)?;
        self.check_write(principal, &bucket, &key).await?;

        let (limit, limit_mb) = self.upload_limit().await?;
        let meter = Arc::new(Mutex::new(Meter::default()));
        let body = metered(file.stream, limit, meter.clone());
        let version = uuid::Uuid::now_v7().simple().to_string();
        let at = BlobRef {
            bucket: bucket.as_str(),
            key: key.as_str(),
            version: &version,
        };
        let written = match self.blobs.put(at, body).await {
            Ok(w) => w,
            Err(blob::Error::Body(e)) => {
                if meter.lock().expect("meter lock").over_limit {
                    return Err(Error::TooLarge { limit_mb });
                }
                return Err(Error::Invalid(format!("Upload failed: {e}")));
            }
            Err(e) => return Err(e.into()),
        };
        let head = std::mem::take(&mut meter.lock().expect("meter lock").head);
        let object = Object {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: written.size as i64,
            mime_type: Some(mime::decide(
                &head,
                file.content_type.as_deref(),
                key.as_str(),
            )),
            uploaded_at: now_ms(),
            uploaded_by: principal.owner().map(str::to_owned),
            etag: Some(written.md5_hex),
            version: version.clone(),
        };
        self.publish(principal, object).await
    }

    /// Write protocol, steps 2–3: commit the metadata that points the key at the new version
    /// (re-checking under the row lock that the caller may replace what is there), then drop
    /// the superseded bytes. On failure the new bytes are removed: nothing points at them.
    pub(super) async fn publish(&self, principal: &Principal, object: Object) -> Result<Object> {
        let at = BlobRef {
            bucket: &object.bucket,
            key: &object.key,
            version: &object.version,
        };
        let new = NewObject {
            object: object.clone(),
            via: Via::Rest,
        };
        let may_replace = |old: &Object| {
            access::decide(
                Some(principal),
                false,
                Some(old.uploaded_by.as_deref()),
                Action::Write,
            ) == Decision::Allow
        };
        let previous = match self.meta.put_object(new, &may_replace).await {
            Ok(previous) => previous,
            Err(e) => {
                let _ = self.blobs.delete(at).await;
                return Err(match e {
                    meta::Error::ReplaceDenied => Error::WriteDenied {
                        bucket: object.bucket.clone(),
                        key: object.key.clone(),
                    },
                    meta::Error::BucketNotFound => Error::BucketNotFound(object.bucket.clone()),
                    other => other.into(),
                });
            }
        };
        if let Some(old) = previous {
            let gone = BlobRef {
                version: &old,
                ..at
            };
            if let Err(e) = self.blobs.delete(gone).await {
                tracing::warn!(bucket = %object.bucket, key = %object.key, error = %e,
                    "could not delete superseded bytes");
            }
        }
        Ok(object)
    }

    /// The early access check, so a refused upload is refused before its bytes are read.
    async fn check_write(
        &self,
        principal: &Principal,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<()> {
        let Lookup { bucket: b, object } =
            self.meta
                .lookup(bucket.as_str(), key.as_str())
                .await?
                .ok_or_else(|| Error::BucketNotFound(bucket.to_string()))?;
        let owner = object.as_ref().map(|o| o.uploaded_by.as_deref());
        match access::decide(Some(principal), b.public, owner, Action::Write) {
            Decision::Allow => Ok(()),
            _ => Err(write_denied(bucket, key)),
        }
    }

    /// Finds an object the caller may read. `token` is a signed-URL token from the query.
    pub async fn get_object(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        token: Option<&str>,
    ) -> Result<Download> {
        let bucket = BucketName::parse(bucket)?;
        let key = ObjectKey::parse(key)?;
        let found = self.meta.lookup(bucket.as_str(), key.as_str()).await?;
        if let Some(token) = token {
            self.signer
                .verify_get(bucket.as_str(), key.as_str(), token)
                .await?;
            let found = found.ok_or(Error::ObjectNotFound)?;
            let object = found.object.ok_or(Error::ObjectNotFound)?;
            return Ok(Download {
                object,
                public: found.bucket.public,
            });
        }
        let Some(Lookup { bucket: b, object }) = found else {
            // A missing bucket counts as private: credentials first, then 404.
            let principal = require(caller)?;
            return Err(if principal.is_admin() {
                Error::BucketNotFound(bucket.to_string())
            } else {
                Error::ObjectNotFound
            });
        };
        // Public buckets ignore credentials entirely, even broken ones (CONTRACT §1.8).
        let principal = if b.public {
            caller.as_ref().ok()
        } else {
            Some(require(caller)?)
        };
        let owner = object.as_ref().map(|o| o.uploaded_by.as_deref());
        match (
            access::decide(principal, b.public, owner, Action::Read),
            object,
        ) {
            (Decision::Allow, Some(object)) => Ok(Download {
                object,
                public: b.public,
            }),
            (Decision::Deny, _) if principal.is_some() => Err(Error::Forbidden),
            _ => Err(Error::ObjectNotFound),
        }
    }

    /// Streams an object's bytes (a validated range of them, or all).
    pub async fn open_object(
        &self,
        object: &Object,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream> {
        let at = BlobRef {
            bucket: &object.bucket,
            key: &object.key,
            version: &object.version,
        };
        Ok(self.blobs.get(at, range).await?)
    }

    pub async fn list_objects(
        &self,
        caller: &Caller,
        bucket: &str,
        params: ListParams,
    ) -> Result<(Page, i64, i64)> {
        let principal = require(caller)?;
        let bucket = BucketName::parse(bucket)?;
        let owner = access::list_scope(principal).map_err(|_| Error::Forbidden)?;
        let limit = match params.limit {
            None | Some(0) => 100,
            Some(n) => n.clamp(1, 1000),
        };
        let offset = params.offset.unwrap_or(0).max(0);
        let search = params
            .search
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let query = ListQuery {
            bucket: bucket.to_string(),
            prefix: params.prefix.filter(|p| !p.is_empty()),
            search,
            owner,
            limit,
            offset,
        };
        let page = self.meta.list_objects(&query).await?;
        // Rows prove the bucket exists; only an empty page needs the extra check.
        if page.objects.is_empty() && self.meta.get_bucket(bucket.as_str()).await?.is_none() {
            return Err(Error::BucketNotFound(bucket.to_string()));
        }
        Ok((page, limit, offset))
    }

    /// Deletes up to 1000 keys; each is reported deleted or not found (missing or invisible).
    pub async fn delete_objects(
        &self,
        caller: &Caller,
        bucket: &str,
        keys: Vec<String>,
    ) -> Result<Vec<Removal>> {
        let principal = require(caller)?;
        let bucket = BucketName::parse(bucket)?;
        if keys.is_empty() {
            return Err(Error::Invalid(
                "keys: At least one object key is required".into(),
            ));
        }
        if keys.len() > 1000 {
            return Err(Error::Invalid(
                "keys: Cannot delete more than 1000 objects at once".into(),
            ));
        }
        let mut unique: Vec<String> = Vec::with_capacity(keys.len());
        for key in keys {
            ObjectKey::parse(&key)?;
            if !unique.contains(&key) {
                unique.push(key);
            }
        }
        if access::decide(Some(principal), false, Some(None), Action::Delete) == Decision::Deny {
            return Err(Error::Forbidden);
        }
        if self.meta.get_bucket(bucket.as_str()).await?.is_none() {
            return Err(Error::BucketNotFound(bucket.to_string()));
        }
        // Callers who may delete only their own objects get an owner filter in the same
        // statement, so ownership is checked atomically with the delete.
        let owner = principal.owner();
        let removed = self
            .meta
            .delete_objects(bucket.as_str(), &unique, owner)
            .await?;
        let results = unique
            .into_iter()
            .map(|key| Removal {
                deleted: removed.iter().any(|r| r.key == key),
                key,
            })
            .collect();
        self.drop_blobs(bucket.as_str(), removed).await;
        Ok(results)
    }

    pub async fn delete_object(&self, caller: &Caller, bucket: &str, key: &str) -> Result<()> {
        let key = ObjectKey::parse(key)?;
        let results = self
            .delete_objects(caller, bucket, vec![key.to_string()])
            .await?;
        if results.iter().any(|r| r.deleted) {
            Ok(())
        } else {
            Err(Error::ObjectNotFound)
        }
    }
}

fn write_denied(bucket: &BucketName, key: &ObjectKey) -> Error {
    Error::WriteDenied {
        bucket: bucket.to_string(),
        key: key.to_string(),
    }
}

fn metered(stream: ByteStream, limit: u64, meter: Arc<Mutex<Meter>>) -> ByteStream {
    stream
        .map(move |chunk| {
            let chunk = chunk?;
            let mut m = meter.lock().expect("meter lock");
            m.seen += chunk.len() as u64;
            if m.seen > limit {
                m.over_limit = true;
                return Err(io::Error::other("upload exceeds the size limit"));
            }
            if m.head.len() < mime::SNIFF_BYTES {
                let take = (mime::SNIFF_BYTES - m.head.len()).min(chunk.len());
                m.head.extend_from_slice(&chunk[..take]);
            }
            Ok(chunk)
        })
        .boxed()
}

/// A server-chosen key from the multipart filename: `<base>-<epochMs>-<rand><ext>` (§4.4).
pub fn auto_key(filename: Option<&str>) -> String {
    use rand::Rng;
    let name = filename
        .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f))
        .filter(|f| !f.is_empty())
        .unwrap_or("file");
    let (base, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let mut base: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    if base.is_empty() {
        base = "file".into();
    }
    // Unlike InsForge, the extension is kept only when it is plainly an extension.
    let ext = if ext.len() > 1
        && ext.len() <= 16
        && ext[1..].chars().all(|c| c.is_ascii_alphanumeric())
    {
        ext
    } else {
        ""
    };
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let rand: String = (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!(
        "{base}-{}-{rand}{ext}",
        chrono::Utc::now().timestamp_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::auto_key;

    #[test]
    fn auto_keys_are_safe() {
        let k = auto_key(Some("My Report (final).pdf"));
        assert!(k.starts_with("My-Report--final--"), "{k}");
        assert!(k.ends_with(".pdf"));
        let k = auto_key(None);
        assert!(k.starts_with("file-"));
        let k = auto_key(Some("../../etc/passwd"));
        assert!(k.starts_with("passwd-"), "{k}");
        let k = auto_key(Some("a.b/../c"));
        assert!(!k.contains('/'), "{k}");
        let k = auto_key(Some(".hidden"));
        assert!(k.starts_with("-hidden-") || k.starts_with("file-"), "{k}");
    }
}
