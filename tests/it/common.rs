//! `TestServer`: the real `coffer` binary on a free port, a fresh data directory and, for
//! PostgreSQL runs, a fresh database that is dropped afterwards.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use coffer::auth::{Keys, Secrets};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

pub const JWT_SECRET: &str = "coffer-test-jwt-secret-0123456789abcdef";
pub const API_KEY: &str = "ik_test0123456789abcdef0123456789abcdef0123456789abcdef0123456789";
pub const ANON_KEY: &str = "anon_test0123456789abcdef0123456789abcdef0123456789abcdef01234567";

/// Which metadata store a server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Sqlite,
    Postgres,
    /// SQLite metadata, bytes in a test S3 server (proxy mode: bytes through Coffer).
    SqliteS3,
    /// PostgreSQL metadata, bytes in a test S3 server (proxy mode).
    PostgresS3,
}

impl Store {
    pub fn is_postgres(self) -> bool {
        matches!(self, Store::Postgres | Store::PostgresS3)
    }

    pub fn is_s3(self) -> bool {
        matches!(self, Store::SqliteS3 | Store::PostgresS3)
    }
}

/// A database created for one test server, dropped when the server goes.
pub struct PgDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDb {
    pub fn create() -> PgDb {
        PgDb::create_with("")
    }

    /// A fresh database created with extra `CREATE DATABASE` options (e.g. a collation).
    pub fn create_with(options: &str) -> PgDb {
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("coffer_t_{}", uuid::Uuid::new_v4().simple());
        let sql = format!("CREATE DATABASE {name} {options}");
        run_pg(&admin_url, &sql).unwrap_or_else(|e| {
            panic!("PostgreSQL is required for these tests ({admin_url}): {e}")
        });
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .expect("TEST_DATABASE_URL names a database");
        PgDb {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = run_pg(&self.admin_url, &sql);
    }
}

/// Runs one statement on its own runtime (usable from `Drop` and sync code).
fn run_pg(url: &str, sql: &str) -> Result<(), String> {
    let url = url.to_string();
    let sql = sql.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        })
    })
    .join()
    .map_err(|_| "thread panicked".to_string())?
}

pub struct TestServer {
    pub base: String,
    pub store: Store,
    pub client: Client,
    pub data_dir: PathBuf,
    child: Option<Child>,
    extra_env: Vec<(String, String)>,
    keys: Keys,
    _tmp: tempfile::TempDir,
    pub db: Option<PgDb>,
    /// The S3 endpoint this server keeps its bytes in, when it runs on S3.
    pub s3: Option<crate::s3_server::S3Server>,
}

impl TestServer {
    pub async fn start(store: Store) -> TestServer {
        TestServer::start_with(store, &[]).await
    }

    pub async fn start_with(store: Store, env: &[(&str, &str)]) -> TestServer {
        let s3 = store.is_s3().then(crate::s3_server::S3Server::start);
        TestServer::start_inner(store, env, s3, false)
    }

    /// A server whose bytes live in a fresh S3 endpoint (presigned or proxy mode).
    pub async fn start_s3(store: Store, presigned: bool, env: &[(&str, &str)]) -> TestServer {
        let s3 = crate::s3_server::S3Server::start();
        TestServer::start_inner(store, env, Some(s3), presigned)
    }

    fn start_inner(
        store: Store,
        env: &[(&str, &str)],
        s3: Option<crate::s3_server::S3Server>,
        presigned: bool,
    ) -> TestServer {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = tmp.path().join("data");
        let db = store.is_postgres().then(PgDb::create);
        let mut extra_env: Vec<(String, String)> =
            s3.as_ref().map(|s| s.env(presigned)).unwrap_or_default();
        extra_env.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut server = TestServer {
            base: String::new(),
            store,
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            data_dir,
            child: None,
            extra_env,
            keys: Keys::new(&Secrets {
                jwt_secret: JWT_SECRET.into(),
                api_key: API_KEY.into(),
                anon_key: ANON_KEY.into(),
            }),
            _tmp: tmp,
            db,
            s3,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("COFFER_LISTEN", "127.0.0.1:0")
            .env("COFFER_DATA_DIR", &self.data_dir)
            .env("JWT_SECRET", JWT_SECRET)
            .env("ACCESS_API_KEY", API_KEY)
            .env("ACCESS_ANON_KEY", ANON_KEY)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(db) = &self.db {
            cmd.env("DATABASE_URL", &db.url);
        }
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn coffer");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("coffer listening on ") {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("coffer did not start within 60 s");
        self.base = addr;
        self.child = Some(child);
    }

    /// Stops the server (SIGKILL: nothing may depend on a graceful stop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops and starts again on the same data directory and database.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn storage(&self, path: &str) -> String {
        format!("{}/api/storage{path}", self.base)
    }

