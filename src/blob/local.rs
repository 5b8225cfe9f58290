//! Blobs on local disk: `<root>/<bucket>/<version>`.
//!
//! The physical name is ours (the version id), so any object key works: `a` and `a/b` can
//! coexist, unicode and 1024-byte keys need no escaping, and no user input reaches a path
//! except the bucket name, which is validated to `[A-Za-z0-9_-]+` before it gets here.
//! Written by hand rather than with `object_store::local` because the write protocol needs an
//! fsync of the file and its directory before the rename is reported done.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use md5::{Digest, Md5};
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use tokio::sync::mpsc;

use super::{BlobRef, BlobStore, ByteStream, Error, Head, Result, Written};

/// Unlinks run this many at a time in [`BlobStore::delete_many`].
const DELETE_CONCURRENCY: usize = 32;
/// Uploads reach the disk (and the hasher) in blocks of this size.
const WRITE_BLOCK: usize = 1024 * 1024;
/// Blocks queued per upload for the writer and the hasher.
const IN_FLIGHT: usize = 4;
/// Reads at most this much per chunk when streaming a download.
const READ_CHUNK: usize = 256 * 1024;

pub struct LocalBlobs {
    root: PathBuf,
    /// Contents of small blobs by version. A version's bytes never change once written, so
    /// this needs no invalidation beyond freeing the memory when a version is deleted.
    hot: Cache<String, Bytes, ByLength>,
}

/// Weighs cached blobs by their size.
#[derive(Clone)]
struct ByLength;

impl Weighter<String, Bytes> for ByLength {
    fn weight(&self, key: &String, value: &Bytes) -> u64 {
        (key.len() + value.len()) as u64
    }
}

/// Blobs up to this size are kept in memory after their first read.
const HOT_MAX: u64 = 64 * 1024;
/// Memory for kept blobs.
const HOT_BUDGET: u64 = 64 * 1024 * 1024;

impl LocalBlobs {
    /// Uses `root` for blobs, creating it and clearing temp files a crash may have left.
    pub fn open(root: &Path) -> io::Result<LocalBlobs> {
        let tmp = root.join(".tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(LocalBlobs {
            root: root.to_path_buf(),
            hot: Cache::with_weighter(4096, HOT_BUDGET, ByLength),
        })
    }

    fn path(&self, at: BlobRef<'_>) -> io::Result<PathBuf> {
        let safe = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !safe(at.bucket) || !safe(at.version) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unsafe blob name",
            ));
        }
        Ok(self.root.join(at.bucket).join(at.version))
    }
}

enum Chunk {
    Data(Bytes),
    Done,
}

#[async_trait]
impl BlobStore for LocalBlobs {
    async fn put(&self, at: BlobRef<'_>, mut body: ByteStream) -> Result<Written> {
        let target = self.path(at)?;
        let temp = self
            .root
            .join(".tmp")
            .join(uuid::Uuid::new_v4().simple().to_string());
        // Writing and hashing each get a blocking thread and run side by side; this task only
        // gathers the body into 1 MiB blocks. If this future is dropped (the client hung up),
        // the channel closes and the writer removes its temp file.
        let (tx, rx) = mpsc::channel::<Chunk>(IN_FLIGHT);
        let writer = tokio::task::spawn_blocking(move || write_blob(&temp, &target, rx));
        // Small bodies are hashed right here; the hashing thread starts with the first full
        // block, so a 4 KiB upload costs one thread hand-off, not two.
        let mut hasher: Option<(mpsc::Sender<Bytes>, tokio::task::JoinHandle<String>)> = None;
        let mut inline = Md5::new();
        let mut block = BytesMut::with_capacity(WRITE_BLOCK);
        let mut failure = None;
        let mut open = true;
        loop {
            let next = body.next().await;
            if let Some(Ok(bytes)) = &next {
                block.extend_from_slice(bytes);
                if block.len() < WRITE_BLOCK {
                    continue;
                }
            }
            if !block.is_empty() {
                let full = block.split().freeze();
                block.reserve(WRITE_BLOCK);
                open = tx.send(Chunk::Data(full.clone())).await.is_ok();
                match (&hasher, &next) {
                    (None, None) => inline.update(&full),
                    (None, _) => {
                        let (hash_tx, hash_rx) = mpsc::channel::<Bytes>(IN_FLIGHT);
                        let task = tokio::task::spawn_blocking(move || md5_of(hash_rx));
                        open &= hash_tx.send(full).await.is_ok();
                        hasher = Some((hash_tx, task));
                    }
                    (Some((hash_tx, _)), _) => open &= hash_tx.send(full).await.is_ok(),
                }
            }
            match next {
                Some(Ok(_)) if open => {}
                Some(Err(e)) => {
                    failure = Some(e);
                    break;
                }
                _ => break,
            }
        }
        if failure.is_none() && open {
            let _ = tx.send(Chunk::Done).await;
        }
        drop(tx);
        let size = writer.await.map_err(io::Error::other)?;
        let md5_hex = match hasher {
            Some((hash_tx, task)) => {
                drop(hash_tx);
                task.await.map_err(io::Error::other)?
            }
            None => hex::encode(inline.finalize()),
        };
        match failure {
            Some(e) => Err(Error::Body(e)),
            None => Ok(Written {
                size: size?,
                md5_hex,
            }),
        }
    }

