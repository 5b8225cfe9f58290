//! Bad requests get 4xx JSON envelopes, never a 500 or a plain-text body: malformed JSON and
//! multipart, wrong shapes, bad percent-encoding, unknown routes and wrong methods.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::all_backends;
use crate::common::{
    API_KEY, BOUNDARY, Store, TestServer, assert_error, bucket_name, multipart_body, multipart_type,
};

async fn send(s: &TestServer, method: Method, path: &str, body: &str) -> reqwest::Response {
    s.client
        .request(method, s.storage(path))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn json_bodies(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("json");
    s.create_bucket(&b, false).await;
    let routes = [
        (Method::POST, "/buckets".to_string()),
        (Method::PUT, "/config".to_string()),
        (Method::PATCH, format!("/buckets/{b}")),
        (Method::DELETE, format!("/buckets/{b}/objects")),
        (Method::POST, format!("/buckets/{b}/upload-strategy")),
    ];
    for (method, path) in &routes {
        for bad in ["{", "{\"a\":", "[1,", "nul", "{'single':1}", "{\"a\":1}}"] {
            let r = send(&s, method.clone(), path, bad).await;
            let e = assert_error(r, 400, "INVALID_INPUT").await;
            assert_eq!(
                e["nextActions"],
                "Please ensure your request body contains valid JSON"
            );
        }
        // Valid JSON of the wrong shape.
        for wrong in [
            "[1,2]",
            "\"text\"",
            "42",
            "{\"bucketName\":[1],\"isPublic\":\"yes\",\"maxFileSizeMb\":{},\"keys\":[1],\"filename\":false}",
        ] {
            let r = send(&s, method.clone(), path, wrong).await;
            assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
        }
    }
    // A body over the JSON limit is refused, not buffered without end. (Its own client: the
    // server may close the connection without reading the rest.)
    let huge = format!("{{\"keys\":[\"{}\"]}}", "k".repeat(5 * 1024 * 1024));
    let r = reqwest::Client::new()
        .delete(s.storage(&format!("/buckets/{b}/objects")))
        .bearer_auth(API_KEY)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_error(r, 413, "STORAGE_INVALID_PARAMETER").await;
    // The bucket survived everything above.
    let page: Value = s.list(&b, "", Some(API_KEY)).await.json().await.unwrap();
    assert_eq!(page["pagination"]["total"], 0);
}

/// Asserts that nothing was stored by a failed upload, in metadata or on disk.
async fn nothing_stored(s: &TestServer, b: &str) {
    let page: Value = s.list(b, "", Some(API_KEY)).await.json().await.unwrap();
    assert_eq!(page["pagination"]["total"], 0, "{page}");
    assert!(s.object_files(b).is_empty(), "bytes left in the bucket");
    assert!(s.object_files(".tmp").is_empty(), "temp files left");
}

async fn multipart_bodies(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("mp");
    s.create_bucket(&b, false).await;
    let put_line = format!(
        "PUT /api/storage/buckets/{b}/objects/k.bin HTTP/1.1\r\nAuthorization: Bearer {API_KEY}"
    );
    let with_type = format!("{put_line}\r\n{}", multipart_type());
    let file = multipart_body(&[("file", Some("f.bin"), b"0123456789")]);

    // Truncated: the closing boundary never comes.
    let cut = &file[..file.len() - 12];
    let r = s.raw(&with_type, cut).await;
    r.assert_error(400, "STORAGE_INVALID_PARAMETER");
    // Cut inside the part headers.
    let r = s.raw(&with_type, &file[..30]).await;
    r.assert_error(400, "STORAGE_INVALID_PARAMETER");
    // No boundary parameter, not multipart at all, no body.
    for head in [
        format!("{put_line}\r\nContent-Type: multipart/form-data"),
        format!("{put_line}\r\nContent-Type: text/plain"),
        put_line.clone(),
    ] {
        let e = s
            .raw(&head, &file)
            .await
            .assert_error(400, "STORAGE_INVALID_PARAMETER");
        assert_eq!(e["message"], "File is required");
    }
    // A different boundary than the body uses; garbage; only other fields; an empty body.
    let other_boundary = format!("{put_line}\r\nContent-Type: multipart/form-data; boundary=nope");
    s.raw(&other_boundary, &file)
        .await
        .assert_error(400, "STORAGE_INVALID_PARAMETER");
    s.raw(&with_type, b"complete garbage")
        .await
        .assert_error(400, "STORAGE_INVALID_PARAMETER");
    let fields = multipart_body(&[("name", None, b"x"), ("upload", Some("f.bin"), b"bytes")]);
    let e = s
        .raw(&with_type, &fields)
        .await
        .assert_error(400, "STORAGE_INVALID_PARAMETER");
    assert_eq!(e["message"], "File is required");
    let empty = format!("--{BOUNDARY}--\r\n");
    s.raw(&with_type, empty.as_bytes())
        .await
        .assert_error(400, "STORAGE_INVALID_PARAMETER");
    nothing_stored(&s, &b).await;

    // Two file parts: refused, and neither is stored.
    let two = multipart_body(&[
        ("file", Some("a"), b"first"),
        ("file", Some("b"), b"second"),
    ]);
    s.raw(&with_type, &two)
        .await
        .assert_error(400, "STORAGE_INVALID_PARAMETER");
    let post_line = format!(
        "POST /api/storage/buckets/{b}/objects HTTP/1.1\r\nAuthorization: Bearer {API_KEY}\r\n{}",
        multipart_type()
    );
    s.raw(&post_line, &two)
        .await
        .assert_error(400, "STORAGE_INVALID_PARAMETER");
    nothing_stored(&s, &b).await;

    // Other fields before and after the file are fine.
    let ok = multipart_body(&[
        ("name", None, b"x"),
        ("file", Some("f"), b"payload"),
        ("tail", None, b"y"),
    ]);
    let r = s.raw(&with_type, &ok).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = s.get(&b, "k.bin", Some(API_KEY)).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"payload");
    // A failed replace leaves the published bytes alone.
    s.raw(&with_type, &two)
        .await
        .assert_error(400, "STORAGE_INVALID_PARAMETER");
    let r = s.get(&b, "k.bin", Some(API_KEY)).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"payload");
    assert_eq!(s.object_files(&b).len(), 1);
    assert!(s.object_files(".tmp").is_empty());
}