    /// An access token for `sub` with `role`, valid for an hour.
    pub fn token(&self, sub: &str, role: &str) -> String {
        self.keys.mint(sub, role, 3600)
    }

    pub fn user(&self, sub: &str) -> String {
        self.token(sub, "authenticated")
    }

    /// Admin requests use the API key.
    pub fn admin(&self, rb: RequestBuilder) -> RequestBuilder {
        rb.bearer_auth(API_KEY)
    }

    pub async fn create_bucket(&self, name: &str, public: bool) {
        let r = self
            .admin(self.client.post(self.storage("/buckets")))
            .json(&json!({ "bucketName": name, "isPublic": public }))
            .send()
            .await
            .expect("create bucket");
        assert_eq!(r.status(), StatusCode::CREATED, "create bucket {name}");
    }

    /// PUT multipart upload of `bytes` to an exact key (the key is encoded as the JS SDK does).
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        bearer: Option<&str>,
    ) -> Response {
        let path = format!("/buckets/{bucket}/objects/{}", encode(key));
        let part = reqwest::multipart::Part::bytes(bytes).file_name("upload.bin");
        let form = reqwest::multipart::Form::new().part("file", part);
        let mut rb = self.client.put(self.storage(&path)).multipart(form);
        if let Some(b) = bearer {
            rb = rb.bearer_auth(b);
        }
        rb.send().await.expect("upload request")
    }

    pub async fn get(&self, bucket: &str, key: &str, bearer: Option<&str>) -> Response {
        let path = format!("/buckets/{bucket}/objects/{}", encode(key));
        let mut rb = self.client.get(self.storage(&path));
        if let Some(b) = bearer {
            rb = rb.bearer_auth(b);
        }
        rb.send().await.expect("download request")
    }

    pub async fn delete(&self, bucket: &str, key: &str, bearer: Option<&str>) -> Response {
        let path = format!("/buckets/{bucket}/objects/{}", encode(key));
        let mut rb = self.client.delete(self.storage(&path));
        if let Some(b) = bearer {
            rb = rb.bearer_auth(b);
        }
        rb.send().await.expect("delete request")
    }

    pub async fn list(&self, bucket: &str, query: &str, bearer: Option<&str>) -> Response {
        let mut rb = self
            .client
            .get(self.storage(&format!("/buckets/{bucket}/objects?{query}")));
        if let Some(b) = bearer {
            rb = rb.bearer_auth(b);
        }
        rb.send().await.expect("list request")
    }

    pub fn data_path(&self) -> &Path {
        &self.data_dir
    }

    /// The server process's id (to read its memory use from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    /// Regular files under `<data_dir>/objects/<sub>` (recursively; none if it is missing).
    /// On S3 the same question is asked of the bucket's prefix in the S3 server (which has
    /// no temp files: `.tmp` is always empty there).
    pub fn object_files(&self, sub: &str) -> Vec<PathBuf> {
        let root = match &self.s3 {
            Some(_) if sub == ".tmp" => return Vec::new(),
            Some(s3) => s3.bucket_dir().join("local").join(sub),
            None => self.data_dir.join("objects").join(sub),
        };
        let mut found = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.map_while(Result::ok) {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    found.push(path);
                }
            }
        }
        found
    }

    /// PUT multipart upload to a path under `/api/storage` given verbatim (already encoded).
    pub async fn put_path(&self, path: &str, bytes: Vec<u8>, bearer: Option<&str>) -> Response {
        let part = reqwest::multipart::Part::bytes(bytes).file_name("upload.bin");
        let form = reqwest::multipart::Form::new().part("file", part);
        let mut rb = self.client.put(self.storage(path)).multipart(form);
        if let Some(b) = bearer {
            rb = rb.bearer_auth(b);
        }
        rb.send().await.expect("upload request")
    }

    /// Sends `head` (request line and headers, without the blank line) and `body` over a
    /// plain TCP connection, byte for byte, for paths a URL library would normalise.
    pub async fn raw(&self, head: &str, body: &[u8]) -> RawResponse {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut request = format!(
            "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        tcp.write_all(&request).await.expect("write request");
        let mut response = Vec::new();
        tcp.read_to_end(&mut response).await.expect("read response");
        RawResponse::parse(&response)
    }
}

