//! CONTRACT §7.4: the requests the Swift and Kotlin SDKs send, byte for byte where their
//! shape matters, one test per numbered requirement (`reqNN_…`). Neither SDK can run here,
//! so each test replays what its source sends: raw `/` in keys, hand-built multipart bodies
//! (unquoted `name=file`, UUID boundaries, part `Content-Length`), JSON content types on
//! bodiless requests, the legacy POST download-strategy with `{"expiresIn": 3600}`, and
//! strict decoding of every response the SDKs read.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::auth_matrix::hs256;
use crate::both_stores;
use crate::common::{
    ANON_KEY, API_KEY, JWT_SECRET, Store, TestServer, assert_error, bucket_name, encode,
};

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xde,
];

// ---------------------------------------------------------------------------------------
// Request builders: what the SDKs put on the wire.
// ---------------------------------------------------------------------------------------

/// A key as Swift and Kotlin put it in a path: each segment percent-encoded, `/` left raw.
fn raw_path(key: &str) -> String {
    key.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// One multipart part, written by hand.
struct Part<'a> {
    /// The whole `Content-Disposition` value, exactly as sent.
    disposition: String,
    content_type: Option<&'a str>,
    /// Kotlin (Ktor) writes a `Content-Length` header on every part.
    length_header: bool,
    bytes: &'a [u8],
}

