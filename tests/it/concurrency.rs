//! Consistency under concurrency: real parallel HTTP clients against one server, on
//! PostgreSQL (row locks) and SQLite (one write lock). After each race the metadata, the
//! bytes a GET returns and the files on disk must tell the same story.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_stores;
use crate::common::{API_KEY, Store, TestServer, bucket_name};

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Distinct contents of distinct lengths: `tag` repeated to `len` bytes.
fn content(tag: &str, len: usize) -> Vec<u8> {
    tag.bytes()
        .chain(b"|".iter().copied())
        .cycle()
        .take(len)
        .collect()
}

/// Files the server keeps for `bucket` (`<data_dir>/objects/<bucket>/`; none when missing).
fn bucket_files(s: &TestServer, bucket: &str) -> Vec<PathBuf> {
    let dir = s.data_dir.join("objects").join(bucket);
    match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.expect("dir entry").path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => panic!("read {}: {e}", dir.display()),
    }
}

/// The contents of every file kept for `bucket`, as a multiset (sorted).
fn bucket_file_contents(s: &TestServer, bucket: &str) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = bucket_files(s, bucket)
        .iter()
        .map(|p| std::fs::read(p).expect("read blob file"))
        .collect();
    all.sort();
    all
}

/// A whole, self-consistent download: the body's MD5 and length match the ETag and
/// Content-Length the same response carries. `None` when the object is not there (404).
async fn download(s: &TestServer, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let r = s.get(bucket, key, Some(API_KEY)).await;
    if r.status() == StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(r.status(), StatusCode::OK, "GET {bucket}/{key}");
    let etag = header(&r, "etag");
    let length: usize = header(&r, "content-length").parse().unwrap();
    let bytes = r.bytes().await.expect("body").to_vec();
    assert_eq!(bytes.len(), length, "Content-Length of {key}");
    assert_eq!(etag, format!("\"{}\"", md5_hex(&bytes)), "ETag of {key}");
    Some(bytes)
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

/// Every object listed under `prefix`, as key → size.
async fn listed(s: &TestServer, bucket: &str, prefix: &str) -> Option<BTreeMap<String, u64>> {
    let r = s
        .list(
            bucket,
            &format!("limit=1000&prefix={}", crate::common::encode(prefix)),
            Some(API_KEY),
        )
        .await;
    if r.status() == StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(r.status(), StatusCode::OK, "list {bucket}");
    let page: Value = r.json().await.unwrap();
    let data = page["data"].as_array().unwrap();
    assert_eq!(page["pagination"]["total"], data.len(), "{page}");
    Some(
        data.iter()
            .map(|o| {
                (
                    o["key"].as_str().unwrap().to_string(),
                    o["size"].as_u64().unwrap(),
                )
            })
            .collect(),
    )
}

async fn batch_delete(s: &TestServer, bucket: &str, keys: &[String]) -> BTreeMap<String, String> {
    let r = s
        .admin(
            s.client
                .delete(s.storage(&format!("/buckets/{bucket}/objects"))),
        )
        .json(&json!({ "keys": keys }))
        .send()
        .await
        .expect("batch delete");
    assert_eq!(r.status(), StatusCode::OK, "batch delete");
    let body: Value = r.json().await.unwrap();
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// (a) 20 clients overwrite one key at once, while readers keep downloading it. Every read
/// is one whole version; afterwards GET, list and the disk agree on one of the 20 contents,
/// and the superseded 19 versions' files are gone.
async fn concurrent_overwrites_agree_with_bytes(store: Store) {
    let s = Arc::new(TestServer::start(store).await);
    let b = bucket_name("ow");
    s.create_bucket(&b, false).await;
    let mut finals = Vec::new();
    for round in 0..3 {
        let key = format!("hot/{round}.bin");
        let initial = content(&format!("r{round}-initial"), 5_000);
        assert_eq!(
            s.put(&b, &key, initial.clone(), Some(API_KEY))
                .await
                .status(),
            StatusCode::OK
        );
        let bodies: Vec<Vec<u8>> = (0..20)
            .map(|i| content(&format!("r{round}-w{i}"), 10_000 + i * 997))
            .collect();
        let writers: Vec<_> = bodies
            .iter()
            .cloned()
            .map(|bytes| {
                let (s, b, key) = (s.clone(), b.clone(), key.clone());
                tokio::spawn(async move { s.put(&b, &key, bytes, Some(API_KEY)).await.status() })
            })
            .collect();
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (s, b, key) = (s.clone(), b.clone(), key.clone());
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    for _ in 0..10 {
                        seen.push(download(&s, &b, &key).await);
                    }
                    seen
                })
            })
            .collect();
        for w in writers {
            assert_eq!(w.await.unwrap(), StatusCode::OK, "overwrite");
        }
        for r in readers {
            for read in r.await.unwrap() {
                let read = read.expect("the key always exists: a read must never 404");
                assert!(
                    read == initial || bodies.contains(&read),
                    "a read returned bytes no writer sent ({} bytes)",
                    read.len()
                );
            }
        }

        let bytes = download(&s, &b, &key).await.expect("object exists");
        assert!(bodies.contains(&bytes), "final bytes are one writer's");
        let list = listed(&s, &b, &key).await.expect("bucket exists");
        assert_eq!(
            list,
            BTreeMap::from([(key.clone(), bytes.len() as u64)]),
            "list size matches the bytes"
        );
        finals.push(bytes);
        // One file per key: the superseded versions' bytes were deleted, none leaked.
        let mut want = finals.clone();
        want.sort();
        assert_eq!(
            bucket_file_contents(&s, &b),
            want,
            "files after round {round}"
        );
    }
}

