//! A real S3-compatible endpoint for the tests: `s3s-fs` (which checks SigV4 signatures and
//! POST policies) on its own runtime and thread, on a free 127.0.0.1 port.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub const ACCESS_KEY: &str = "COFFERTESTACCESSKEY1";
pub const SECRET_KEY: &str = "coffer-test-secret-key-0123456789abcdefgh";
pub const REGION: &str = "us-east-1";

pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    root: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Serves `root` (its subdirectories are the physical buckets) with one credential pair on a
/// free 127.0.0.1 port, on a thread of its own; returns the endpoint URL and a sender that
/// stops the server. Shared with `examples/s3_test_server.rs`.
pub fn serve(
    root: &Path,
    access_key: &str,
    secret_key: &str,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs");
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
    let s3 = builder.build();
    // s3s 0.14.1 fails a POST Object with "failed to read file stream" when a body chunk ends
    // inside the multipart boundary pattern and the next chunk is over 64 KiB (its
    // MAX_BOUNDARY_BUFFER_SIZE), which random bytes hit often; real S3 has no such limit.
    // POST bodies are therefore handed to it in pieces of 16 KiB.
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let s3 = s3.clone();
        async move {
            let (parts, body) = req.into_parts();
            let mut body = s3s::Body::from(body);
            if parts.method == hyper::Method::POST {
                let whole = body
                    .store_all_limited(usize::MAX)
                    .await
                    .map_err(s3s::HttpError::new)?;
                body = s3s::Body::from(Box::pin(Pieces::new(whole)) as s3s::stream::DynByteStream);
            }
            s3.call(hyper::Request::from_parts(parts, body)).await
        }
    });
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let endpoint = format!("http://{}", std_listener.local_addr().expect("addr"));
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let (socket, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(conn) => conn,
                        Err(_) => continue,
                    },
                    _ = &mut stop_rx => break,
                };
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
    });
    (endpoint, stop_tx)
}

/// A request body as a stream of pieces of at most 16 KiB (see `serve`).
struct Pieces {
    left: std::collections::VecDeque<Bytes>,
    len: usize,
}

impl Pieces {
    fn new(mut whole: Bytes) -> Pieces {
        let len = whole.len();
        let mut left = std::collections::VecDeque::new();
        while !whole.is_empty() {
            left.push_back(whole.split_to(whole.len().min(16 * 1024)));
        }
        Pieces { left, len }
    }
}

impl futures::Stream for Pieces {
    type Item = Result<Bytes, Box<dyn std::error::Error + Send + Sync>>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let piece = self.left.pop_front();
        self.len -= piece.as_ref().map_or(0, Bytes::len);
        Poll::Ready(piece.map(Ok))
    }
}

impl s3s::stream::ByteStream for Pieces {
    fn remaining_length(&self) -> s3s::stream::RemainingLength {
        s3s::stream::RemainingLength::new_exact(self.len)
    }
}

impl S3Server {
    /// Starts the server with one empty physical bucket.
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().expect("temp dir");
        let bucket = format!("phys{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        std::fs::create_dir_all(root.path().join(&bucket)).expect("bucket dir");
        let (endpoint, stop_tx) = serve(root.path(), ACCESS_KEY, SECRET_KEY);
        S3Server {
            endpoint,
            bucket,
            root,
            stop: Some(stop_tx),
        }
    }

    /// Environment for a Coffer server using this endpoint.
    pub fn env(&self, presigned: bool) -> Vec<(String, String)> {
        [
            ("S3_BUCKET", self.bucket.as_str()),
            ("S3_ENDPOINT_URL", self.endpoint.as_str()),
            ("S3_REGION", REGION),
            ("S3_ACCESS_KEY_ID", ACCESS_KEY),
            ("S3_SECRET_ACCESS_KEY", SECRET_KEY),
            ("S3_FORCE_PATH_STYLE", "true"),
            (
                "S3_USE_PRESIGNED_URLS",
                if presigned { "true" } else { "false" },
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The directory holding the physical bucket's files.
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.path().join(&self.bucket)
    }

    /// Every regular file under `dir`, recursively (s3s-fs keeps objects as files).
    pub fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                {
                    out.push(path);
                }
            }
        }
        out
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
