//! Start-up against PostgreSQL: concurrent first starts on one fresh database, and clear,
//! quick failures for a database that cannot be used.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{ANON_KEY, API_KEY, JWT_SECRET, PgDb};

fn coffer(data_dir: &std::path::Path, database_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("COFFER_LISTEN", "127.0.0.1:0")
        .env("COFFER_DATA_DIR", data_dir)
        .env("DATABASE_URL", database_url)
        .env("COFFER_DB_ACQUIRE_TIMEOUT", "2")
        .env("JWT_SECRET", JWT_SECRET)
        .env("ACCESS_API_KEY", API_KEY)
        .env("ACCESS_ANON_KEY", ANON_KEY)
        // A panic would print its backtrace: the assertions below would see it.
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LOG", "warn");
    cmd
}

/// Kills the process when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns the server and returns a channel that yields its base URL once it listens.
fn spawn(data_dir: &std::path::Path, url: &str) -> (Running, mpsc::Receiver<String>) {
    let mut child = coffer(data_dir, url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn coffer");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("coffer listening on ") {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    (Running(child), rx)
}

async fn scalar(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Two servers started at the same instant on one fresh database both come up (the
/// migrations run once, under a lock), share one schema and one config row, and see each
/// other's writes. Three rounds, each on a new database, to give the race its chances.
#[tokio::test]
async fn two_servers_start_together_on_one_fresh_database() {
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count() as i64;
    for round in 0..3 {
        let db = PgDb::create();
        let tmp = tempfile::tempdir().unwrap();
        let (a, ra) = spawn(&tmp.path().join("a"), &db.url);
        let (b, rb) = spawn(&tmp.path().join("b"), &db.url);
        let base_a = ra
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("round {round}: server A did not come up"));
        let base_b = rb
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("round {round}: server B did not come up"));

        assert_eq!(
            scalar(
                &db.url,
                "SELECT COUNT(*) FROM _sqlx_migrations WHERE success"
            )
            .await,
            migrations,
            "each migration applied exactly once"
        );
        assert_eq!(
            scalar(&db.url, "SELECT COUNT(*) FROM storage.config").await,
            1,
            "one config row"
        );

        // A write through one server is visible through the other.
        let client = reqwest::Client::new();
        let bucket = crate::common::bucket_name("boot");
        let r = client
            .post(format!("{base_a}/api/storage/buckets"))
            .bearer_auth(API_KEY)
            .json(&serde_json::json!({ "bucketName": bucket, "isPublic": false }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = client
            .get(format!("{base_b}/api/storage/buckets"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let listed: Value = r.json().await.unwrap();
        assert!(listed.to_string().contains(&bucket), "{listed}");
        drop((a, b));
    }
}

/// What `coffer serve` did with a database it cannot use.
struct Failure {
    code: Option<i32>,
    stderr: String,
    took: Duration,
}

fn fail_to_start(url: &str) -> Failure {
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Running(
        coffer(tmp.path(), url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn coffer"),
    );
    let deadline = started + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "coffer serve kept running with DATABASE_URL={url}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = started.elapsed();
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Failure {
        code: status.code(),
        stderr,
        took,
    }
}

/// Asserts a quick, non-zero exit with one clear line on stderr and no panic.
fn assert_clear_failure(url: &str, expect: &[&str]) -> String {
    let f = fail_to_start(url);
    assert!(
        matches!(f.code, Some(c) if c != 0),
        "exit code {:?} for {url}; stderr: {}",
        f.code,
        f.stderr
    );
    assert!(
        f.took < Duration::from_secs(10),
        "took {:?} to fail for {url}",
        f.took
    );
    let lines: Vec<&str> = f.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "one line on stderr for {url}: {:?}",
        f.stderr
    );
    let line = lines[0];
    assert!(line.starts_with("coffer: "), "{line}");
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "stack"] {
        assert!(!line.contains(bad), "{bad} in {line}");
    }
    for want in expect {
        assert!(
            line.to_lowercase().contains(&want.to_lowercase()),
            "{want:?} missing from {line:?}"
        );
    }
    line.to_string()
}

#[test]
fn unreachable_database_fails_fast_and_clearly() {
    // Port 1 on loopback: nothing listens there.
    let line = assert_clear_failure(
        "postgres://coffer:hunter2-secret@127.0.0.1:1/coffer",
        &["PostgreSQL", "refused"],
    );
    assert!(!line.contains("hunter2-secret"), "password leaked: {line}");
}

#[test]
fn wrong_scheme_is_refused_with_a_clear_message() {
    let line = assert_clear_failure(
        "mysql://root:hunter2-secret@127.0.0.1:3306/coffer",
        &["DATABASE_URL", "postgres://"],
    );
    assert!(!line.contains("hunter2-secret"), "password leaked: {line}");
    assert_clear_failure("not a url", &["DATABASE_URL"]);
}

#[test]
fn missing_database_names_the_problem() {
    let admin = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (base, _) = admin.rsplit_once('/').unwrap();
    let name = format!("coffer_missing_{}", uuid::Uuid::new_v4().simple());
    assert_clear_failure(&format!("{base}/{name}"), &["PostgreSQL", &name]);
}

/// Servers sharing a PostgreSQL database cache lookups; each must drop what another server's
/// writes changed (overwrite, delete, visibility), within moments, never serving stale bytes
/// or a stale visibility for long.
#[tokio::test]
async fn caches_follow_writes_made_by_other_servers() {
    let db = PgDb::create();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shared");
    let (a, ra) = spawn(&dir, &db.url);
    let base_a = ra.recv_timeout(Duration::from_secs(60)).expect("server a");
    let (b, rb) = spawn(&dir, &db.url);
    let base_b = rb.recv_timeout(Duration::from_secs(60)).expect("server b");
    let client = reqwest::Client::new();
    let bucket = crate::common::bucket_name("shared");
    let api = |base: &str, path: &str| format!("{base}/api/storage/buckets{path}");
    let r = client
        .post(api(&base_a, ""))
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({ "bucketName": bucket, "isPublic": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let put = |body: &'static [u8]| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(body).file_name("k.txt"),
        );
        client
            .put(api(&base_a, &format!("/{bucket}/objects/k.txt")))
            .bearer_auth(API_KEY)
            .multipart(form)
            .send()
    };
    let read_b = || {
        client
            .get(api(&base_b, &format!("/{bucket}/objects/k.txt")))
            .send()
    };
    // Waits until server B answers `want` (status, body) for an anonymous GET.
    async fn settle<F, Fut>(read: F, status: u16, body: Option<&[u8]>)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
    {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let r = read().await.unwrap();
            let got = r.status().as_u16();
            let bytes = r.bytes().await.unwrap();
            if got == status && body.is_none_or(|b| b == bytes.as_ref()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server b still answers {got} {bytes:?}, want {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    assert_eq!(put(b"one").await.unwrap().status(), StatusCode::OK);
    settle(read_b, 200, Some(b"one")).await; // now cached on b
    assert_eq!(put(b"two").await.unwrap().status(), StatusCode::OK);
    settle(read_b, 200, Some(b"two")).await;

    let r = client
        .patch(api(&base_a, &format!("/{bucket}")))
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({ "isPublic": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    settle(read_b, 401, None).await;

    let r = client
        .delete(api(&base_a, &format!("/{bucket}/objects/k.txt")))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let read_b_admin = || {
        client
            .get(api(&base_b, &format!("/{bucket}/objects/k.txt")))
            .bearer_auth(API_KEY)
            .send()
    };
    settle(read_b_admin, 404, None).await;
    drop((a, b));
}