/// (b) The same bucket is deleted and re-created while uploads stream into it. Afterwards
/// either the bucket exists and every listed object is one a client was told was stored,
/// downloadable whole, with exactly its files on disk; or the bucket is gone and so are all
/// its files. Never objects (or bytes) in a deleted bucket.
async fn bucket_create_delete_races_uploads(store: Store) {
    let s = Arc::new(TestServer::start(store).await);
    for round in 0..6 {
        let b = bucket_name("cd");
        s.create_bucket(&b, false).await;
        let togglers: Vec<_> = (0..2)
            .map(|t| {
                let (s, b) = (s.clone(), b.clone());
                tokio::spawn(async move {
                    for i in 0..6 {
                        tokio::time::sleep(Duration::from_millis((t * 5 + i * 3) % 11)).await;
                        let r = s
                            .admin(s.client.delete(s.storage(&format!("/buckets/{b}"))))
                            .send()
                            .await
                            .unwrap();
                        assert!(
                            [StatusCode::OK, StatusCode::NOT_FOUND].contains(&r.status()),
                            "delete bucket: {}",
                            r.status()
                        );
                        // The last word is a delete in even rounds, a create in odd ones.
                        if i == 5 && round % 2 == 0 {
                            break;
                        }
                        let r = s
                            .admin(s.client.post(s.storage("/buckets")))
                            .json(&json!({ "bucketName": b, "isPublic": false }))
                            .send()
                            .await
                            .unwrap();
                        assert!(
                            [StatusCode::CREATED, StatusCode::CONFLICT].contains(&r.status()),
                            "create bucket: {}",
                            r.status()
                        );
                    }
                })
            })
            .collect();
        let uploaders: Vec<_> = (0..4)
            .map(|u| {
                let (s, b) = (s.clone(), b.clone());
                tokio::spawn(async move {
                    let mut stored = BTreeMap::new();
                    for i in 0..8 {
                        let key = format!("u{u}/{i}");
                        let bytes = content(&format!("{b}-{key}"), 2_000 + u * 300 + i * 41);
                        let status = s.put(&b, &key, bytes.clone(), Some(API_KEY)).await.status();
                        match status {
                            StatusCode::OK => {
                                stored.insert(key, bytes);
                            }
                            StatusCode::NOT_FOUND => {}
                            other => panic!("upload into a racing bucket: {other}"),
                        }
                    }
                    stored
                })
            })
            .collect();
        for t in togglers {
            t.await.unwrap();
        }
        let mut stored = BTreeMap::new();
        for u in uploaders {
            stored.extend(u.await.unwrap());
        }

        let last = listed(&s, &b, "").await;
        assert_eq!(
            last.is_some(),
            round % 2 == 1,
            "round {round}: the bucket's state follows the last create/delete"
        );
        match last {
            Some(list) => {
                let mut want_files = Vec::new();
                for (key, size) in &list {
                    let sent = stored
                        .get(key)
                        .unwrap_or_else(|| panic!("{key} is listed but its upload failed"));
                    assert_eq!(*size, sent.len() as u64, "listed size of {key}");
                    let got = download(&s, &b, key)
                        .await
                        .expect("listed object downloads");
                    assert_eq!(&got, sent, "bytes of {key}");
                    want_files.push(got);
                }
                want_files.sort();
                assert_eq!(
                    bucket_file_contents(&s, &b),
                    want_files,
                    "round {round}: files on disk are exactly the listed objects'"
                );
                // Quiescent delete: everything goes.
                let r = s
                    .admin(s.client.delete(s.storage(&format!("/buckets/{b}"))))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                assert_eq!(bucket_files(&s, &b), Vec::<PathBuf>::new());
            }
            None => {
                assert_eq!(
                    bucket_files(&s, &b),
                    Vec::<PathBuf>::new(),
                    "round {round}: a deleted bucket keeps no files"
                );
                let r = s.get(&b, "u0/0", Some(API_KEY)).await;
                assert_eq!(r.status(), StatusCode::NOT_FOUND);
            }
        }
    }
}

/// What one upload in race (c) sent, and when its response came back.
struct Upload {
    bytes: Vec<u8>,
    done: Instant,
}

/// What one batch delete in race (c) reported, and when it was sent.
struct Delete {
    results: BTreeMap<String, String>,
    sent: Instant,
}

