//! The project's secrets (JWT secret, API key, anon key) and credential verification.

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{Claims, Error, Principal};

/// The three secrets, as configured or as generated on first start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Secrets {
    pub jwt_secret: String,
    pub api_key: String,
    pub anon_key: String,
}

impl Secrets {
    /// Loads `secrets.json` from the data directory, generating (and persisting) whatever the
    /// configuration does not set. Returns the secrets and whether any were generated now.
    pub fn load_or_generate(
        data_dir: &Path,
        jwt_secret: Option<&str>,
        api_key: Option<&str>,
        anon_key: Option<&str>,
    ) -> std::io::Result<(Secrets, bool)> {
        let path = data_dir.join("secrets.json");
        let stored: Option<Secrets> = match std::fs::read(&path) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(std::io::Error::other)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let generated = stored.is_none();
        let stored = match stored {
            Some(s) => s,
            None => {
                let s = Secrets {
                    jwt_secret: random_hex(32),
                    api_key: format!("ik_{}", random_hex(32)),
                    anon_key: format!("anon_{}", random_hex(32)),
                };
                write_private(&path, &serde_json::to_vec_pretty(&s)?)?;
                s
            }
        };
        let secrets = Secrets {
            jwt_secret: jwt_secret.map(str::to_owned).unwrap_or(stored.jwt_secret),
            api_key: api_key
                .map(|k| with_prefix(k, "ik_"))
                .unwrap_or(stored.api_key),
            anon_key: anon_key
                .map(|k| with_prefix(k, "anon_"))
                .unwrap_or(stored.anon_key),
        };
        Ok((secrets, generated))
    }
}

fn with_prefix(key: &str, prefix: &str) -> String {
    if key.starts_with(prefix) {
        key.to_string()
    } else {
        format!("{prefix}{key}")
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Verifies credentials. Built once at start-up; cheap to share.
pub struct Keys {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
    api_key: String,
    anon_key: String,
    secret: Vec<u8>,
}

impl Keys {
    pub fn new(secrets: &Secrets) -> Keys {
        // The algorithm is pinned: `none`, RS256 or anything else in the header is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 0;
        Keys {
            decoding: DecodingKey::from_secret(secrets.jwt_secret.as_bytes())
                .expect("an HMAC key accepts any bytes"),
            encoding: EncodingKey::from_secret(secrets.jwt_secret.as_bytes())
                .expect("an HMAC key accepts any bytes"),
            validation,
            api_key: secrets.api_key.clone(),
            anon_key: secrets.anon_key.clone(),
            secret: secrets.jwt_secret.as_bytes().to_vec(),
        }
    }

    /// The JWT secret's bytes, from which other HMAC keys (signed URLs) are derived.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// Resolves the caller from the `Authorization` and `x-api-key` header values.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        x_api_key: Option<&str>,
    ) -> Result<Principal, Error> {
        // CONTRACT §5.1: any x-api-key value is checked as an API key and takes precedence.
        if let Some(key) = x_api_key {
            return self.check_api_key(key);
        }
        let Some(header) = authorization else {
            return Err(Error::NoToken);
        };
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(Error::InvalidToken),
        };
        if token.is_empty() {
            return Err(Error::NoToken);
        }
        if token.starts_with("ik_") {
            return self.check_api_key(token);
        }
        if token.starts_with("anon_") {
            return if ct_eq(token, &self.anon_key) {
                Ok(Principal::Anon)
            } else {
                Err(Error::InvalidAnonKey)
            };
        }
        self.verify_jwt(token)
    }

    fn check_api_key(&self, key: &str) -> Result<Principal, Error> {
        if ct_eq(key, &self.api_key) {
            Ok(Principal::ApiKey)
        } else {
            Err(Error::InvalidApiKey)
        }
    }

    fn verify_jwt(&self, token: &str) -> Result<Principal, Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| Error::InvalidToken)?;
        let claims = data.claims;
        let sub = claims
            .sub
            .filter(|s| !s.is_empty())
            .ok_or(Error::InvalidSubject)?;
        // Unknown roles are denied rather than passed on (CONTRACT §9 item 15).
        match claims.role.as_deref().unwrap_or("authenticated") {
            "authenticated" => Ok(Principal::User { sub }),
            "project_admin" => Ok(Principal::Admin { sub }),
            "anon" => Ok(Principal::Anon),
            _ => Err(Error::InvalidToken),
        }
    }

    /// Mints an HS256 access token (used by `coffer token`).
    pub fn mint(&self, sub: &str, role: &str, ttl_secs: u64) -> String {
        let now = chrono::Utc::now().timestamp() as u64;
        let claims = Claims {
            sub: Some(sub.to_string()),
            role: Some(role.to_string()),
            email: None,
            exp: now + ttl_secs,
            iat: Some(now),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new(&Secrets {
            jwt_secret: "s3cret".into(),
            api_key: "ik_abc".into(),
            anon_key: "anon_xyz".into(),
        })
    }

    #[test]
    fn dispatches_by_shape() {
        let k = keys();
        assert_eq!(
            k.authenticate(Some("Bearer ik_abc"), None),
            Ok(Principal::ApiKey)
        );
        assert_eq!(k.authenticate(None, Some("ik_abc")), Ok(Principal::ApiKey));
        assert_eq!(
            k.authenticate(Some("Bearer ik_bad"), None),
            Err(Error::InvalidApiKey)
        );
        assert_eq!(
            k.authenticate(Some("Bearer anon_xyz"), None),
            Ok(Principal::Anon)
        );
        assert_eq!(
            k.authenticate(Some("Bearer anon_nope"), None),
            Err(Error::InvalidAnonKey)
        );
        assert_eq!(k.authenticate(None, None), Err(Error::NoToken));
        assert_eq!(
            k.authenticate(Some("Bearer garbage"), None),
            Err(Error::InvalidToken)
        );
    }

    #[test]
    fn tokens_round_trip_and_roles_are_checked() {
        let k = keys();
        let t = k.mint("alice", "authenticated", 60);
        assert_eq!(
            k.authenticate(Some(&format!("Bearer {t}")), None),
            Ok(Principal::User {
                sub: "alice".into()
            })
        );
        let t = k.mint("root", "project_admin", 60);
        assert!(
            k.authenticate(Some(&format!("Bearer {t}")), None)
                .unwrap()
                .is_admin()
        );
        let t = k.mint("x", "service_role", 60);
        assert_eq!(
            k.authenticate(Some(&format!("Bearer {t}")), None),
            Err(Error::InvalidToken)
        );
    }

    #[test]
    fn alg_none_is_refused() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = b64.encode(br#"{"sub":"a","role":"project_admin","exp":99999999999}"#);
        let token = format!("Bearer {header}.{body}.");
        assert_eq!(
            keys().authenticate(Some(&token), None),
            Err(Error::InvalidToken)
        );
    }
}
