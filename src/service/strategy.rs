//! Upload and download strategies (CONTRACT §2, §3), and the absolute URLs Coffer hands out.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::access::{self, Action, Decision};
use super::{BucketName, Caller, Download, Error, ObjectKey, Result, Storage, mime, require};
use crate::blob::BlobRef;
use crate::meta::{Object, Pending, now_ms};

/// JavaScript's `encodeURIComponent` set: everything but `A-Za-z0-9-_.!~*'()`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

const DEFAULT_TTL: i64 = 3600;
const MAX_TTL: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone)]
pub struct UploadStrategy {
    pub method: &'static str,
    pub upload_url: String,
    pub key: String,
    pub confirm_required: bool,
    /// Presigned only: the form fields, the (relative) confirm URL and the expiry.
    pub fields: Option<BTreeMap<String, String>>,
    pub confirm_url: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct DownloadStrategy {
    pub method: &'static str,
    pub url: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Storage {
    /// `${base}/api/storage/buckets/<bucket>/objects/<encodeURIComponent(key)>`.
    pub fn object_path_url(&self, bucket: &str, key: &str) -> String {
        format!(
            "{}/api/storage/buckets/{bucket}/objects/{}",
            self.base_url,
            encode_component(key)
        )
    }

    /// The StorageFile `url`: the object URL with its version stamp (`?v=<etag>`).
    pub fn object_url(&self, object: &Object) -> String {
        let base = self.object_path_url(&object.bucket, &object.key);
        match &object.etag {
            Some(etag) => format!("{base}?v={}", encode_component(etag)),
            None => format!("{base}?v={}", object.uploaded_at.timestamp_millis()),
        }
    }

    /// Direct uploads to the exact-key route, or (S3 presigned mode) a POST form straight to
    /// the store, recorded as a pending upload; the declared size is checked up front.
    pub async fn upload_strategy(
        &self,
        caller: &Caller,
        bucket: &str,
        filename: &str,
        content_type: Option<&str>,
        size: Option<f64>,
    ) -> Result<UploadStrategy> {
        let principal = require(caller)?;
        if filename.is_empty() {
            return Err(Error::Invalid("filename: Filename cannot be empty".into()));
        }
        let bucket = BucketName::parse(bucket)?;
        let found = self
            .meta
            .lookup(bucket.as_str(), filename)
            .await?
            .ok_or_else(|| Error::BucketNotFound(bucket.to_string()))?;
        let key = ObjectKey::parse(filename)?;
        if size.is_some_and(|s| !s.is_finite() || s < 0.0) {
            return Err(Error::Invalid(
                "size: Must be a non-negative number of bytes".into(),
            ));
        }
        let (limit, limit_mb) = self.upload_limit().await?;
        if size.is_some_and(|s| s > limit as f64) {
            return Err(Error::TooLarge { limit_mb });
        }
        let owner = found.object.as_ref().map(|o| o.uploaded_by.as_deref());
        if access::decide(Some(principal), found.bucket.public, owner, Action::Write)
            != Decision::Allow
        {
            return Err(Error::WriteDenied {
                bucket: bucket.to_string(),
                key: key.to_string(),
            });
        }
        let direct = UploadStrategy {
            method: "direct",
            upload_url: self.object_path_url(bucket.as_str(), key.as_str()),
            key: key.to_string(),
            confirm_required: false,
            fields: None,
            confirm_url: None,
            expires_at: None,
        };
        if !self.blobs.presigned() {
            return Ok(direct);
        }
        // Each presigned upload writes its own new version, so it can never overwrite bytes
        // another upload published (CONTRACT §9 item 7), and it can only publish this key.
        let version = uuid::Uuid::now_v7().simple().to_string();
        let content_type = mime::safe_declared(content_type);
        let declared = size.filter(|s| *s > 0.0).map(|s| s.ceil() as u64);
        let max_bytes = declared.map_or(limit, |d| d.min(limit));
        let at = BlobRef {
            bucket: bucket.as_str(),
            key: key.as_str(),
            version: &version,
        };
        let Some(post) = self
            .blobs
            .presign_post(at, &content_type, max_bytes, self.pending_ttl)
            .await?
        else {
            return Ok(direct);
        };
        let expires_at =
            Utc::now() + chrono::Duration::from_std(self.pending_ttl).unwrap_or_default();
        self.meta
            .add_pending(&Pending {
                version,
                bucket: bucket.to_string(),
                key: key.to_string(),
                owner: principal.owner().map(str::to_owned),
                content_type,
                max_bytes: max_bytes as i64,
                expires_at,
            })
            .await?;
        Ok(UploadStrategy {
            method: "presigned",
            upload_url: post.url,
            confirm_required: true,
            fields: Some(post.fields),
            confirm_url: Some(format!(
                "/api/storage/buckets/{bucket}/objects/{}/confirm-upload",
                encode_component(key.as_str())
            )),
            expires_at: Some(expires_at),
            ..direct
        })
    }

    /// In presigned mode, where a download should go instead of streaming through Coffer.
    pub async fn redirect_url(&self, found: &Download) -> Result<Option<String>> {
        let o = &found.object;
        let ttl = if found.public { MAX_TTL } else { DEFAULT_TTL };
        self.presigned_get(o, ttl).await
    }

    async fn presigned_get(&self, o: &Object, ttl: i64) -> Result<Option<String>> {
        let at = BlobRef {
            bucket: &o.bucket,
            key: &o.key,
            version: &o.version,
        };
        let attachment = o.mime_type.as_deref().is_some_and(mime::is_unsafe);
        Ok(self
            .blobs
            .presign_get(at, Duration::from_secs(ttl as u64), attachment)
            .await?)
    }

    /// Public objects get their plain URL; private ones a signed, expiring URL that needs no
    /// credentials (CONTRACT §7.4 item 6).
    pub async fn download_strategy(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        expires_in: Option<&str>,
        single_use: bool,
    ) -> Result<DownloadStrategy> {
        let found = self.get_object(caller, bucket, key, None).await?;
        let ttl = parse_ttl(expires_in)?;
        let object = &found.object;
        if found.public && !single_use {
            return Ok(DownloadStrategy {
                method: "direct",
                url: self.object_url(object),
                expires_at: None,
            });
        }
        let expires_at = Utc::now() + chrono::Duration::seconds(ttl);
        if let Some(url) = self.presigned_get(object, ttl).await? {
            return Ok(DownloadStrategy {
                method: "presigned",
                url,
                expires_at: Some(expires_at),
            });
        }
        let token = self.signer.sign_get(
            &object.bucket,
            &object.key,
            expires_at.timestamp(),
            single_use,
        );
        Ok(DownloadStrategy {
            method: "presigned",
            url: format!(
                "{}?token={}",
                self.object_path_url(&object.bucket, &object.key),
                encode_component(&token)
            ),
            expires_at: Some(expires_at),
        })
    }

    /// Confirms an upload. Direct uploads publish at once, so confirming an object that
    /// exists (and that the caller may read) returns it. A presigned upload is published here:
    /// its bytes must exist in the store, their real size must fit, and only the caller it
    /// was issued to (or an admin) may confirm it.
    pub async fn confirm_upload(&self, caller: &Caller, bucket: &str, key: &str) -> Result<Object> {
        let principal = require(caller)?;
        let not_found = || Error::UploadNotFound {
            bucket: bucket.to_string(),
            key: key.to_string(),
        };
        if !self.blobs.presigned() {
            return match self.get_object(caller, bucket, key, None).await {
                Ok(found) => Ok(found.object),
                Err(Error::ObjectNotFound | Error::BucketNotFound(_)) => Err(not_found()),
                Err(e) => Err(e),
            };
        }
        let bucket = BucketName::parse(bucket)?;
        let key = ObjectKey::parse(key)?;
        if access::decide(Some(principal), false, None, Action::Write) != Decision::Allow {
            return Err(Error::Forbidden);
        }
        let mine = |p: &Pending| principal.is_admin() || p.owner.as_deref() == principal.owner();
        for pending in self.meta.pending_for(bucket.as_str(), key.as_str()).await? {
            if !mine(&pending) {
                continue;
            }
            let at = BlobRef {
                bucket: bucket.as_str(),
                key: key.as_str(),
                version: &pending.version,
            };
            let Some(head) = self.blobs.head(at).await? else {
                continue;
            };
            // Claiming removes the row, so the sweeper and a concurrent confirm cannot both
            // act on these bytes.
            let Some(pending) = self.meta.claim_pending(&pending.version).await? else {
                continue;
            };
            return self.publish_pending(principal, pending, head).await;
        }
        Err(not_found())
    }

    async fn publish_pending(
        &self,
        principal: &crate::auth::Principal,
        pending: Pending,
        head: crate::blob::Head,
    ) -> Result<Object> {
        let at = BlobRef {
            bucket: &pending.bucket,
            key: &pending.key,
            version: &pending.version,
        };
        let (limit, limit_mb) = self.upload_limit().await?;
        if head.size > limit.min(pending.max_bytes as u64) {
            let _ = self.blobs.delete(at).await;
            return Err(Error::TooLarge { limit_mb });
        }
        let object = Object {
            bucket: pending.bucket.clone(),
            key: pending.key.clone(),
            size: head.size as i64,
            mime_type: Some(pending.content_type.clone()),
            uploaded_at: now_ms(),
            uploaded_by: principal.owner().map(str::to_owned),
            etag: head.etag,
            version: pending.version.clone(),
        };
        self.publish(principal, object).await
    }
}

/// `expiresIn` in seconds: absent or blank → 1 h; otherwise a finite number, floored and
/// clamped to 1 s … 7 days.
fn parse_ttl(raw: Option<&str>) -> Result<i64> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(DEFAULT_TTL);
    };
    match raw.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok((v.floor() as i64).clamp(1, MAX_TTL)),
        _ => Err(Error::Invalid(
            "expiresIn must be a finite number of seconds".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rules() {
        assert_eq!(parse_ttl(None).unwrap(), 3600);
        assert_eq!(parse_ttl(Some("")).unwrap(), 3600);
        assert_eq!(parse_ttl(Some("120")).unwrap(), 120);
        assert_eq!(parse_ttl(Some("1.9")).unwrap(), 1);
        assert_eq!(parse_ttl(Some("0")).unwrap(), 1);
        assert_eq!(parse_ttl(Some("99999999")).unwrap(), MAX_TTL);
        assert!(parse_ttl(Some("abc")).is_err());
        assert!(parse_ttl(Some("NaN")).is_err());
        assert!(parse_ttl(Some("inf")).is_err());
    }

    #[test]
    fn component_encoding_matches_javascript() {
        assert_eq!(
            encode_component("folder/sub key+ü!*'()~.txt"),
            "folder%2Fsub%20key%2B%C3%BC!*'()~.txt"
        );
    }
}
