//! The upload size limit: enforced while streaming, 413 envelope, nothing left behind; and a
//! 200 MiB transfer that proves uploads and downloads stream (server peak RSS stays small).

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::all_backends;
use crate::common::{ANON_KEY, API_KEY, Store, TestServer, assert_error, bucket_name};

const MIB: usize = 1024 * 1024;

async fn set_limit(s: &TestServer, mb: i64) {
    let r = s
        .admin(s.client.put(s.storage("/config")))
        .json(&json!({ "maxFileSizeMb": mb }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn assert_clean(s: &TestServer, b: &str, rows: u64, files: usize) {
    let page: Value = s.list(b, "", Some(API_KEY)).await.json().await.unwrap();
    assert_eq!(page["pagination"]["total"], rows);
    assert_eq!(s.object_files(b).len(), files, "files in the bucket");
    assert!(s.object_files(".tmp").is_empty(), "temp files left behind");
}

async fn size_limit(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("limit");
    s.create_bucket(&b, false).await;
    set_limit(&s, 1).await;

    let r = s.put(&b, "over.bin", vec![7; MIB + 1], Some(API_KEY)).await;
    let e = assert_error(r, 413, "STORAGE_INVALID_PARAMETER").await;
    assert_eq!(e["message"], "File too large. Maximum upload size is 1 MB.");
    assert_clean(&s, &b, 0, 0).await;
    assert_error(
        s.get(&b, "over.bin", Some(API_KEY)).await,
        404,
        "STORAGE_NOT_FOUND",
    )
    .await;

    // Server-chosen keys too.
    let part = Part::bytes(vec![7; MIB + 1]).file_name("big.bin");
    let r = s
        .client
        .post(s.storage(&format!("/buckets/{b}/objects")))
        .bearer_auth(API_KEY)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_error(r, 413, "STORAGE_INVALID_PARAMETER").await;
    assert_clean(&s, &b, 0, 0).await;

    // Exactly the limit is fine.
    let r = s.put(&b, "exact.bin", vec![1; MIB], Some(API_KEY)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["size"], MIB);
    assert_clean(&s, &b, 1, 1).await;

    // An oversized replace keeps the published object. (Bodies stay just over the limit: the
    // server answers early and closes, so a client still sending megabytes sees a broken pipe
    // instead of the 413; see the report on issue 2.)
    let r = s
        .put(&b, "exact.bin", vec![2; 10], Some(&s.user("x")))
        .await;
    assert_error(r, 403, "STORAGE_PERMISSION_DENIED").await;
    let r = s
        .put(&b, "exact.bin", vec![2; MIB + 1], Some(API_KEY))
        .await;
    assert_error(r, 413, "STORAGE_INVALID_PARAMETER").await;
    let r = s.get(&b, "exact.bin", Some(API_KEY)).await;
    assert_eq!(r.bytes().await.unwrap().to_vec(), vec![1; MIB]);
    assert_clean(&s, &b, 1, 1).await;

    // Raising the limit takes effect for the next upload.
    set_limit(&s, 2).await;
    let r = s.put(&b, "over.bin", vec![7; MIB + 1], Some(API_KEY)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_clean(&s, &b, 2, 2).await;
}

/// `MAX_FILE_SIZE` (bytes) sets the stored limit at start-up, rounded up to whole MiB.
async fn max_file_size_env(store: Store) {
    let s = TestServer::start_with(store, &[("MAX_FILE_SIZE", "1500000")]).await;
    let r = s
        .admin(s.client.get(s.storage("/config")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["maxFileSizeMb"], 2);
    let b = bucket_name("env");
    s.create_bucket(&b, true).await;
    let r = s.put(&b, "big", vec![0; 2 * MIB + 1], Some(API_KEY)).await;
    assert_error(r, 413, "STORAGE_INVALID_PARAMETER").await;
    assert_clean(&s, &b, 0, 0).await;
}

/// Refusals that come before the body is read to its end still reach the client as JSON:
/// the server drains what the client is still sending instead of resetting the connection.
async fn early_refusals_reach_the_client(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("early");
    s.create_bucket(&b, false).await;
    set_limit(&s, 1).await;
    for _ in 0..3 {
        let r = s.put(&b, "big.bin", vec![1; 24 * MIB], Some(API_KEY)).await;
        assert_error(r, 413, "STORAGE_INVALID_PARAMETER").await;
        let r = s
            .put(&b, "anon.bin", vec![1; 24 * MIB], Some(ANON_KEY))
            .await;
        assert_error(r, 403, "STORAGE_PERMISSION_DENIED").await;
        let r = s.put(&b, "nobody.bin", vec![1; 24 * MIB], None).await;
        assert_error(r, 401, "AUTH_INVALID_CREDENTIALS").await;
    }
    assert_clean(&s, &b, 0, 0).await;
}

all_backends!(
    size_limit,
    max_file_size_env,
    early_refusals_reach_the_client
);

/// Deterministic pseudo-random bytes, one 1 MiB chunk at a time (xorshift64).
fn chunks(total: usize) -> impl Iterator<Item = Vec<u8>> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..total.div_ceil(MIB)).map(move |i| {
        let len = MIB.min(total - i * MIB);
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.extend_from_slice(&state.to_le_bytes());
        }
        out.truncate(len);
        out
    })
}

/// Peak resident memory of a process, from `/proc/<pid>/status`, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// 200 MiB up and down, compared by SHA-256, without the server (or this test) holding it.
/// Bytes are the same on either metadata store, so this runs on SQLite only.
#[tokio::test]
async fn large_file_streams() {
    const SIZE: usize = 200 * MIB;
    let s = TestServer::start(Store::Sqlite).await;
    let b = bucket_name("large");
    s.create_bucket(&b, false).await;
    set_limit(&s, 256).await;

    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut hasher = Some((Sha256::new(), tx));
    let mut source = chunks(SIZE);
    let body = futures::stream::poll_fn(move |_| {
        std::task::Poll::Ready(match source.next() {
            Some(chunk) => {
                hasher.as_mut().unwrap().0.update(&chunk);
                Some(Ok::<_, std::io::Error>(chunk))
            }
            None => {
                if let Some((h, tx)) = hasher.take() {
                    let _ = tx.send(h.finalize());
                }
                None
            }
        })
    });
    let part = Part::stream_with_length(reqwest::Body::wrap_stream(body), SIZE as u64)
        .file_name("big.bin");
    let r = s
        .client
        .put(s.storage(&format!("/buckets/{b}/objects/big.bin")))
        .bearer_auth(API_KEY)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["size"], SIZE);
    let sent = rx.await.expect("the whole body was sent");

    let r = s.get(&b, "big.bin", Some(API_KEY)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"], SIZE.to_string().as_str());
    let mut received = Sha256::new();
    let mut len = 0usize;
    let mut stream = r.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        len += chunk.len();
        received.update(&chunk);
    }
    assert_eq!(len, SIZE);
    assert_eq!(hex::encode(received.finalize()), hex::encode(sent));

    let peak = peak_rss(s.pid());
    assert!(
        peak < 150 * MIB as u64,
        "server peak RSS {} MiB: not streaming",
        peak / MIB as u64
    );
}

/// A client that stops sending mid-upload is answered 408 after the idle timeout, and its
/// upload slot and temp file are released (no slot-holding by stalling).
#[tokio::test]
async fn stalled_uploads_time_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(
        Store::Sqlite,
        &[
            ("COFFER_UPLOAD_IDLE_TIMEOUT", "1"),
            ("COFFER_MAX_CONCURRENT_UPLOADS", "1"),
        ],
    )
    .await;
    let b = bucket_name("stall");
    s.create_bucket(&b, false).await;
    let body = crate::common::multipart_body(&[("file", Some("x.bin"), &[5u8; 4096])]);
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT /api/storage/buckets/{b}/objects/stalled.bin HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {API_KEY}\r\n\
         Content-Type: multipart/form-data; boundary={}\r\nContent-Length: {}\r\n\r\n",
        crate::common::BOUNDARY,
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&body[..body.len() / 2]).await.unwrap();
    // ...and then nothing more. The server must answer on its own.
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(15), tcp.read(&mut answer))
        .await
        .expect("the server never answered a stalled upload")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("REQUEST_TIMEOUT"), "{text}");
    // The slot is free again and nothing was left behind.
    let r = s
        .put(&b, "after.bin", b"fine".to_vec(), Some(API_KEY))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_clean(&s, &b, 1, 1).await;
}
