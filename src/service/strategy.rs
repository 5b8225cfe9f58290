//! Upload and download strategies (CONTRACT §2, §3), and the absolute URLs Coffer hands out.

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::access::{self, Action, Decision};
use super::{BucketName, Caller, Error, ObjectKey, Result, Storage, require};
use crate::meta::Object;

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

    /// Direct uploads to the exact-key route; the declared size is checked up front.
    pub async fn upload_strategy(
        &self,
        caller: &Caller,
        bucket: &str,
        filename: &str,
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
        Ok(UploadStrategy {
            method: "direct",
            upload_url: self.object_path_url(bucket.as_str(), key.as_str()),
            key: key.to_string(),
            confirm_required: false,
        })
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
    /// exists (and that the caller may read) returns it; anything else was never uploaded.
    pub async fn confirm_upload(&self, caller: &Caller, bucket: &str, key: &str) -> Result<Object> {
        require(caller)?;
        match self.get_object(caller, bucket, key, None).await {
            Ok(found) => Ok(found.object),
            Err(Error::ObjectNotFound | Error::BucketNotFound(_)) => Err(Error::UploadNotFound {
                bucket: bucket.to_string(),
                key: key.to_string(),
            }),
            Err(e) => Err(e),
        }
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