    async fn get(&self, at: BlobRef<'_>, range: Option<Range<u64>>) -> Result<ByteStream> {
        if let Some(whole) = self.hot.get(at.version) {
            return Ok(single(part_of(whole, range)));
        }
        let path = self.path(at)?;
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
        let (opened_tx, opened_rx) = tokio::sync::oneshot::channel();
        let wanted = range.clone();
        // One blocking thread opens the file and reports back: with the content when it is
        // small (one hand-off per request), or to say it will stream the rest.
        tokio::task::spawn_blocking(move || {
            let opened = match open_small(&path) {
                Ok(Some(whole)) => Ok(Opened::Whole(whole)),
                Ok(None) => open_range(&path, wanted),
                Err(e) => Err(e),
            };
            match opened {
                Ok(Opened::Stream(file, len)) if len > READ_CHUNK as u64 => {
                    let _ = opened_tx.send(Ok(None));
                    stream_file(file, len, tx);
                }
                Ok(Opened::Stream(mut file, len)) => {
                    let mut buf = BytesMut::zeroed(len as usize);
                    let read = file.read_exact(&mut buf);
                    let _ = opened_tx.send(read.map(|()| Some((buf.freeze(), false))));
                }
                Ok(Opened::Whole(whole)) => {
                    let _ = opened_tx.send(Ok(Some((whole, true))));
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                }
            }
        });
        match opened_rx.await.map_err(io::Error::other)? {
            Ok(Some((whole, true))) => {
                self.hot.insert(at.version.to_string(), whole.clone());
                Ok(single(part_of(whole, range)))
            }
            Ok(Some((part, false))) => Ok(single(part)),
            Ok(None) => Ok(receiver_stream(rx)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, at: BlobRef<'_>) -> Result<()> {
        let path = self.path(at)?;
        self.hot.remove(at.version);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn stale_versions(
        &self,
        bucket: &str,
        older_than: std::time::SystemTime,
    ) -> Result<Vec<String>> {
        let dir = self
            .path(BlobRef {
                bucket,
                key: "",
                version: "x",
            })?
            .parent()
            .expect("blob paths have a bucket directory")
            .to_path_buf();
        let listed = tokio::task::spawn_blocking(move || -> io::Result<Vec<String>> {
            let mut stale = Vec::new();
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(stale),
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let meta = entry.metadata()?;
                if meta.is_file() && meta.modified()? < older_than {
                    stale.push(entry.file_name().to_string_lossy().into_owned());
                }
            }
            Ok(stale)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(listed)
    }

    async fn head(&self, at: BlobRef<'_>) -> Result<Option<Head>> {
        match tokio::fs::metadata(self.path(at)?).await {
            Ok(meta) => Ok(Some(Head {
                size: meta.len(),
                etag: None,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_many(&self, bucket: &str, blobs: &[(String, String)]) -> usize {
        let mut failed = 0;
        let mut paths = Vec::with_capacity(blobs.len());
        for (key, version) in blobs {
            match self.path(BlobRef {
                bucket,
                key,
                version,
            }) {
                Ok(path) => paths.push(path),
                Err(_) => failed += 1,
            }
        }
        for chunk in paths.chunks(DELETE_CONCURRENCY) {
            let outcomes = futures::future::join_all(chunk.iter().cloned().map(unlink)).await;
            failed += outcomes.iter().filter(|ok| !**ok).count();
        }
        failed
    }
}

/// Removes a file; true when it is gone (or was never there).
async fn unlink(path: PathBuf) -> bool {
    match tokio::fs::remove_file(&path).await {
        Ok(()) => true,
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

fn receiver_stream(mut rx: mpsc::Receiver<io::Result<Bytes>>) -> ByteStream {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// What the reading thread found.
enum Opened {
    /// A small blob, read whole.
    Whole(Bytes),
    /// A file positioned at the start of the wanted range, and the range's length.
    Stream(std::fs::File, u64),
}

/// Reads a blob whole when it is small enough to keep; `None` when it is larger.
fn open_small(path: &Path) -> io::Result<Option<Bytes>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > HOT_MAX {
        return Ok(None);
    }
    let mut buf = BytesMut::zeroed(len as usize);
    file.read_exact(&mut buf)?;
    Ok(Some(buf.freeze()))
}

fn open_range(path: &Path, range: Option<Range<u64>>) -> io::Result<Opened> {
    let mut file = std::fs::File::open(path)?;
    let (start, end) = match range {
        Some(r) => (r.start, r.end),
        None => (0, file.metadata()?.len()),
    };
    if start > 0 {
        file.seek(SeekFrom::Start(start))?;
    }
    Ok(Opened::Stream(file, end.saturating_sub(start)))
}

/// The requested part of a blob held whole (ranges were validated against its size).
fn part_of(whole: Bytes, range: Option<Range<u64>>) -> Bytes {
    match range {
        Some(r) => whole.slice(r.start as usize..(r.end as usize).min(whole.len())),
        None => whole,
    }
}

fn single(bytes: Bytes) -> ByteStream {
    futures::stream::once(async move { Ok(bytes) }).boxed()
}

fn stream_file(mut file: std::fs::File, mut remaining: u64, tx: mpsc::Sender<io::Result<Bytes>>) {
    while remaining > 0 {
        let want = remaining.min(READ_CHUNK as u64) as usize;
        let mut buf = BytesMut::zeroed(want);
        let item = file.read_exact(&mut buf).map(|()| buf.freeze());
        let failed = item.is_err();
        if tx.blocking_send(item).is_err() || failed {
            return;
        }
        remaining -= want as u64;
    }
}

/// The write protocol's disk half: temp file, fsync, rename, fsync the directory.
fn write_blob(temp: &Path, target: &Path, mut rx: mpsc::Receiver<Chunk>) -> io::Result<u64> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)?;
    let mut size = 0u64;
    let outcome = loop {
        match rx.blocking_recv() {
            Some(Chunk::Data(bytes)) => {
                size += bytes.len() as u64;
                if let Err(e) = file.write_all(&bytes) {
                    break Err(e);
                }
            }
            Some(Chunk::Done) => break finish(&file, temp, target),
            None => break Err(io::Error::other("upload aborted")),
        }
    };
    if outcome.is_err() {
        let _ = std::fs::remove_file(temp);
    }
    outcome.map(|()| size)
}

/// Hex MD5 (the ETag) of everything sent, computed beside the writer.
fn md5_of(mut rx: mpsc::Receiver<Bytes>) -> String {
    let mut md5 = Md5::new();
    while let Some(bytes) = rx.blocking_recv() {
        md5.update(&bytes);
    }
    hex::encode(md5.finalize())
}

fn finish(file: &std::fs::File, temp: &Path, target: &Path) -> io::Result<()> {
    file.sync_all()?;
    let dir = target.parent().expect("blob paths have a bucket directory");
    std::fs::create_dir_all(dir)?;
    std::fs::rename(temp, target)?;
    std::fs::File::open(dir)?.sync_all()
}
