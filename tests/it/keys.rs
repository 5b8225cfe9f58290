//! Object keys round-trip exactly through upload, list, download, download-strategy and
//! delete, sent with `/` raw and as `%2F`; invalid keys are refused and store nothing.

use reqwest::StatusCode;
use serde_json::Value;

use crate::all_backends;
use crate::common::{
    API_KEY, Store, TestServer, assert_error, bucket_name, encode, multipart_body, multipart_type,
};

/// How a key goes into the URL path.
#[derive(Debug, Clone, Copy)]
enum Slashes {
    /// `encodeURIComponent` of the whole key (the JS SDK).
    Encoded,
    /// Each segment encoded, joined with literal `/`.
    Raw,
}

fn in_path(key: &str, mode: Slashes) -> String {
    match mode {
        Slashes::Encoded => encode(key),
        Slashes::Raw => key.split('/').map(encode).collect::<Vec<_>>().join("/"),
    }
}

fn good_keys() -> Vec<String> {
    vec![
        "dir/sub/file.txt".into(),
        "with space.txt".into(),
        "plus+sign+.txt".into(),
        "100% sure.txt".into(),
        "%2F-is-literal%20".into(),
        "ünïcödé/文件.txt".into(),
        "emoji 😀/🎉.bin".into(),
        "v1..2.txt".into(),
        "quote'\"<>#?&=;,.txt".into(),
        "back\\slash".into(),
        "trailing/".into(),
        "double//slash".into(),
        format!("long/{}", "x".repeat(1019)),
        "é".repeat(512),
    ]
}

async fn page(s: &TestServer, b: &str, query: &str) -> Value {
    let r = s.list(b, query, Some(API_KEY)).await;
    assert_eq!(r.status(), StatusCode::OK, "{query}");
    r.json().await.unwrap()
}