/// (c) Batch deletes race uploads of the same keys. Each key starts with known content C0;
/// then two deletes of every key race two uploads per key of fresh, distinct content.
/// Linearizability gives, per key:
/// - the final content is never C0 (every upload replaced it, or a delete removed it);
/// - at least one delete reported `deleted` (the key existed until the first delete);
/// - if the final content is an upload's, no delete was *sent after that upload answered*
///   (such a delete must have removed it, or it would report `deleted` for a key that then
///   still held the same content);
/// - the files on disk are exactly the surviving objects'.
async fn batch_delete_races_uploads(store: Store) {
    let s = Arc::new(TestServer::start(store).await);
    let b = bucket_name("bd");
    s.create_bucket(&b, false).await;
    for round in 0..6u64 {
        let keys: Vec<String> = (0..8).map(|k| format!("r{round}/k{k}")).collect();
        let mut initial = BTreeMap::new();
        for key in &keys {
            let bytes = content(&format!("{key}-c0"), 3_000);
            assert_eq!(
                s.put(&b, key, bytes.clone(), Some(API_KEY)).await.status(),
                StatusCode::OK
            );
            initial.insert(key.clone(), bytes);
        }
        let uploads: Vec<_> = keys
            .iter()
            .enumerate()
            .flat_map(|(k, key)| (1..=2u64).map(move |n| (k as u64, key.clone(), n)))
            .map(|(k, key, n)| {
                let (s, b) = (s.clone(), b.clone());
                tokio::spawn(async move {
                    let delay = (k * 7 + n * 13 + round * 5) % 24;
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    let bytes = content(&format!("{key}-c{n}"), 3_000 + n as usize * 100);
                    let status = s.put(&b, &key, bytes.clone(), Some(API_KEY)).await.status();
                    assert_eq!(status, StatusCode::OK, "upload {key}");
                    (
                        key,
                        Upload {
                            bytes,
                            done: Instant::now(),
                        },
                    )
                })
            })
            .collect();
        let deletes: Vec<_> = (0..2u64)
            .map(|d| {
                let (s, b, keys) = (s.clone(), b.clone(), keys.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(d * 12 + round % 3 * 4)).await;
                    let sent = Instant::now();
                    let results = batch_delete(&s, &b, &keys).await;
                    Delete { results, sent }
                })
            })
            .collect();
        let mut by_key: BTreeMap<String, Vec<Upload>> = BTreeMap::new();
        for u in uploads {
            let (key, upload) = u.await.unwrap();
            by_key.entry(key).or_default().push(upload);
        }
        let mut reports = Vec::new();
        for d in deletes {
            reports.push(d.await.unwrap());
        }

        let mut want_files = Vec::new();
        for key in &keys {
            let final_bytes = download(&s, &b, key).await;
            let deleted: Vec<&Delete> = reports
                .iter()
                .filter(|d| d.results[key] == "deleted")
                .collect();
            for d in &reports {
                let status = d.results[key].as_str();
                assert!(["deleted", "notFound"].contains(&status), "{key}: {status}");
            }
            assert!(
                !deleted.is_empty(),
                "{key}: it existed when the first delete ran, yet no delete reports it"
            );
            let Some(bytes) = final_bytes else { continue };
            assert_ne!(
                &bytes, &initial[key],
                "{key}: a delete reported `deleted` yet the original content survived"
            );
            let winner = by_key[key]
                .iter()
                .find(|u| u.bytes == bytes)
                .unwrap_or_else(|| panic!("{key}: final bytes are no upload's"));
            for d in &reports {
                assert!(
                    d.sent < winner.done,
                    "{key}: a delete sent after the upload answered reported {} but the \
                     upload's content is still there",
                    d.results[key]
                );
            }
            want_files.push(bytes);
        }
        let list = listed(&s, &b, &format!("r{round}/")).await.unwrap();
        let mut sizes: Vec<u64> = want_files.iter().map(|f| f.len() as u64).collect();
        sizes.sort();
        let mut listed_sizes: Vec<u64> = list.values().copied().collect();
        listed_sizes.sort();
        assert_eq!(listed_sizes, sizes, "round {round}: list agrees with GET");

        want_files.sort();
        assert_eq!(
            bucket_file_contents(&s, &b),
            want_files,
            "round {round}: files on disk are exactly the survivors'"
        );

        // A quiescent batch delete reports exactly the survivors, then nothing is left.
        let survivors: BTreeSet<&String> = list.keys().collect();
        let results = batch_delete(&s, &b, &keys).await;
        for key in &keys {
            let want = if survivors.contains(key) {
                "deleted"
            } else {
                "notFound"
            };
            assert_eq!(results[key], want, "{key}");
        }
        assert_eq!(
            bucket_file_contents(&s, &b),
            Vec::<Vec<u8>>::new(),
            "round {round}: no bytes outlive their objects"
        );
    }
}

both_stores!(
    concurrent_overwrites_agree_with_bytes,
    bucket_create_delete_races_uploads,
    batch_delete_races_uploads,
);
