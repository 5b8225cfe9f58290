//! Who is calling: API key, anon key or HS256 access token (CONTRACT §5).
//!
//! The HTTP layer hands the raw headers to [`Keys::authenticate`]; the service decides what the
//! resulting [`Principal`] may do. Dispatch is by the credential's shape, never by falling back
//! after a failure.

mod keys;

pub use keys::{Keys, Secrets};

use serde::{Deserialize, Serialize};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The project's admin API key (`ik_…`).
    ApiKey,
    /// An access token with role `project_admin`.
    Admin { sub: String },
    /// An access token with role `authenticated`; `sub` owns what it uploads.
    User { sub: String },
    /// The anon key, or a legacy token with role `anon`.
    Anon,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::ApiKey | Principal::Admin { .. })
    }

    /// The owner recorded on uploads: only `authenticated` users own objects.
    pub fn owner(&self) -> Option<&str> {
        match self {
            Principal::User { sub } => Some(sub),
            _ => None,
        }
    }
}

/// Why a credential was refused. Messages follow CONTRACT §0.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("No token provided")]
    NoToken,
    #[error("No admin token provided")]
    NoAdminToken,
    #[error("Invalid token")]
    InvalidToken,
    #[error("Invalid token subject")]
    InvalidSubject,
    #[error("Invalid anon key")]
    InvalidAnonKey,
    #[error("Invalid API key")]
    InvalidApiKey,
    #[error("Admin access required")]
    AdminRequired,
}

/// Claims of the access tokens Coffer accepts and mints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// Requires an admin caller (API key or `project_admin` token), as the admin routes do.
pub fn require_admin(caller: Result<Principal, Error>) -> Result<Principal, Error> {
    match caller {
        Ok(p) if p.is_admin() => Ok(p),
        Ok(_) => Err(Error::AdminRequired),
        Err(Error::NoToken) => Err(Error::NoAdminToken),
        Err(e) => Err(e),
    }
}