async fn paths_and_methods(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("paths");
    s.create_bucket(&b, true).await;
    let auth = format!("Authorization: Bearer {API_KEY}");

    // Bad percent-encoding anywhere in a path is a 400.
    let cases = [
        ("GET", format!("/api/storage/buckets/{b}/objects/bad%zz")),
        ("DELETE", format!("/api/storage/buckets/{b}/objects/bad%2")),
        ("GET", format!("/api/storage/buckets/{b}/objects/%FF%FE")),
        ("HEAD", format!("/api/storage/buckets/{b}/objects/dir/%C3")),
        (
            "GET",
            format!("/api/storage/buckets/{b}/download-strategy/objects/x%G1"),
        ),
        ("GET", format!("/api/storage/buckets/{b}%zz/objects")),
        ("DELETE", format!("/api/storage/buckets/{b}%zz")),
        ("PATCH", format!("/api/storage/buckets/{b}%zz")),
    ];
    for (method, path) in cases {
        let r = s
            .raw(&format!("{method} {path} HTTP/1.1\r\n{auth}"), b"")
            .await;
        if method == "HEAD" {
            assert_eq!(r.status, 400, "{path}");
            assert!(r.body.is_empty());
        } else {
            r.assert_error(400, "STORAGE_INVALID_PARAMETER");
        }
    }
    let put = format!(
        "PUT /api/storage/buckets/{b}/objects/bad%zz HTTP/1.1\r\n{auth}\r\n{}",
        multipart_type()
    );
    let body = multipart_body(&[("file", Some("f"), b"x")]);
    s.raw(&put, &body)
        .await
        .assert_error(400, "STORAGE_INVALID_PARAMETER");
    let post = format!(
        "POST /api/storage/buckets/{b}/objects/bad%zz/download-strategy HTTP/1.1\r\n{auth}"
    );
    s.raw(&post, b"")
        .await
        .assert_error(400, "STORAGE_INVALID_PARAMETER");

    // Unknown routes.
    for path in [
        "/api/storage/nope",
        "/nothing/here",
        "/api/storage/buckets/x/y/z",
        "/api/storage",
        "/",
    ] {
        let r = s
            .client
            .get(s.url(path))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        let e = assert_error(r, 404, "NOT_FOUND").await;
        assert_eq!(e["message"], format!("Endpoint {path} not found"));
    }
    // Known routes, wrong method.
    let cases = [
        (Method::PATCH, "/api/storage/config".to_string()),
        (Method::DELETE, "/api/storage/config".to_string()),
        (Method::PUT, "/api/storage/buckets".to_string()),
        (Method::GET, format!("/api/storage/buckets/{b}")),
        (Method::PUT, format!("/api/storage/buckets/{b}/objects")),
        (
            Method::GET,
            format!("/api/storage/buckets/{b}/upload-strategy"),
        ),
        (
            Method::POST,
            format!("/api/storage/buckets/{b}/download-strategy/objects/k"),
        ),
        (Method::PATCH, format!("/api/storage/buckets/{b}/objects/k")),
    ];
    for (method, path) in cases {
        let r = s
            .client
            .request(method.clone(), s.url(&path))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_error(r, 405, "METHOD_NOT_ALLOWED").await;
    }
    // Query strings decode leniently (as browsers and Express do): a bad escape is literal
    // text, so `limit=%zz` is "not a number" and falls back to 100.
    let r = s
        .raw(
            &format!("GET /api/storage/buckets/{b}/objects?limit=%zz HTTP/1.1\r\n{auth}"),
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let page: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(page["pagination"]["limit"], 100);
}

all_backends!(json_bodies, multipart_bodies, paths_and_methods);