/// A response read off a raw socket (see [`TestServer::raw`]).
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    fn parse(bytes: &[u8]) -> RawResponse {
        let split = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete response head");
        let head = String::from_utf8_lossy(&bytes[..split]).to_string();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        RawResponse {
            status,
            headers,
            body: bytes[split + 4..].to_vec(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the error envelope, as [`assert_error`] does for reqwest responses.
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "status for {code}: {self:?}");
        let ct = self.header("content-type").unwrap_or("");
        assert!(ct.starts_with("application/json"), "content type {ct}");
        let body: Value = serde_json::from_slice(&self.body).expect("json error body");
        assert_eq!(body["error"], code, "{body}");
        assert_eq!(body["statusCode"], status, "{body}");
        assert!(body["message"].is_string(), "{body}");
        for k in body.as_object().expect("object").keys() {
            assert!(
                ["error", "message", "statusCode", "nextActions"].contains(&k.as_str()),
                "unexpected key {k} in {body}"
            );
        }
        body
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `encodeURIComponent`, as the JavaScript SDK encodes keys.
pub fn encode(s: &str) -> String {
    coffer::service::encode_component(s)
}

/// A unique bucket name, so tests run in parallel against one server if they want to.
pub fn bucket_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// Asserts the whole error envelope: status, code, and exactly the envelope's keys.
pub async fn assert_error(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status for {code}");
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    let body: Value = r.json().await.expect("json error body");
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(body["statusCode"], status, "{body}");
    assert!(body["message"].is_string(), "{body}");
    let obj = body.as_object().expect("object");
    for k in obj.keys() {
        assert!(
            ["error", "message", "statusCode", "nextActions"].contains(&k.as_str()),
            "unexpected key {k} in {body}"
        );
    }
    body
}

/// Declares one test per store for an `async fn(Store)` case.
#[macro_export]
macro_rules! both_stores {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case($crate::common::Store::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case($crate::common::Store::Postgres).await
                }
            )*
        }
    };
}

/// Declares one test per backend — {local disk, S3} × {SQLite, PostgreSQL} — for an
/// `async fn(Store)` case: the end-to-end suite runs on all four.
#[macro_export]
macro_rules! all_backends {
    ($($case:ident),* $(,)?) => {
        $crate::both_stores!($($case),*);
        mod sqlite_s3 {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case($crate::common::Store::SqliteS3).await
                }
            )*
        }
        mod postgres_s3 {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case($crate::common::Store::PostgresS3).await
                }
            )*
        }
    };
}

/// The boundary [`multipart_body`] uses.
pub const BOUNDARY: &str = "coffer-test-boundary-7MA4YWxkTrZu0gW";

/// A multipart/form-data body with the given parts (name, filename, bytes), byte for byte.
pub fn multipart_body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match filename {
            Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
            None => format!("form-data; name=\"{name}\""),
        };
        body.extend_from_slice(format!("Content-Disposition: {disposition}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// The `Content-Type` header line for [`multipart_body`].
pub fn multipart_type() -> String {
    format!("Content-Type: multipart/form-data; boundary={BOUNDARY}")
}
