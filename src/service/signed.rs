//! Signed download URLs on Coffer's own routes (InsForge has none on local disk, §9 item 8).
//!
//! A token is `<expiry epoch s>.<nonce>.<signature>`; the signature is HMAC-SHA256 over the
//! bucket, key, expiry, nonce and single-use flag with a key derived from the JWT secret. It
//! rides in the `token` query parameter of the normal object URL, so a browser or an SDK can
//! fetch it without any header. Single-use nonces are remembered in memory until they expire.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

pub struct Signer {
    key: Vec<u8>,
    spent: Mutex<HashMap<String, i64>>,
}

impl Signer {
    /// Derives the URL-signing key from the JWT secret, so rotating one rotates the other.
    pub fn new(jwt_secret: &[u8]) -> Signer {
        let mut mac = HmacSha256::new_from_slice(jwt_secret).expect("HMAC takes any key size");
        mac.update(b"coffer signed download urls v1");
        Signer {
            key: mac.finalize().into_bytes().to_vec(),
            spent: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, bucket: &str, key: &str, expires: i64, nonce: &str, once: bool) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key size");
        // Length-prefixed fields: no two (bucket, key) pairs produce the same message.
        for field in [
            bucket,
            key,
            &expires.to_string(),
            nonce,
            if once { "1" } else { "0" },
        ] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac.finalize().into_bytes().to_vec()
    }

    /// A token for GET of `bucket`/`key` until `expires` (epoch seconds).
    pub fn sign_get(&self, bucket: &str, key: &str, expires: i64, single_use: bool) -> String {
        let mut raw = [0u8; 12];
        rand::rng().fill_bytes(&mut raw);
        let nonce = format!("{}{}", if single_use { "1" } else { "0" }, B64.encode(raw));
        let sig = self.mac(bucket, key, expires, &nonce, single_use);
        format!("{expires}.{nonce}.{}", B64.encode(sig))
    }

    /// Checks a token for `bucket`/`key`; a single-use token is spent by this call.
    pub async fn verify_get(&self, bucket: &str, key: &str, token: &str) -> Result<()> {
        let mut parts = token.splitn(3, '.');
        let (Some(exp), Some(nonce), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::BadSignature);
        };
        let expires: i64 = exp.parse().map_err(|_| Error::BadSignature)?;
        let once = nonce.starts_with('1');
        let given = B64.decode(sig).map_err(|_| Error::BadSignature)?;
        let want = self.mac(bucket, key, expires, nonce, once);
        if !bool::from(given.ct_eq(&want)) {
            return Err(Error::BadSignature);
        }
        let now = chrono::Utc::now().timestamp();
        if now >= expires {
            return Err(Error::BadSignature);
        }
        if once {
            let mut spent = self.spent.lock().expect("spent-token lock");
            spent.retain(|_, exp| *exp > now);
            if spent.insert(nonce.to_string(), expires).is_some() {
                return Err(Error::BadSignature);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_bind_bucket_key_and_expiry() {
        let s = Signer::new(b"secret");
        let exp = chrono::Utc::now().timestamp() + 60;
        let t = s.sign_get("b", "k/1", exp, false);
        assert!(s.verify_get("b", "k/1", &t).await.is_ok());
        assert!(s.verify_get("b", "k/1", &t).await.is_ok());
        assert!(s.verify_get("b", "k/2", &t).await.is_err());
        assert!(s.verify_get("c", "k/1", &t).await.is_err());
        let tampered = t.replacen(&exp.to_string(), &(exp + 1000).to_string(), 1);
        assert!(s.verify_get("b", "k/1", &tampered).await.is_err());
        let other = Signer::new(b"other");
        assert!(other.verify_get("b", "k/1", &t).await.is_err());
        let old = s.sign_get("b", "k", chrono::Utc::now().timestamp() - 1, false);
        assert!(s.verify_get("b", "k", &old).await.is_err());
        assert!(s.verify_get("b", "k", "garbage").await.is_err());
    }

    #[tokio::test]
    async fn single_use_tokens_work_once() {
        let s = Signer::new(b"secret");
        let t = s.sign_get("b", "k", chrono::Utc::now().timestamp() + 60, true);
        assert!(s.verify_get("b", "k", &t).await.is_ok());
        assert!(s.verify_get("b", "k", &t).await.is_err());
    }
}
