//! Blobs in any S3-compatible store, through `object_store`.
//!
//! Physical names are `<APP_KEY>/<bucket>/<key…>/<version>` (CONTRACT §4.2 plus our version),
//! falling back to `<APP_KEY>/<bucket>/<version>` when a long key would pass S3's 1024-byte
//! limit. Uploads through Coffer stream: small bodies in one PUT, larger ones as a multipart
//! upload in 8 MiB parts, so memory stays bounded whatever the size.

use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use chrono::Utc;
use futures::StreamExt;
use md5::{Digest, Md5};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use super::presign::{PostPolicy, SigningCredentials, presigned_post};
use super::{BlobRef, BlobStore, ByteStream, Error, Head, PresignedPost, Result, Written};
use crate::config::S3Config;

const PART_SIZE: usize = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 2;
const MAX_S3_KEY: usize = 1024;

pub struct S3Blobs {
    store: Arc<AmazonS3>,
    bucket: String,
    app_key: String,
    region: String,
    /// Base of presigned POST form URLs (`<endpoint>/<bucket>` or the virtual host).
    post_url: String,
    presigned: bool,
}

impl S3Blobs {
    pub fn new(config: &S3Config, app_key: &str) -> Result<S3Blobs, String> {
        let bucket = config
            .bucket_name()
            .ok_or_else(|| "S3_BUCKET is not set".to_string())?;
        let region = config.region_name();
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&bucket)
            .with_region(&region);
        if let Some((id, secret)) = config.static_credentials() {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        let post_url = match &config.endpoint_url {
            Some(endpoint) => {
                let endpoint = endpoint.trim_end_matches('/');
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(!config.path_style());
                if config.path_style() {
                    format!("{endpoint}/{bucket}")
                } else {
                    let (scheme, host) = endpoint.split_once("://").unwrap_or(("https", endpoint));
                    format!("{scheme}://{bucket}.{host}")
                }
            }
            None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        };
        let store = builder.build().map_err(|e| e.to_string())?;
        Ok(S3Blobs {
            store: Arc::new(store),
            bucket,
            app_key: app_key.to_string(),
            region,
            post_url,
            presigned: config.presigned(),
        })
    }

    fn path(&self, at: BlobRef<'_>) -> Path {
        // The key as it is: `Path::from_iter` would percent-encode non-ASCII and `%*?#[]…`
        // (`ü.txt` stored as `%C3%BC.txt`). Only keys object_store cannot hold literally (an
        // empty or "." segment) are encoded; the version keeps every name unique either way.
        let literal = format!("{}/{}/{}/{}", self.app_key, at.bucket, at.key, at.version);
        let full = Path::parse(literal).unwrap_or_else(|_| {
            Path::from_iter(
                [self.app_key.as_str(), at.bucket]
                    .into_iter()
                    .chain(at.key.split('/'))
                    .chain([at.version]),
            )
        });
        if full.as_ref().len() <= MAX_S3_KEY {
            full
        } else {
            Path::from_iter([self.app_key.as_str(), at.bucket, at.version])
        }
    }

    async fn credentials(&self) -> Result<SigningCredentials> {
        let creds = self
            .store
            .credentials()
            .get_credential()
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(SigningCredentials {
            access_key_id: creds.key_id.clone(),
            secret_access_key: creds.secret_key.clone(),
            session_token: creds.token.clone(),
        })
    }
}