async fn round_trips(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("keys");
    s.create_bucket(&b, false).await;
    for mode in [Slashes::Encoded, Slashes::Raw] {
        for (i, key) in good_keys().iter().enumerate() {
            let cell = format!("{mode:?} {key:?}");
            assert!(key.len() <= 1024, "{cell}");
            let path = format!("/buckets/{b}/objects/{}", in_path(key, mode));
            let body = format!("{i} {cell}").into_bytes();

            let r = s.put_path(&path, body.clone(), Some(API_KEY)).await;
            assert_eq!(r.status(), StatusCode::OK, "{cell}");
            let file: Value = r.json().await.unwrap();
            assert_eq!(file["key"], key.as_str(), "{cell}");
            let url = file["url"].as_str().unwrap();
            assert!(
                url.contains(&format!("/objects/{}?v=", encode(key))),
                "{cell}: {url}"
            );

            let listed = page(&s, &b, &format!("prefix={}", encode(key))).await;
            assert_eq!(listed["pagination"]["total"], 1, "{cell}");
            assert_eq!(listed["data"][0]["key"], key.as_str(), "{cell}");
            assert_eq!(listed["data"][0]["size"], body.len(), "{cell}");

            let r = s
                .client
                .get(s.storage(&path))
                .bearer_auth(API_KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{cell}");
            assert_eq!(r.bytes().await.unwrap().to_vec(), body, "{cell}");
            // The URL the server hands out reaches the same bytes.
            let r = s.client.get(url).bearer_auth(API_KEY).send().await.unwrap();
            assert_eq!(r.bytes().await.unwrap().to_vec(), body, "{cell}");

            let strategy = format!(
                "/buckets/{b}/download-strategy/objects/{}",
                in_path(key, mode)
            );
            let r = s
                .client
                .get(s.storage(&strategy))
                .bearer_auth(API_KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{cell}");
            let signed: Value = r.json().await.unwrap();
            let r = s
                .client
                .get(signed["url"].as_str().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{cell}");
            assert_eq!(r.bytes().await.unwrap().to_vec(), body, "{cell}");

            let r = s
                .client
                .delete(s.storage(&path))
                .bearer_auth(API_KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{cell}");
            let r = s
                .client
                .get(s.storage(&path))
                .bearer_auth(API_KEY)
                .send()
                .await
                .unwrap();
            assert_error(r, 404, "STORAGE_NOT_FOUND").await;
        }
    }
    assert_eq!(page(&s, &b, "").await["pagination"]["total"], 0);
    assert!(s.object_files(&b).is_empty());
}

async fn coexisting_keys(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("coexist");
    s.create_bucket(&b, true).await;
    for key in ["a", "a/b", "a/b/c", "A", "a.", "a b", "a+b"] {
        let r = s.put(&b, key, key.as_bytes().to_vec(), Some(API_KEY)).await;
        assert_eq!(r.status(), StatusCode::OK, "{key}");
    }
    for key in ["a", "a/b", "a/b/c", "A", "a.", "a b", "a+b"] {
        let r = s.get(&b, key, None).await;
        assert_eq!(r.bytes().await.unwrap().as_ref(), key.as_bytes(), "{key}");
    }
    // A literal `+` in the path is a plus, not a space; `%20` is a space.
    let r = s
        .client
        .get(s.storage(&format!("/buckets/{b}/objects/a+b")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"a+b");
    let r = s
        .client
        .get(s.storage(&format!("/buckets/{b}/objects/a%20b")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"a b");
    // Raw and encoded slashes name the same object.
    let r = s
        .client
        .get(s.storage(&format!("/buckets/{b}/objects/a%2Fb/c")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"a/b/c");

    assert_eq!(
        s.delete(&b, "a/b", Some(API_KEY)).await.status(),
        StatusCode::OK
    );
    assert_eq!(s.get(&b, "a", None).await.status(), StatusCode::OK);
    assert_eq!(s.get(&b, "a/b/c", None).await.status(), StatusCode::OK);
    assert_error(s.get(&b, "a/b", None).await, 404, "STORAGE_NOT_FOUND").await;
    let listed = page(&s, &b, "prefix=a%2F").await;
    assert_eq!(listed["data"][0]["key"], "a/b/c");
    assert_eq!(listed["pagination"]["total"], 1);
}

/// A raw PUT of `path_key` (exactly as it appears on the wire).
async fn raw_put(s: &TestServer, b: &str, path_key: &str) -> crate::common::RawResponse {
    let head = format!(
        "PUT /api/storage/buckets/{b}/objects/{path_key} HTTP/1.1\r\nAuthorization: Bearer {API_KEY}\r\n{}",
        multipart_type()
    );
    s.raw(&head, &multipart_body(&[("file", Some("f"), b"bytes")]))
        .await
}

async fn invalid_keys(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("badkeys");
    s.create_bucket(&b, false).await;

    // Sent over a raw socket, so no client library normalises the dot segments away.
    let refused = [
        "..",
        "../x",
        "a/../b",
        "a/..",
        "a%2F..%2Fb",
        "%2E%2E/x",
        "..%2Fx",
        "/lead",
        "%2Flead",
        "ctl%01char",
        "line%0Abreak",
        &"k".repeat(1025),
        &format!("a/{}", "%C3%A9".repeat(512)),
    ];
    for key in refused {
        let r = raw_put(&s, &b, key).await;
        r.assert_error(400, "STORAGE_INVALID_PARAMETER");
        let head = format!(
            "GET /api/storage/buckets/{b}/objects/{key} HTTP/1.1\r\nAuthorization: Bearer {API_KEY}"
        );
        s.raw(&head, b"")
            .await
            .assert_error(400, "STORAGE_INVALID_PARAMETER");
        let head = format!(
            "DELETE /api/storage/buckets/{b}/objects/{key} HTTP/1.1\r\nAuthorization: Bearer {API_KEY}"
        );
        s.raw(&head, b"")
            .await
            .assert_error(400, "STORAGE_INVALID_PARAMETER");
    }
    let e = raw_put(&s, &b, "a/../b")
        .await
        .assert_error(400, "STORAGE_INVALID_PARAMETER");
    assert_eq!(
        e["message"],
        "Invalid key. Cannot use \"..\" or start with \"/\""
    );
    // No key at all.
    raw_put(&s, &b, "")
        .await
        .assert_error(400, "STORAGE_INVALID_PARAMETER");
    assert_eq!(page(&s, &b, "").await["pagination"]["total"], 0);
    assert!(s.object_files(&b).is_empty());

    // The edges that are allowed, sent raw too.
    let long = "k".repeat(1024);
    for (path_key, key) in [
        ("a+b", "a+b"),
        ("v1..2.txt", "v1..2.txt"),
        ("a/.../b", "a/.../b"),
        ("x/..y", "x/..y"),
        (long.as_str(), long.as_str()),
    ] {
        let r = raw_put(&s, &b, path_key).await;
        assert_eq!(r.status, 200, "{path_key}: {r:?}");
        let file: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(file["key"], key);
        assert_eq!(
            s.get(&b, key, Some(API_KEY))
                .await
                .bytes()
                .await
                .unwrap()
                .as_ref(),
            b"bytes"
        );
    }
}

all_backends!(round_trips, coexisting_keys, invalid_keys);
