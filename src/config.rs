//! Start-up configuration: one struct, read from flags or environment variables.
//!
//! This module is the only reader of the environment. Variable names follow InsForge where
//! InsForge has one (`JWT_SECRET`, `ACCESS_API_KEY`, …) so that its users can move over.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Coffer: an InsForge-compatible storage server.
#[derive(Debug, Parser)]
#[command(name = "coffer", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the storage server.
    Serve(Box<Config>),
    /// Print an HS256 access token signed with the server's JWT secret (for curl and tests).
    Token(TokenArgs),
}

/// Everything `coffer serve` needs. Tests build this value directly.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "COFFER_LISTEN", default_value = "127.0.0.1:7130")]
    pub listen: SocketAddr,

    /// Directory holding the SQLite file, the generated secrets and (on local disk) the objects.
    #[arg(long, env = "COFFER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// PostgreSQL URL (`postgres://…`) for metadata; the embedded SQLite file when unset.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Largest number of pooled database connections.
    #[arg(long, env = "COFFER_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Seconds to wait for a pooled database connection (also the start-up connect timeout).
    #[arg(long, env = "COFFER_DB_ACQUIRE_TIMEOUT", default_value_t = 10)]
    pub db_acquire_timeout_secs: u64,

    /// HS256 secret for access tokens; generated and kept in the data directory when unset.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Admin API key (`ik_…`; the prefix is added when missing); generated when unset.
    #[arg(long, env = "ACCESS_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Public anon key (`anon_…`; the prefix is added when missing); generated when unset.
    #[arg(long, env = "ACCESS_ANON_KEY", hide_env_values = true)]
    pub anon_key: Option<String>,

    /// Public base URL used in every absolute URL Coffer returns (may carry a path prefix).
    #[arg(long, env = "API_BASE_URL")]
    pub api_base_url: Option<String>,

    /// Upload size limit in bytes; when set it replaces the stored `maxFileSizeMb` at start-up.
    #[arg(long, env = "MAX_FILE_SIZE")]
    pub max_file_size: Option<u64>,

    /// Project key: the first component of physical object names.
    #[arg(long, env = "APP_KEY", default_value = "local")]
    pub app_key: String,

    /// Seconds an upload may send nothing before it is abandoned (408) and its slot freed.
    #[arg(long, env = "COFFER_UPLOAD_IDLE_TIMEOUT", default_value_t = 30)]
    pub upload_idle_timeout_secs: u64,

    /// Uploads streamed at the same time; more get 429 with `Retry-After`.
    #[arg(long, env = "COFFER_MAX_CONCURRENT_UPLOADS", default_value_t = 128)]
    pub max_concurrent_uploads: usize,

    #[command(flatten)]
    pub s3: S3Config,
}

/// Bytes in an S3-compatible store instead of on local disk (CONTRACT §4.2).
#[derive(Debug, Clone, Default, Args)]
pub struct S3Config {
    /// Physical S3 bucket; setting it (or `AWS_S3_BUCKET`) selects the S3 backend.
    #[arg(long = "s3-bucket", env = "S3_BUCKET")]
    pub bucket: Option<String>,

    /// Custom endpoint of an S3-compatible store (unset: AWS).
    #[arg(long = "s3-endpoint-url", env = "S3_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// Region (falls back to `AWS_REGION`, then `us-east-2`).
    #[arg(long = "s3-region", env = "S3_REGION")]
    pub region: Option<String>,

    /// Path-style addressing with a custom endpoint; `false` for virtual-hosted style.
    #[arg(
        long = "s3-force-path-style",
        env = "S3_FORCE_PATH_STYLE",
        default_value = "true"
    )]
    pub force_path_style: String,

    /// Access key id (falls back to `AWS_ACCESS_KEY_ID`, then the instance credential chain).
    #[arg(long = "s3-access-key-id", env = "S3_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,

    /// Secret access key (falls back to `AWS_SECRET_ACCESS_KEY`).
    #[arg(
        long = "s3-secret-access-key",
        env = "S3_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub secret_access_key: Option<String>,

    /// `false` serves bytes through Coffer ("proxy mode") instead of presigned URLs.
    #[arg(
        long = "s3-use-presigned-urls",
        env = "S3_USE_PRESIGNED_URLS",
        default_value = "true"
    )]
    pub use_presigned_urls: String,

    /// Seconds an unconfirmed presigned upload is kept before its bytes are deleted.
    #[arg(long, env = "COFFER_PENDING_UPLOAD_TTL", default_value_t = 3600)]
    pub pending_ttl_secs: u64,

    /// Seconds between sweeps of expired pending uploads.
    #[arg(long, env = "COFFER_SWEEP_INTERVAL", default_value_t = 300)]
    pub sweep_interval_secs: u64,
}

impl S3Config {
    /// The physical bucket, from `S3_BUCKET` or `AWS_S3_BUCKET`.
    pub fn bucket_name(&self) -> Option<String> {
        self.bucket
            .clone()
            .or_else(|| std::env::var("AWS_S3_BUCKET").ok())
            .filter(|b| !b.is_empty())
    }

    pub fn region_name(&self) -> String {
        self.region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "us-east-2".into())
    }

    /// The credential pair: `S3_*`, else `AWS_*`; `None` means the standard chain.
    pub fn static_credentials(&self) -> Option<(String, String)> {
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
            _ => match (
                std::env::var("AWS_ACCESS_KEY_ID"),
                std::env::var("AWS_SECRET_ACCESS_KEY"),
            ) {
                (Ok(id), Ok(secret)) => Some((id, secret)),
                _ => None,
            },
        }
    }

    pub fn path_style(&self) -> bool {
        self.force_path_style != "false"
    }

    /// Presigned mode unless the value is exactly `false` (CONTRACT Appendix A).
    pub fn presigned(&self) -> bool {
        self.use_presigned_urls != "false"
    }
}

/// Arguments of `coffer token`.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Subject (`sub` claim): the user id that will own uploads.
    #[arg(long, default_value = "user-1")]
    pub sub: String,
    /// Role claim: `authenticated`, `project_admin` or `anon`.
    #[arg(long, default_value = "authenticated")]
    pub role: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
    /// Data directory holding the generated secret (ignored when `JWT_SECRET` is set).
    #[arg(long, env = "COFFER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Secret to sign with.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
}

impl Config {
    /// A configuration with every default, serving from `data_dir` on `listen`.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Config {
            listen,
            data_dir,
            database_url: None,
            db_max_connections: 16,
            db_acquire_timeout_secs: 10,
            jwt_secret: None,
            api_key: None,
            anon_key: None,
            api_base_url: None,
            max_file_size: None,
            app_key: "local".into(),
            max_concurrent_uploads: 128,
            upload_idle_timeout_secs: 30,
            s3: S3Config {
                force_path_style: "true".into(),
                use_presigned_urls: "true".into(),
                pending_ttl_secs: 3600,
                sweep_interval_secs: 300,
                ..S3Config::default()
            },
        }
    }

    /// The public base URL without a trailing slash.
    pub fn base_url(&self) -> String {
        match &self.api_base_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None if self.listen.ip().is_unspecified() => {
                format!("http://localhost:{}", self.listen.port())
            }
            None => format!("http://{}", self.listen),
        }
    }

    pub fn db_acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.db_acquire_timeout_secs.max(1))
    }
}