fn multipart(boundary: &str, parts: &[Part<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        out.extend_from_slice(format!("Content-Disposition: {}\r\n", p.disposition).as_bytes());
        if let Some(ct) = p.content_type {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        if p.length_header {
            out.extend_from_slice(format!("Content-Length: {}\r\n", p.bytes.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(p.bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// Kotlin/Ktor: a UUID boundary, unquoted `name=file`, a part `Content-Length`.
fn kotlin_form(filename: &str, content_type: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = uuid::Uuid::new_v4().to_string();
    let body = multipart(
        &boundary,
        &[Part {
            disposition: format!("form-data; name=file; filename=\"{filename}\""),
            content_type: Some(content_type),
            length_header: true,
            bytes,
        }],
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Swift: `Boundary-<UUID>`, quoted `name="file"`, filename "file" unless told otherwise.
fn swift_form(filename: &str, content_type: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!(
        "Boundary-{}",
        uuid::Uuid::new_v4().to_string().to_uppercase()
    );
    let body = multipart(
        &boundary,
        &[Part {
            disposition: format!("form-data; name=\"file\"; filename=\"{filename}\""),
            content_type: Some(content_type),
            length_header: false,
            bytes,
        }],
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn with_form(rb: RequestBuilder, form: (String, Vec<u8>)) -> RequestBuilder {
    rb.header("content-type", form.0).body(form.1)
}

/// Kotlin's JSON headers, which it also sends on bodiless GET and DELETE.
fn kotlin_json(rb: RequestBuilder) -> RequestBuilder {
    rb.header("accept", "application/json")
        .header("content-type", "application/json")
}

/// The legacy `POST …/objects/<raw key>/download-strategy` with `{"expiresIn": n}`.
async fn legacy_strategy(
    s: &TestServer,
    bucket: &str,
    key: &str,
    expires_in: u64,
    bearer: Option<&str>,
) -> Response {
    let url = s.storage(&format!(
        "/buckets/{bucket}/objects/{}/download-strategy",
        raw_path(key)
    ));
    let mut rb = kotlin_json(s.client.post(url)).body(format!("{{\"expiresIn\": {expires_in}}}"));
    if let Some(b) = bearer {
        rb = rb.bearer_auth(b);
    }
    rb.send().await.expect("legacy download strategy")
}

/// An access token that expired two minutes ago.
fn expired(sub: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    hs256(JWT_SECRET, sub, "authenticated", now - 120)
}

async fn json_ok(r: Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "{:?}", r.url().path());
    assert_json(&r);
    r.json().await.expect("json body")
}

fn assert_json(r: &Response) {
    let ct = header(r, "content-type");
    assert!(ct.starts_with("application/json"), "content type {ct:?}");
}

fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn upload_strategy(s: &TestServer, bucket: &str, body: Value, bearer: &str) -> Value {
    let r = s
        .client
        .post(s.storage(&format!("/buckets/{bucket}/upload-strategy")))
        .bearer_auth(bearer)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    json_ok(r, 200).await
}

/// `2026-01-01T00:00:00.000Z`, and nothing else (CONTRACT §7.4 item 13).
fn assert_rfc3339_millis_z(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} not a string: {v}"));
    let b = s.as_bytes();
    let digit = |i: usize| b[i].is_ascii_digit();
    let ok = b.len() == 24
        && (0..4).all(digit)
        && b[4] == b'-'
        && (5..7).all(digit)
        && b[7] == b'-'
        && (8..10).all(digit)
        && b[10] == b'T'
        && (11..13).all(digit)
        && b[13] == b':'
        && (14..16).all(digit)
        && b[16] == b':'
        && (17..19).all(digit)
        && b[19] == b'.'
        && (20..23).all(digit)
        && b[23] == b'Z';
    assert!(ok, "{what} is not RFC 3339 UTC with milliseconds: {s:?}");
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{what} {s:?}: {e}"));
}

/// The StorageFile typing Swift and Kotlin decode (CONTRACT §7.4 item 12).
fn assert_storage_file(f: &Value) {
    let o = f
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {f}"));
    for k in ["bucket", "key", "url", "uploadedAt"] {
        assert!(o.get(k).is_some_and(Value::is_string), "{k} in {f}");
    }
    assert!(o.get("size").is_some_and(Value::is_u64), "size in {f}");
    assert!(
        o.get("mimeType")
            .is_none_or(|m| m.is_string() || m.is_null()),
        "mimeType in {f}"
    );
    assert_rfc3339_millis_z(&f["uploadedAt"], "uploadedAt");
}

fn assert_no_store(r: &Response, what: &str) {
    assert_eq!(header(r, "cache-control"), "no-store", "{what}");
    assert!(r.headers().get("last-modified").is_none(), "{what}");
    assert!(r.headers().get("expires").is_none(), "{what}");
}

async fn set_max_mb(s: &TestServer, mb: u32) {
    let r = s
        .admin(s.client.put(s.storage("/config")))
        .json(&json!({ "maxFileSizeMb": mb }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// 1. POST to the exact-key object route uploads, exactly like PUT.
// ---------------------------------------------------------------------------------------

async fn req01_post_to_exact_key_uploads(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("r01");
    s.create_bucket(&b, false).await;
    let alice = s.user("alice");
    let key = "reports/2026/q1 summary.txt";
    let st = upload_strategy(&s, &b, json!({ "filename": key, "size": 5 }), &alice).await;
    let url = st["uploadUrl"].as_str().unwrap();

    // Swift: multipart POST to uploadUrl, part filename "file" (never the key here).
    let post = |bytes: &'static [u8], bearer: String| {
        with_form(s.client.post(url), swift_form("file", "text/plain", bytes))
            .bearer_auth(bearer)
            .send()
    };
    let f = json_ok(post(b"first", alice.clone()).await.unwrap(), 200).await;
    assert_storage_file(&f);
    assert_eq!(f["key"], key);
    assert_eq!(f["bucket"], b.as_str());
    assert_eq!(f["size"], 5);
    assert_eq!(f["mimeType"], "text/plain");

    // Safe to repeat (Swift retries on 429/5xx/network errors): it replaces.
    let f = json_ok(post(b"second!", alice.clone()).await.unwrap(), 200).await;
    assert_eq!(f["size"], 7);
    let r = s.get(&b, key, Some(&alice)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"second!");
    let page = json_ok(s.list(&b, "", Some(API_KEY)).await, 200).await;
    assert_eq!(page["pagination"]["total"], 1);

    // Same ownership rule as PUT: another user may not replace alice's object.
    let put_bob = with_form(
        s.client.put(url),
        swift_form("file", "text/plain", b"bob's"),
    )
    .bearer_auth(s.user("bob"))
    .send()
    .await
    .unwrap();
    let put_status = put_bob.status().as_u16();
    let put_body: Value = put_bob.json().await.unwrap();
    let r = post(b"bob's", s.user("bob")).await.unwrap();
    assert!(put_status == 403 || put_status == 404, "{put_status}");
    let post_body = assert_error(r, put_status, put_body["error"].as_str().unwrap()).await;
    assert_eq!(post_body, put_body);

    // Same MIME sniffing: magic bytes win over the declared type, markup is neutralised.
    let png = with_form(
        s.client
            .post(s.storage(&format!("/buckets/{b}/objects/img/pixel"))),
        swift_form("file", "application/octet-stream", PNG),
    )
    .bearer_auth(&alice)
    .send()
    .await
    .unwrap();
    assert_eq!(json_ok(png, 200).await["mimeType"], "image/png");
    let html = with_form(
        s.client
            .post(s.storage(&format!("/buckets/{b}/objects/page.html"))),
        swift_form(
            "file",
            "text/html",
            b"<html><script>alert(1)</script></html>",
        ),
    )
    .bearer_auth(&alice)
    .send()
    .await
    .unwrap();
    assert_eq!(
        json_ok(html, 200).await["mimeType"],
        "application/octet-stream"
    );

    // Same size limit: 413, nothing left behind.
    set_max_mb(&s, 1).await;
    let big = vec![b'x'; 1024 * 1024 + 1];
    let r = with_form(
        s.client
            .post(s.storage(&format!("/buckets/{b}/objects/big.bin"))),
        swift_form("file", "application/octet-stream", &big),
    )
    .bearer_auth(&alice)
    .send()
    .await
    .unwrap();
    assert_error(r, 413, "STORAGE_INVALID_PARAMETER").await;
    assert_error(
        s.get(&b, "big.bin", Some(API_KEY)).await,
        404,
        "STORAGE_NOT_FOUND",
    )
    .await;

    // Same errors: no file part, missing bucket.
    let r = s
        .client
        .post(s.storage(&format!("/buckets/{b}/objects/x.txt")))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    let r = with_form(
        s.client
            .post(s.storage("/buckets/no_such_bucket/objects/x.txt")),
        swift_form("file", "text/plain", b"x"),
    )
    .bearer_auth(API_KEY)
    .send()
    .await
    .unwrap();
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
}

// ---------------------------------------------------------------------------------------
// 2. A direct strategy's uploadUrl is absolute and names the exact-key route.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req02_direct_upload_url_is_absolute_exact_key_route() {
    let s = TestServer::start(Store::Sqlite).await;
    let b = bucket_name("r02");
    s.create_bucket(&b, true).await;
    let key = "a dir/ü+b.txt";
    let st = upload_strategy(&s, &b, json!({ "filename": key }), &s.user("alice")).await;
    assert_eq!(st["method"], "direct");
    assert_eq!(
        st["uploadUrl"],
        s.storage(&format!("/buckets/{b}/objects/{}", encode(key)))
    );
    let url = st["uploadUrl"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // Reachable as is, with POST (Swift), and it names this exact key.
    let r = with_form(s.client.post(url), swift_form("file", "text/plain", b"hi"))
        .bearer_auth(s.user("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_ok(r, 200).await["key"], key);
    let r = s.get(&b, key, None).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hi");
}

// ---------------------------------------------------------------------------------------
// 3. Suffix routes match on the raw path only.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req03_suffix_routes_match_raw_path_only() {
    let s = TestServer::start(Store::Sqlite).await;
    let b = bucket_name("r03");
    s.create_bucket(&b, false).await;
    let upload = |path: String| {
        with_form(
            s.client.post(s.storage(&path)),
            swift_form("file", "text/plain", b"suffix"),
        )
        .bearer_auth(API_KEY)
        .send()
    };

    // `%2F`-encoded suffixes belong to the key: these are uploads.
    for (path, key) in [
        ("x/notes%2Fdownload-strategy", "x/notes/download-strategy"),
        ("y%2Fnotes%2Fconfirm-upload", "y/notes/confirm-upload"),
    ] {
        let r = upload(format!("/buckets/{b}/objects/{path}"))
            .await
            .unwrap();
        let f = json_ok(r, 200).await;
        assert_eq!(f["key"], key);
        assert_eq!(
            s.get(&b, key, Some(API_KEY))
                .await
                .bytes()
                .await
                .unwrap()
                .as_ref(),
            b"suffix"
        );
    }

    // After a literal `/` they are the routes, with the key before them decoded once.
    let r = upload(format!("/buckets/{b}/objects/z/a%2Fb.txt"))
        .await
        .unwrap();
    assert_eq!(json_ok(r, 200).await["key"], "z/a/b.txt");
    for raw in ["z/a/b.txt", "z%2Fa%2Fb.txt", "z/a%2Fb.txt"] {
        let r = kotlin_json(
            s.client
                .post(s.storage(&format!("/buckets/{b}/objects/{raw}/download-strategy"))),
        )
        .bearer_auth(API_KEY)
        .body(r#"{"expiresIn": 3600}"#)
        .send()
        .await
        .unwrap();
        let st = json_ok(r, 200).await;
        assert_eq!(st["method"], "presigned", "{raw}");
        let r = s
            .client
            .get(st["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"suffix", "{raw}");

        let r = kotlin_json(
            s.client
                .post(s.storage(&format!("/buckets/{b}/objects/{raw}/confirm-upload"))),
        )
        .bearer_auth(API_KEY)
        .body(r#"{"size": 6, "contentType": "text/plain"}"#)
        .send()
        .await
        .unwrap();
        assert_eq!(json_ok(r, 200).await["key"], "z/a/b.txt", "{raw}");
    }
    // No object was created under a suffix-bearing key by those requests.
    let page = json_ok(s.list(&b, "prefix=z/", Some(API_KEY)).await, 200).await;
    assert_eq!(page["pagination"]["total"], 1);
}

// ---------------------------------------------------------------------------------------
// 4. The legacy POST download-strategy, raw `/`, body {"expiresIn": 3600}.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req04_legacy_post_download_strategy() {
    let s = TestServer::start(Store::Sqlite).await;
    let private = bucket_name("r04p");
    let public = bucket_name("r04o");
    s.create_bucket(&private, false).await;
    s.create_bucket(&public, true).await;
    let alice = s.user("alice");
    let key = "docs/2026/plan ü.txt";
    for b in [&private, &public] {
        assert_eq!(
            s.put(b, key, b"plan".to_vec(), Some(&alice)).await.status(),
            200
        );
    }

    let before = Utc::now();
    let st = json_ok(
        legacy_strategy(&s, &private, key, 3600, Some(&alice)).await,
        200,
    )
    .await;
    assert_eq!(st["method"], "presigned");
    let at: DateTime<Utc> = st["expiresAt"].as_str().unwrap().parse().unwrap();
    let ttl = (at - before).num_seconds();
    assert!(
        (3595..=3605).contains(&ttl),
        "expiresAt {at} is {ttl} s away"
    );
    let r = s
        .client
        .get(st["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"plan");

    // Kotlin's createSignedUrl(expiresIn = 120).
    let before = Utc::now();
    let st = json_ok(
        legacy_strategy(&s, &private, key, 120, Some(&alice)).await,
        200,
    )
    .await;
    let at: DateTime<Utc> = st["expiresAt"].as_str().unwrap().parse().unwrap();
    let ttl = (at - before).num_seconds();
    assert!((115..=125).contains(&ttl), "expiresAt {at} is {ttl} s away");

    let st = json_ok(legacy_strategy(&s, &public, key, 3600, None).await, 200).await;
    assert_eq!(st["method"], "direct");
    let r = s
        .client
        .get(st["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"plan");

    // A missing key, and a deleted one: 404 STORAGE_NOT_FOUND.
    let r = legacy_strategy(&s, &private, "docs/none.txt", 3600, Some(&alice)).await;
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
    assert_eq!(s.delete(&private, key, Some(&alice)).await.status(), 200);
    let r = legacy_strategy(&s, &private, key, 3600, Some(&alice)).await;
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
    let r = legacy_strategy(&s, &public, "docs/none.txt", 3600, None).await;
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
}

// ---------------------------------------------------------------------------------------
// 5. Confirm with a key of several segments: raw (Kotlin) and `%2F` (Swift).
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req05_confirm_multi_segment_key() {
    let s = TestServer::start_s3(Store::Sqlite, true, &[]).await;
    let b = bucket_name("r05");
    s.create_bucket(&b, false).await;
    let alice = s.user("alice");
    for (key, path, with_etag) in [
        ("k/a/b.txt", raw_path("k/a/b.txt"), true),
        ("s/a b/c.txt", encode("s/a b/c.txt"), false),
    ] {
        let bytes = format!("bytes of {key}").into_bytes();
        let st = upload_strategy(
            &s,
            &b,
            json!({ "filename": key, "contentType": "text/plain", "size": bytes.len() }),
            &alice,
        )
        .await;
        assert_eq!(st["method"], "presigned");
        let status = post_presigned(&s, &st, &bytes, false).await;
        assert!(status == 204 || status == 200, "{status}");
        // Kotlin sends the store's ETag without quotes; the server's own value wins.
        let body = if with_etag {
            json!({ "size": bytes.len(), "contentType": "text/plain", "etag": "not-the-real-etag" })
        } else {
            json!({ "size": bytes.len(), "contentType": "text/plain" })
        };
        let r = s
            .client
            .post(s.storage(&format!("/buckets/{b}/objects/{path}/confirm-upload")))
            .bearer_auth(&alice)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let f = json_ok(r, 200).await;
        assert_storage_file(&f);
        assert_eq!(f["key"], key, "{path}");
        assert_eq!(f["size"], bytes.len());
        assert!(!f["url"].as_str().unwrap().contains("not-the-real-etag"));
        let st = json_ok(legacy_strategy(&s, &b, key, 3600, Some(&alice)).await, 200).await;
        let r = s
            .client
            .get(st["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().to_vec(), bytes);
    }

    // Local disk: confirm of a direct upload answers the StorageFile for raw segments too.
    let local = TestServer::start(Store::Sqlite).await;
    local.create_bucket(&b, false).await;
    assert_eq!(
        local
            .put(&b, "p/q/r.txt", b"x".to_vec(), Some(&alice))
            .await
            .status(),
        200
    );
    for path in ["p/q/r.txt", "p%2Fq%2Fr.txt"] {
        let r = local
            .client
            .post(local.storage(&format!("/buckets/{b}/objects/{path}/confirm-upload")))
            .bearer_auth(&alice)
            .json(&json!({ "size": 1, "contentType": "text/plain" }))
            .send()
            .await
            .unwrap();
        assert_eq!(json_ok(r, 200).await["key"], "p/q/r.txt", "{path}");
    }
}

/// The presigned POST as the SDKs send it: the fields in the given order (here reversed,
/// as Swift's dictionary order may be), the file last, no `Authorization`.
async fn post_presigned(s: &TestServer, st: &Value, bytes: &[u8], reversed: bool) -> u16 {
    let fields = st["fields"].as_object().expect("fields is an object");
    let mut pairs: Vec<(&String, &str)> = fields
        .iter()
        .map(|(k, v)| (k, v.as_str().expect("field values are strings")))
        .collect();
    if reversed {
        pairs.reverse();
    }
    let mut parts: Vec<Part<'_>> = pairs
        .iter()
        .map(|(k, v)| Part {
            disposition: format!("form-data; name=\"{k}\""),
            content_type: None,
            length_header: false,
            bytes: v.as_bytes(),
        })
        .collect();
    let ct = fields["Content-Type"].as_str().unwrap();
    parts.push(Part {
        disposition: "form-data; name=\"file\"; filename=\"file\"".into(),
        content_type: Some(ct),
        length_header: false,
        bytes,
    });
    let boundary = format!("Boundary-{}", uuid::Uuid::new_v4());
    let r = s
        .client
        .post(st["uploadUrl"].as_str().unwrap())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(multipart(&boundary, &parts))
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

// ---------------------------------------------------------------------------------------
// 6. Strategy URLs for private objects work without headers.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req06_private_strategy_url_needs_no_headers() {
    let s = TestServer::start(Store::Sqlite).await;
    let private = bucket_name("r06p");
    let public = bucket_name("r06o");
    s.create_bucket(&private, false).await;
    s.create_bucket(&public, true).await;
    let alice = s.user("alice");
    let key = "secret/file one.txt";
    for b in [&private, &public] {
        assert_eq!(
            s.put(b, key, b"secret".to_vec(), Some(&alice))
                .await
                .status(),
            200
        );
    }

    // Private: self-authorising, labelled presigned, with expiresAt.
    let st = json_ok(
        legacy_strategy(&s, &private, key, 3600, Some(&alice)).await,
        200,
    )
    .await;
    assert_eq!(st["method"], "presigned");
    assert_rfc3339_millis_z(&st["expiresAt"], "expiresAt");
    let url = st["url"].as_str().unwrap();
    assert!(url.starts_with("http://"), "{url}");
    // The object route without the signature needs credentials, so the URL carries them.
    let bare = url.split('?').next().unwrap();
    assert_error(
        s.client.get(bare).send().await.unwrap(),
        401,
        "AUTH_INVALID_CREDENTIALS",
    )
    .await;
    // Swift: a bare GET.
    let r = s.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"secret");
    // A valid query token plus a bearer (its owner's, or an expired one) is still fine.
    for bearer in [alice.clone(), expired("alice")] {
        let r = s.client.get(url).bearer_auth(bearer).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // A tampered signature is refused.
    let tampered = format!("{url}x");
    assert!(
        s.client
            .get(&tampered)
            .send()
            .await
            .unwrap()
            .status()
            .is_client_error()
    );

    // It expires after expiresIn seconds.
    let st = json_ok(
        legacy_strategy(&s, &private, key, 1, Some(&alice)).await,
        200,
    )
    .await;
    let short = st["url"].as_str().unwrap();
    assert_eq!(
        s.client.get(short).send().await.unwrap().status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let r = s.client.get(short).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Public: a plain direct URL that ignores any Authorization, even an expired one.
    let st = json_ok(
        legacy_strategy(&s, &public, key, 3600, Some(&alice)).await,
        200,
    )
    .await;
    assert_eq!(st["method"], "direct");
    let url = st["url"].as_str().unwrap();
    for bearer in [None, Some(expired("alice")), Some("garbage".to_string())] {
        let mut rb = s.client.get(url);
        if let Some(b) = bearer {
            rb = rb.bearer_auth(b);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"secret");
    }
}

// ---------------------------------------------------------------------------------------
// 7. The byte route answers exactly 200, whatever JSON headers Kotlin adds.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req07_byte_route_answers_200_despite_json_headers() {
    let s = TestServer::start(Store::Sqlite).await;
    let b = bucket_name("r07");
    s.create_bucket(&b, false).await;
    let alice = s.user("alice");
    let key = "data/report.csv";
    let bytes = b"a,b\n1,2\n".to_vec();
    assert_eq!(
        s.put(&b, key, bytes.clone(), Some(&alice)).await.status(),
        200
    );
    let url = s.storage(&format!("/buckets/{b}/objects/{}", raw_path(key)));

    let r = kotlin_json(s.client.get(&url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(!header(&r, "content-type").starts_with("application/json"));
    assert_eq!(r.bytes().await.unwrap().to_vec(), bytes);
    // Kotlin's exists(): HEAD is 200 too.
    let r = kotlin_json(s.client.head(&url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let r = kotlin_json(s.client.delete(&url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = kotlin_json(s.client.get(&url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
}

// ---------------------------------------------------------------------------------------
// 8. The server-generated-key upload stays (Kotlin ≤ 0.1.7 uploadWithAutoKey).
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req08_server_generated_key_upload_stays() {
    let s = TestServer::start(Store::Sqlite).await;
    let b = bucket_name("r08");
    s.create_bucket(&b, true).await;
    let r = with_form(
        s.client.post(s.storage(&format!("/buckets/{b}/objects"))),
        kotlin_form("Quarterly Report.pdf", "application/pdf", b"%PDF-1.4 tiny"),
    )
    .bearer_auth(s.user("alice"))
    .send()
    .await
    .unwrap();
    let f = json_ok(r, 201).await;
    assert_storage_file(&f);
    let key = f["key"].as_str().unwrap();
    // <sanitizedBase>-<epochMs>-<rand><ext>
    let rest = key.strip_prefix("Quarterly-Report-").expect(key);
    let stem = rest.strip_suffix(".pdf").expect(key);
    let (ms, rand) = stem.split_once('-').expect(key);
    assert!(
        ms.len() >= 13 && ms.bytes().all(|c| c.is_ascii_digit()),
        "{key}"
    );
    assert!(
        (1..=6).contains(&rand.len()) && rand.bytes().all(|c| c.is_ascii_alphanumeric()),
        "{key}"
    );
    let r = s.get(&b, key, None).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"%PDF-1.4 tiny");
}

// ---------------------------------------------------------------------------------------
// 9. Lenient multipart: unquoted name, part Content-Length, UUID boundary, odd filenames.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req09_lenient_multipart() {
    let s = TestServer::start(Store::Sqlite).await;
    let b = bucket_name("r09");
    s.create_bucket(&b, false).await;
    let alice = s.user("alice");

    // Kotlin PUT: JSON text declared as such comes back application/json.
    let json_text = br#"{"hello": "world"}"#;
    for (i, filename) in [
        "folder/sub dir/ünïcødé file.json",
        "plain.json",
        "with space.json",
    ]
    .iter()
    .enumerate()
    {
        let key = format!("k{i}/doc.json");
        let url = s.storage(&format!("/buckets/{b}/objects/{}", raw_path(&key)));
        let r = with_form(
            s.client.put(&url),
            kotlin_form(filename, "application/json", json_text),
        )
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
        let f = json_ok(r, 200).await;
        assert_eq!(f["key"], key, "{filename}");
        assert_eq!(f["size"], json_text.len());
        assert_eq!(f["mimeType"], "application/json", "{filename}");
        let r = s.get(&b, &key, Some(&alice)).await;
        assert_eq!(r.bytes().await.unwrap().as_ref(), json_text);
    }

    // A PNG, by POST and by PUT.
    for method in [reqwest::Method::POST, reqwest::Method::PUT] {
        let url = s.storage(&format!("/buckets/{b}/objects/img/{method}.png"));
        let r = with_form(
            s.client.request(method.clone(), &url),
            kotlin_form("my image/ü.png", "image/png", PNG),
        )
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
        assert_eq!(json_ok(r, 200).await["mimeType"], "image/png", "{method}");
    }

    // Nothing sniffed, nothing markup-like: the part's declared type is stored.
    let r = with_form(
        s.client
            .put(s.storage(&format!("/buckets/{b}/objects/notes.dat"))),
        kotlin_form("notes.dat", "text/csv", b"a,b\n1,2\n"),
    )
    .bearer_auth(&alice)
    .send()
    .await
    .unwrap();
    assert_eq!(json_ok(r, 200).await["mimeType"], "text/csv");

    // Kotlin's auto-key upload with the same shape: the filename's basename drives the key.
    let r = with_form(
        s.client.post(s.storage(&format!("/buckets/{b}/objects"))),
        kotlin_form("dir/my file.json", "application/json", json_text),
    )
    .bearer_auth(&alice)
    .send()
    .await
    .unwrap();
    let f = json_ok(r, 201).await;
    let key = f["key"].as_str().unwrap();
    assert!(key.ends_with(".json") && !key.contains(' '), "{key}");
}

// ---------------------------------------------------------------------------------------
// 10. A presigned upload is a POST form: any field order, file last, no Authorization.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req10_presigned_upload_is_post_form() {
    let s = TestServer::start_s3(Store::Sqlite, true, &[]).await;
    let b = bucket_name("r10");
    s.create_bucket(&b, false).await;
    let alice = s.user("alice");
    let key = "uploads/2026/photo one.png";
    let st = upload_strategy(
        &s,
        &b,
        json!({ "filename": key, "contentType": "image/png", "size": PNG.len() }),
        &alice,
    )
    .await;
    assert_eq!(st["method"], "presigned");
    let fields = st["fields"].as_object().expect("non-null fields");
    assert!(!fields.is_empty());
    assert!(fields.values().all(Value::is_string), "{fields:?}");
    assert!(st["uploadUrl"].as_str().unwrap().starts_with("http"));

    // Fields reversed, file last, no Authorization: 204 or 200 (Kotlin rejects 201).
    let status = post_presigned(&s, &st, PNG, true).await;
    assert!(
        status == 204 || status == 200,
        "presigned POST answered {status}"
    );

    // Confirm with the key's `/` raw (Kotlin).
    let r = s
        .client
        .post(s.storage(&format!(
            "/buckets/{b}/objects/{}/confirm-upload",
            raw_path(key)
        )))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body(json!({ "size": PNG.len(), "contentType": "image/png" }).to_string())
        .send()
        .await
        .unwrap();
    let f = json_ok(r, 200).await;
    assert_eq!(f["key"], key);
    assert_eq!(f["size"], PNG.len());
    assert_eq!(f["mimeType"], "image/png");
    let st = json_ok(legacy_strategy(&s, &b, key, 3600, Some(&alice)).await, 200).await;
    let r = s
        .client
        .get(st["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
}

// ---------------------------------------------------------------------------------------
// 11. Upload-strategy shape: enum method, non-null uploadUrl/key/confirmRequired.
// ---------------------------------------------------------------------------------------

fn assert_strategy_shape(st: &Value) {
    assert!(
        st["method"] == "direct" || st["method"] == "presigned",
        "{st}"
    );
    assert!(st["uploadUrl"].is_string(), "{st}");
    assert!(st["key"].is_string(), "{st}");
    assert!(st["confirmRequired"].is_boolean(), "{st}");
    if st["method"] == "presigned" {
        assert!(st["fields"].is_object(), "{st}");
        assert!(st["confirmUrl"].is_string(), "{st}");
        assert_rfc3339_millis_z(&st["expiresAt"], "expiresAt");
    } else {
        assert!(st.get("fields").is_none_or(Value::is_null), "{st}");
        assert_eq!(st["confirmRequired"], false);
    }
}

#[tokio::test]
async fn req11_upload_strategy_shape() {
    let local = TestServer::start(Store::Sqlite).await;
    let s3 = TestServer::start_s3(Store::Sqlite, true, &[]).await;
    for (s, method) in [(&local, "direct"), (&s3, "presigned")] {
        let b = bucket_name("r11");
        s.create_bucket(&b, false).await;
        // Swift and Kotlin send filename, contentType and size.
        for body in [
            json!({ "filename": "a/b c.txt", "contentType": "text/plain", "size": 3 }),
            json!({ "filename": "no-type.bin" }),
        ] {
            let st = upload_strategy(s, &b, body, &s.user("alice")).await;
            assert_eq!(st["method"], method);
            assert_strategy_shape(&st);
        }
    }
}

// ---------------------------------------------------------------------------------------
// 12. StorageFile typing wherever one is returned.
// ---------------------------------------------------------------------------------------

async fn req12_storage_file_typing(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("r12");
    s.create_bucket(&b, false).await;
    let alice = s.user("alice");
    let put = with_form(
        s.client
            .put(s.storage(&format!("/buckets/{b}/objects/a/one.txt"))),
        kotlin_form("one.txt", "text/plain", b"one"),
    );
    let post = with_form(
        s.client
            .post(s.storage(&format!("/buckets/{b}/objects/a/two"))),
        swift_form("file", "application/octet-stream", b"\x00\x01binary"),
    );
    let auto = with_form(
        s.client.post(s.storage(&format!("/buckets/{b}/objects"))),
        kotlin_form("three.bin", "application/octet-stream", b""),
    );
    for (rb, status) in [(put, 200), (post, 200), (auto, 201)] {
        let f = json_ok(rb.bearer_auth(&alice).send().await.unwrap(), status).await;
        assert_storage_file(&f);
    }
    let r = s
        .client
        .post(s.storage(&format!("/buckets/{b}/objects/a/one.txt/confirm-upload")))
        .bearer_auth(&alice)
        .json(&json!({ "size": 3, "contentType": "text/plain" }))
        .send()
        .await
        .unwrap();
    assert_storage_file(&json_ok(r, 200).await);
    let page = json_ok(s.list(&b, "limit=100&offset=0", Some(&alice)).await, 200).await;
    let items = page["data"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    items.iter().for_each(assert_storage_file);
}

// ---------------------------------------------------------------------------------------
// 13. Every timestamp is RFC 3339 UTC with three fractional digits and `Z`.
// ---------------------------------------------------------------------------------------

async fn req13_timestamps_rfc3339_millis_z(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("r13");
    s.create_bucket(&b, false).await;
    let f = json_ok(
        s.put(&b, "t/a.txt", b"a".to_vec(), Some(API_KEY)).await,
        200,
    )
    .await;
    assert_rfc3339_millis_z(&f["uploadedAt"], "upload uploadedAt");

    let page = json_ok(s.list(&b, "", Some(API_KEY)).await, 200).await;
    assert_rfc3339_millis_z(&page["data"][0]["uploadedAt"], "list uploadedAt");
    let r = s
        .client
        .post(s.storage(&format!("/buckets/{b}/objects/t/a.txt/confirm-upload")))
        .bearer_auth(API_KEY)
        .json(&json!({ "size": 1 }))
        .send()
        .await
        .unwrap();
    assert_rfc3339_millis_z(&json_ok(r, 200).await["uploadedAt"], "confirm uploadedAt");

    let buckets = json_ok(
        s.admin(s.client.get(s.storage("/buckets")))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    for item in buckets.as_array().unwrap() {
        assert_rfc3339_millis_z(&item["createdAt"], "bucket createdAt");
    }
    let config = json_ok(
        s.admin(s.client.get(s.storage("/config")))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_rfc3339_millis_z(&config["createdAt"], "config createdAt");
    assert_rfc3339_millis_z(&config["updatedAt"], "config updatedAt");

    let st = json_ok(
        legacy_strategy(&s, &b, "t/a.txt", 3600, Some(API_KEY)).await,
        200,
    )
    .await;
    assert_rfc3339_millis_z(&st["expiresAt"], "strategy expiresAt");
}

// ---------------------------------------------------------------------------------------
// 14. List: pagination, unknown parameters, prefix == key first, `+`, no caching.
// ---------------------------------------------------------------------------------------

async fn req14_list_response(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("r14");
    s.create_bucket(&b, false).await;
    let keys = [
        "photos/a_b.png",
        "photos/a_b.png.bak",
        "photos/a_b.png-2",
        "photos/aXb.png",
        "photos/A_b.png",
        "photos/a%b.png",
        "photos/a%b.png~",
        "photos/axb%.png",
        "photos/my summer.png",
    ];
    for k in keys {
        assert_eq!(
            s.put(&b, k, b"p".to_vec(), Some(API_KEY)).await.status(),
            200
        );
    }
    let list = |query: String| {
        kotlin_json(
            s.client
                .get(s.storage(&format!("/buckets/{b}/objects?{query}"))),
        )
        .bearer_auth(API_KEY)
        .send()
    };

    // Kotlin: limit and offset=0 always, plus sortBy, which is ignored.
    let r = list("limit=100&offset=0&sortBy=name".into()).await.unwrap();
    assert_no_store(&r, "list");
    let page = json_ok(r, 200).await;
    let p = &page["pagination"];
    assert!(
        p["offset"].is_u64() && p["limit"].is_u64() && p["total"].is_u64(),
        "{p}"
    );
    assert_eq!(p["total"], keys.len());
    assert_eq!(p["offset"], 0);
    assert_eq!(p["limit"], 100);

    // Swift's lookup after an upload: limit=1&prefix=<key> finds that key first.
    for k in ["photos/a_b.png", "photos/a%b.png", "photos/A_b.png"] {
        let r = list(format!("limit=1&prefix={}", encode(k))).await.unwrap();
        let page = json_ok(r, 200).await;
        assert_eq!(page["data"][0]["key"], k, "prefix {k}");
        assert_eq!(page["data"].as_array().unwrap().len(), 1);
    }
    // `%` and `_` are literal.
    let r = list(format!(
        "limit=100&offset=0&prefix={}",
        encode("photos/a_b")
    ))
    .await
    .unwrap();
    assert_eq!(json_ok(r, 200).await["pagination"]["total"], 3);

    // `+` in a query string is a space (JS and Kotlin encode spaces that way).
    let r = list("limit=100&offset=0&prefix=photos/my+summer".into())
        .await
        .unwrap();
    let page = json_ok(r, 200).await;
    assert_eq!(page["data"][0]["key"], "photos/my summer.png");

    // Strategy responses are not cached either.
    let r = legacy_strategy(&s, &b, "photos/a_b.png", 3600, Some(API_KEY)).await;
    assert_no_store(&r, "legacy download strategy");
    let r = s
        .client
        .get(s.storage(&format!(
            "/buckets/{b}/download-strategy/objects/photos/a_b.png"
        )))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_no_store(&r, "download strategy");
    let r = s
        .client
        .post(s.storage(&format!("/buckets/{b}/upload-strategy")))
        .bearer_auth(API_KEY)
        .json(&json!({ "filename": "photos/new.png", "contentType": "image/png", "size": 1 }))
        .send()
        .await
        .unwrap();
    assert_no_store(&r, "upload strategy");
}

// ---------------------------------------------------------------------------------------
// 15. The error body is exactly the envelope.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req15_error_body_is_exactly_the_envelope() {
    let s = TestServer::start(Store::Sqlite).await;
    let b = bucket_name("r15");
    s.create_bucket(&b, false).await;
    assert_eq!(
        s.put(&b, "a/x.txt", b"x".to_vec(), Some(API_KEY))
            .await
            .status(),
        200
    );
    let obj = s.storage(&format!("/buckets/{b}/objects/a/x.txt"));
    let c = &s.client;
    let cases: Vec<(RequestBuilder, u16, &str)> = vec![
        (
            c.get(s.storage(&format!("/buckets/{b}/objects/a/none")))
                .bearer_auth(API_KEY),
            404,
            "STORAGE_NOT_FOUND",
        ),
        (c.get(s.url("/api/storage/nowhere")), 404, "NOT_FOUND"),
        (c.get(&obj), 401, "AUTH_INVALID_CREDENTIALS"),
        (
            c.get(&obj).bearer_auth(expired("alice")),
            401,
            "AUTH_UNAUTHORIZED",
        ),
        (
            c.get(&obj).bearer_auth("ik_wrong"),
            401,
            "AUTH_INVALID_API_KEY",
        ),
        (
            c.get(s.storage(&format!("/buckets/{b}/objects")))
                .bearer_auth(ANON_KEY),
            403,
            "STORAGE_PERMISSION_DENIED",
        ),
        (
            c.post(s.storage("/buckets"))
                .bearer_auth(s.user("bob"))
                .json(&json!({"bucketName": "x"})),
            403,
            "AUTH_UNAUTHORIZED",
        ),
        (
            c.post(s.storage("/buckets"))
                .bearer_auth(API_KEY)
                .json(&json!({"bucketName": b})),
            409,
            "STORAGE_ALREADY_EXISTS",
        ),
        (
            c.post(s.storage(&format!("/buckets/{b}/upload-strategy")))
                .bearer_auth(API_KEY)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "INVALID_INPUT",
        ),
        (
            c.get(&obj)
                .bearer_auth(API_KEY)
                .header("range", "bytes=100-200"),
            416,
            "STORAGE_INVALID_PARAMETER",
        ),
        (
            kotlin_json(c.post(format!("{obj}/download-strategy")))
                .bearer_auth(API_KEY)
                .body(r#"{"expiresIn": "soon"}"#),
            400,
            "STORAGE_INVALID_PARAMETER",
        ),
    ];
    for (rb, status, code) in cases {
        let r = rb.send().await.unwrap();
        let body = assert_error(r, status, code).await;
        assert!(body["statusCode"].is_u64(), "{body}");
        assert!(
            body.get("nextActions").is_none_or(Value::is_string),
            "{body}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 16. Success statuses are 200/201 with JSON; deletes answer bodies Kotlin can decode.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req16_success_statuses_and_json_content_type() {
    let s = TestServer::start(Store::Sqlite).await;
    let b = bucket_name("r16");
    s.create_bucket(&b, false).await;
    for k in ["d/1.txt", "d/2.txt"] {
        assert_eq!(
            s.put(&b, k, b"x".to_vec(), Some(API_KEY)).await.status(),
            200
        );
    }
    let r = kotlin_json(
        s.client
            .delete(s.storage(&format!("/buckets/{b}/objects/d/1.txt"))),
    )
    .bearer_auth(API_KEY)
    .send()
    .await
    .unwrap();
    let body = json_ok(r, 200).await;
    assert!(body["message"].is_string(), "{body}");

    let r = s
        .client
        .delete(s.storage(&format!("/buckets/{b}/objects")))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(r#"{"keys":["d/2.txt","d/none.txt"]}"#)
        .send()
        .await
        .unwrap();
    let body = json_ok(r, 200).await;
    assert_eq!(
        body,
        json!({ "results": [
            { "key": "d/2.txt", "status": "deleted" },
            { "key": "d/none.txt", "status": "notFound" },
        ] })
    );

    // Every JSON route answers 200 or 201 with a JSON content type.
    let c = &s.client;
    let checks: Vec<(RequestBuilder, u16)> = vec![
        (c.get(s.storage("/buckets")), 200),
        (c.get(s.storage("/config")), 200),
        (
            c.post(s.storage("/buckets"))
                .json(&json!({"bucketName": "r16_new", "isPublic": false})),
            201,
        ),
        (
            c.patch(s.storage("/buckets/r16_new"))
                .json(&json!({"isPublic": true})),
            200,
        ),
        (
            c.get(s.storage(&format!("/buckets/{b}/objects?limit=10&offset=0"))),
            200,
        ),
        (
            c.post(s.storage(&format!("/buckets/{b}/upload-strategy")))
                .json(&json!({"filename": "u.txt"})),
            200,
        ),
        (c.delete(s.storage("/buckets/r16_new")), 200),
    ];
    for (rb, status) in checks {
        let r = s.admin(rb).send().await.unwrap();
        json_ok(r, status).await;
    }
}

// ---------------------------------------------------------------------------------------
// 17. Bucket bodies: public + isPublic, and the fields Kotlin requires.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req17_bucket_bodies_carry_is_public() {
    let s = TestServer::start(Store::Sqlite).await;
    let private = bucket_name("r17p");
    let public = bucket_name("r17o");
    let r = s
        .admin(s.client.post(s.storage("/buckets")))
        .json(&json!({ "bucketName": private, "isPublic": false }))
        .send()
        .await
        .unwrap();
    let created = json_ok(r, 201).await;
    assert!(created["message"].is_string(), "{created}");
    assert_eq!(created["isPublic"], false);
    s.create_bucket(&public, true).await;

    let r = kotlin_json(s.client.get(s.storage("/buckets")))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    let items = json_ok(r, 200).await;
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        assert!(item["name"].is_string(), "{item}");
        assert!(item["public"].is_boolean(), "{item}");
        assert_eq!(item["isPublic"], item["public"], "{item}");
        assert!(item["createdAt"].is_string(), "{item}");
        let want = item["name"] == public.as_str();
        assert_eq!(item["isPublic"], want, "{item}");
    }

    let r = s
        .admin(s.client.patch(s.storage(&format!("/buckets/{private}"))))
        .json(&json!({ "isPublic": true }))
        .send()
        .await
        .unwrap();
    let patched = json_ok(r, 200).await;
    assert!(patched["message"].is_string(), "{patched}");
    assert_eq!(patched["bucket"], private.as_str());
    assert_eq!(patched["isPublic"], true);

    let r = kotlin_json(s.client.delete(s.storage(&format!("/buckets/{private}"))))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert!(json_ok(r, 200).await["message"].is_string());
}

// ---------------------------------------------------------------------------------------
// 18. Path decoding: raw `/` everywhere, `%XX` once as UTF-8, `+` never; base URL prefix.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req18_path_decoding_and_base_prefix() {
    let base = "https://files.example.test/project/v1";
    let s = TestServer::start_with(Store::Sqlite, &[("API_BASE_URL", base)]).await;
    let b = bucket_name("r18");
    s.create_bucket(&b, false).await;
    let alice = s.user("alice");

    // Raw `/`, `%C3%BC` → ü, `%2541` → `%41` (once), `+` stays `+`.
    let path = "dir/sub/%C3%BCber+plus%20space%2541.txt";
    let key = "dir/sub/über+plus space%41.txt";
    let url = s.storage(&format!("/buckets/{b}/objects/{path}"));
    let r = with_form(
        s.client.put(&url),
        kotlin_form("x.txt", "text/plain", b"18"),
    )
    .bearer_auth(&alice)
    .send()
    .await
    .unwrap();
    let f = json_ok(r, 200).await;
    assert_eq!(f["key"], key);
    let prefix = format!("{base}/api/storage/buckets/{b}/objects/{}", encode(key));
    assert!(f["url"].as_str().unwrap().starts_with(&prefix), "{f}");
    let r = with_form(
        s.client.post(&url),
        swift_form("file", "text/plain", b"18!"),
    )
    .bearer_auth(&alice)
    .send()
    .await
    .unwrap();
    assert_eq!(json_ok(r, 200).await["key"], key);

    let r = s.client.get(&url).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"18!");
    // `+` was not a space: that key does not exist.
    let r = s
        .client
        .get(s.storage(&format!(
            "/buckets/{b}/objects/dir/sub/%C3%BCber%20plus%20space%2541.txt"
        )))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;

    let r = kotlin_json(s.client.post(format!("{url}/download-strategy")))
        .bearer_auth(&alice)
        .body(r#"{"expiresIn": 3600}"#)
        .send()
        .await
        .unwrap();
    let st = json_ok(r, 200).await;
    assert!(st["url"].as_str().unwrap().starts_with(&prefix), "{st}");
    let r = s
        .client
        .post(format!("{url}/confirm-upload"))
        .bearer_auth(&alice)
        .json(&json!({ "size": 3, "contentType": "text/plain" }))
        .send()
        .await
        .unwrap();
    assert_eq!(json_ok(r, 200).await["key"], key);
    let st = upload_strategy(&s, &b, json!({ "filename": key }), &alice).await;
    assert_eq!(st["uploadUrl"].as_str().unwrap(), prefix);

    let r = kotlin_json(s.client.delete(&url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_error(s.get(&b, key, Some(&alice)).await, 404, "STORAGE_NOT_FOUND").await;
}

// ---------------------------------------------------------------------------------------
// 19. Bodyless requests with a JSON content type.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req19_bodyless_requests_with_json_content_type() {
    let s = TestServer::start(Store::Sqlite).await;
    let b = bucket_name("r19");
    let gone = bucket_name("r19g");
    s.create_bucket(&b, false).await;
    s.create_bucket(&gone, true).await;
    for k in ["e/1.txt", "e/2.txt"] {
        assert_eq!(
            s.put(&b, k, b"x".to_vec(), Some(API_KEY)).await.status(),
            200
        );
    }
    // Routes that take no body ignore the header and the empty body.
    let c = &s.client;
    let bodyless: Vec<(RequestBuilder, u16)> = vec![
        (c.get(s.storage("/buckets")), 200),
        (c.get(s.storage("/config")), 200),
        (
            c.get(s.storage(&format!("/buckets/{b}/objects?limit=100&offset=0"))),
            200,
        ),
        (
            c.get(s.storage(&format!("/buckets/{b}/objects/e/1.txt"))),
            200,
        ),
        (
            c.head(s.storage(&format!("/buckets/{b}/objects/e/1.txt"))),
            200,
        ),
        (
            c.get(s.storage(&format!("/buckets/{b}/download-strategy/objects/e/1.txt"))),
            200,
        ),
        (
            c.delete(s.storage(&format!("/buckets/{b}/objects/e/1.txt"))),
            200,
        ),
        (c.delete(s.storage(&format!("/buckets/{gone}"))), 200),
    ];
    for (rb, status) in bodyless {
        let r = kotlin_json(rb).bearer_auth(API_KEY).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{}", r.url().path());
    }
    // Optional bodies: empty means `{}`.
    let r =
        kotlin_json(c.post(s.storage(&format!("/buckets/{b}/objects/e/2.txt/download-strategy"))))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
    assert_eq!(json_ok(r, 200).await["method"], "presigned");
    // Required bodies: empty is `{}`, so the field is missing (400), not a JSON error.
    let r = kotlin_json(c.post(s.storage(&format!("/buckets/{b}/upload-strategy"))))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    let body = assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    assert!(
        body["message"].as_str().unwrap().contains("filename"),
        "{body}"
    );
    let r = kotlin_json(c.delete(s.storage(&format!("/buckets/{b}/objects"))))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    let body = assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    assert!(body["message"].as_str().unwrap().contains("keys"), "{body}");
}

// ---------------------------------------------------------------------------------------
// 20. 401 only for credential problems, 403 for permission denials.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req20_401_only_for_credentials_403_for_denials() {
    let s = TestServer::start(Store::Sqlite).await;
    let private = bucket_name("r20p");
    let public = bucket_name("r20o");
    s.create_bucket(&private, false).await;
    s.create_bucket(&public, true).await;
    let alice = s.user("alice");
    let bob = s.user("bob");
    for b in [&private, &public] {
        assert_eq!(
            s.put(b, "alice/a.txt", b"a".to_vec(), Some(&alice))
                .await
                .status(),
            200
        );
    }
    let obj = |b: &str| s.storage(&format!("/buckets/{b}/objects/alice/a.txt"));
    let form = || swift_form("file", "text/plain", b"b");
    let c = &s.client;

    // Credential problems: 401.
    let unauth: Vec<(RequestBuilder, &str)> = vec![
        (c.get(obj(&private)), "AUTH_INVALID_CREDENTIALS"),
        (
            c.get(obj(&private)).bearer_auth(expired("alice")),
            "AUTH_UNAUTHORIZED",
        ),
        (
            c.get(obj(&private)).bearer_auth("not.a.jwt"),
            "AUTH_UNAUTHORIZED",
        ),
        (
            with_form(c.post(obj(&public)), form()).bearer_auth(expired("alice")),
            "AUTH_UNAUTHORIZED",
        ),
        (
            c.get(s.storage("/buckets")).bearer_auth("ik_wrong"),
            "AUTH_INVALID_API_KEY",
        ),
    ];
    for (rb, code) in unauth {
        assert_error(rb.send().await.unwrap(), 401, code).await;
    }

    // Valid credentials without permission: 403 (or 404 where existence is hidden), never 401.
    let denied: Vec<(RequestBuilder, u16)> = vec![
        (
            with_form(c.post(obj(&public)), form()).bearer_auth(&bob),
            403,
        ),
        (
            with_form(c.put(obj(&public)), form()).bearer_auth(&bob),
            403,
        ),
        (
            with_form(c.post(obj(&public)), form()).bearer_auth(ANON_KEY),
            403,
        ),
        (
            c.get(s.storage(&format!("/buckets/{public}/objects")))
                .bearer_auth(ANON_KEY),
            403,
        ),
        (c.get(s.storage("/buckets")).bearer_auth(&alice), 403),
        (
            c.post(s.storage("/buckets"))
                .bearer_auth(&alice)
                .json(&json!({"bucketName": "nope"})),
            403,
        ),
        // Unlike InsForge (401, CONTRACT §0.4): the anon key is a valid credential.
        (c.get(s.storage("/config")).bearer_auth(ANON_KEY), 403),
        (c.get(obj(&private)).bearer_auth(&bob), 404),
        (c.delete(obj(&private)).bearer_auth(&bob), 404),
    ];
    for (i, (rb, status)) in denied.into_iter().enumerate() {
        let r = rb.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "case {i}");
        let body: Value = r.json().await.unwrap();
        let code = body["error"].as_str().unwrap_or_default();
        assert!(
            code.contains("PERMISSION")
                || code.contains("UNAUTHORIZED")
                || code.contains("FORBIDDEN")
                || code == "STORAGE_NOT_FOUND",
            "case {i}: {body}"
        );
        assert_eq!(body["statusCode"], status, "case {i}: {body}");
    }
    // Nothing bob or anon sent was stored.
    let r = s.get(&public, "alice/a.txt", None).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"a");
}

// ---------------------------------------------------------------------------------------
// 21. Kotlin's x-upsert and x-metadata headers never cause an error.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn req21_tolerates_x_upsert_and_x_metadata() {
    let s = TestServer::start(Store::Sqlite).await;
    let b = bucket_name("r21");
    s.create_bucket(&b, false).await;
    let alice = s.user("alice");
    let url = s.storage(&format!("/buckets/{b}/objects/m/doc.txt"));
    let headers = |rb: RequestBuilder| {
        rb.bearer_auth(&alice)
            .header("x-upsert", "true")
            .header("x-metadata", r#"{"owner":"alice","tags":["a","b"],"n":1}"#)
    };
    // Create with PUT, replace with PUT and with POST: uploads always replace.
    let mut expect = Vec::new();
    for (i, method) in [
        reqwest::Method::PUT,
        reqwest::Method::PUT,
        reqwest::Method::POST,
    ]
    .into_iter()
    .enumerate()
    {
        let bytes = format!("version {i}").into_bytes();
        let r = headers(with_form(
            s.client.request(method, &url),
            kotlin_form("doc.txt", "text/plain", &bytes),
        ))
        .send()
        .await
        .unwrap();
        assert_eq!(json_ok(r, 200).await["key"], "m/doc.txt");
        expect = bytes;
    }
    let r = s.get(&b, "m/doc.txt", Some(&alice)).await;
    assert_eq!(r.bytes().await.unwrap().to_vec(), expect);
    let r = headers(with_form(
        s.client.post(s.storage(&format!("/buckets/{b}/objects"))),
        kotlin_form("auto.txt", "text/plain", b"auto"),
    ))
    .send()
    .await
    .unwrap();
    json_ok(r, 201).await;
    let page = json_ok(s.list(&b, "", Some(API_KEY)).await, 200).await;
    assert_eq!(page["pagination"]["total"], 2);
}

/// Swift waits for `Retry-After` before retrying on 429. Coffer answers 429 when more uploads
/// than `COFFER_MAX_CONCURRENT_UPLOADS` stream at once.
#[tokio::test]
async fn req22_retry_after_on_429() {
    let s = TestServer::start_with(Store::Sqlite, &[("COFFER_MAX_CONCURRENT_UPLOADS", "1")]).await;
    let b = bucket_name("req22");
    s.create_bucket(&b, true).await;

    // A slow upload holds the one slot: its body arrives in two halves, 3 s apart. On a loaded
    // machine a probe could take the slot first (then the slow upload is the one refused), so
    // the scenario is tried up to three times.
    let body = crate::common::multipart_body(&[("file", Some("slow.bin"), &[7u8; 64 * 1024])]);
    let (first, second) = body.split_at(body.len() / 2);
    let (first, second) = (first.to_vec(), second.to_vec());
    let mut refused = None;
    for attempt in 0..3 {
        let (first, second) = (first.clone(), second.clone());
        let stream = futures::StreamExt::then(futures::stream::iter([0u8, 1]), move |i| {
            let part = if i == 0 {
                first.clone()
            } else {
                second.clone()
            };
            async move {
                if i == 1 {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
                Ok::<_, std::io::Error>(part)
            }
        });
        let slow = s
            .client
            .put(s.storage(&format!("/buckets/{b}/objects/slow.bin")))
            .bearer_auth(API_KEY)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={}", crate::common::BOUNDARY),
            )
            .body(reqwest::Body::wrap_stream(stream))
            .send();
        let slow = tokio::spawn(slow);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let key = format!("probe-{attempt}.bin");
        let r = s.put(&b, &key, b"x".to_vec(), Some(API_KEY)).await;
        let slow_status = slow.await.unwrap().unwrap().status();
        if r.status().as_u16() == 429 {
            assert_eq!(slow_status, StatusCode::OK, "the slot holder completes");
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("no upload was refused while the slot was held");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_error(r, 429, "TOO_MANY_REQUESTS").await;

    // The slot is free again: the retry succeeds.
    let r = s
        .put(&b, "second.bin", b"second".to_vec(), Some(API_KEY))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

both_stores!(
    req01_post_to_exact_key_uploads,
    req12_storage_file_typing,
    req13_timestamps_rfc3339_millis_z,
    req14_list_response,
);