fn store_err(e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { .. } => Error::NotFound,
        other => Error::Io(io::Error::other(other.to_string())),
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, at: BlobRef<'_>, mut body: ByteStream) -> Result<Written> {
        let path = self.path(at);
        let mut md5 = Md5::new();
        let mut size = 0u64;
        let mut first = BytesMut::new();
        // Up to one part is buffered; a body that ends there goes up in a single PUT.
        while first.len() < PART_SIZE {
            match body.next().await {
                Some(Ok(chunk)) => {
                    md5.update(&chunk);
                    size += chunk.len() as u64;
                    first.extend_from_slice(&chunk);
                }
                Some(Err(e)) => return Err(Error::Body(e)),
                None => {
                    let payload = PutPayload::from(first.freeze());
                    self.store.put(&path, payload).await.map_err(store_err)?;
                    return Ok(Written {
                        size,
                        md5_hex: hex::encode(md5.finalize()),
                    });
                }
            }
        }
        let upload = self.store.put_multipart(&path).await.map_err(store_err)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        writer.write(&first);
        drop(first);
        loop {
            let chunk = match body.next().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    let _ = writer.abort().await;
                    return Err(Error::Body(e));
                }
                None => break,
            };
            md5.update(&chunk);
            size += chunk.len() as u64;
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = writer.abort().await;
                return Err(store_err(e));
            }
            writer.write(&chunk);
        }
        writer.finish().await.map_err(store_err)?;
        Ok(Written {
            size,
            md5_hex: hex::encode(md5.finalize()),
        })
    }

    async fn get(&self, at: BlobRef<'_>, range: Option<Range<u64>>) -> Result<ByteStream> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&self.path(at), options)
            .await
            .map_err(store_err)?;
        Ok(result
            .into_stream()
            .map(|chunk| chunk.map_err(|e| io::Error::other(e.to_string())))
            .boxed())
    }

    async fn delete(&self, at: BlobRef<'_>) -> Result<()> {
        match self.store.delete(&self.path(at)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn head(&self, at: BlobRef<'_>) -> Result<Option<Head>> {
        match self.store.head(&self.path(at)).await {
            Ok(meta) => Ok(Some(Head {
                size: meta.size,
                etag: meta.e_tag.map(|t| t.trim_matches('"').to_string()),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err(e)),
        }
    }

    async fn delete_many(&self, bucket: &str, blobs: &[(String, String)]) -> usize {
        // object_store batches these into DeleteObjects calls of up to 1000 keys.
        let paths: Vec<_> = blobs
            .iter()
            .map(|(key, version)| {
                Ok(self.path(BlobRef {
                    bucket,
                    key,
                    version,
                }))
            })
            .collect();
        self.store
            .delete_stream(futures::stream::iter(paths).boxed())
            .filter(|outcome| {
                let failed = !matches!(outcome, Ok(_) | Err(object_store::Error::NotFound { .. }));
                futures::future::ready(failed)
            })
            .count()
            .await
    }

    fn presigned(&self) -> bool {
        self.presigned
    }

    async fn presign_get(
        &self,
        at: BlobRef<'_>,
        ttl: Duration,
        attachment: bool,
    ) -> Result<Option<String>> {
        if !self.presigned {
            return Ok(None);
        }
        let mut options = SignedUrlOptions::new();
        if attachment {
            options = options.with_query([("response-content-disposition", "attachment")]);
        }
        let url = self
            .store
            .signed_url_opts(http::Method::GET, &self.path(at), ttl, &options)
            .await
            .map_err(store_err)?;
        Ok(Some(url.to_string()))
    }

    async fn presign_post(
        &self,
        at: BlobRef<'_>,
        content_type: &str,
        max_bytes: u64,
        ttl: Duration,
    ) -> Result<Option<PresignedPost>> {
        if !self.presigned {
            return Ok(None);
        }
        let creds = self.credentials().await?;
        let now = Utc::now();
        let key = self.path(at);
        let fields = presigned_post(
            &PostPolicy {
                bucket: &self.bucket,
                key: key.as_ref(),
                content_type,
                max_bytes,
                region: &self.region,
                now,
                expires: now + chrono::Duration::from_std(ttl).unwrap_or_default(),
            },
            &creds,
        );
        Ok(Some(PresignedPost {
            url: self.post_url.clone(),
            fields,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physical_names_keep_the_key_as_it_is() {
        let config = S3Config {
            bucket: Some("phys".into()),
            endpoint_url: Some("http://127.0.0.1:9".into()),
            access_key_id: Some("AKID".into()),
            secret_access_key: Some("secret".into()),
            force_path_style: "true".into(),
            use_presigned_urls: "true".into(),
            ..S3Config::default()
        };
        let blobs = S3Blobs::new(&config, "local").unwrap();
        let name = |key: &str| {
            let at = BlobRef {
                bucket: "docs",
                key,
                version: "v1",
            };
            blobs.path(at).to_string()
        };
        assert_eq!(name("a/b c+d.txt"), "local/docs/a/b c+d.txt/v1");
        assert_eq!(
            name("ünï/日本語/%41 *?#[x].txt"),
            "local/docs/ünï/日本語/%41 *?#[x].txt/v1"
        );
        // Segments object_store refuses are encoded (empty ones dropped), still under the key.
        assert_eq!(name("a//./b"), "local/docs/a/%2E/b/v1");
        // Past S3's 1024 bytes the key is left out.
        assert_eq!(name(&"ü".repeat(600)), "local/docs/v1");
    }
}
