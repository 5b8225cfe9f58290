//! Routes 13–16: upload strategy, confirm-upload, download strategy (GET and legacy POST),
//! and the signed URLs private buckets get.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::all_backends;
use crate::common::{ANON_KEY, API_KEY, Store, TestServer, assert_error, bucket_name, encode};

async fn strategy(s: &TestServer, b: &str, body: Value, bearer: Option<&str>) -> reqwest::Response {
    let mut rb = s
        .client
        .post(s.storage(&format!("/buckets/{b}/upload-strategy")))
        .json(&body);
    if let Some(t) = bearer {
        rb = rb.bearer_auth(t);
    }
    rb.send().await.unwrap()
}

async fn upload_strategy(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("up");
    s.create_bucket(&b, false).await;
    let alice = s.user("alice");

    let r = strategy(
        &s,
        &b,
        json!({ "filename": "dir/a b+c.txt", "contentType": "text/plain", "size": 10 }),
        Some(&alice),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    let url = s.storage(&format!("/buckets/{b}/objects/dir%2Fa%20b%2Bc.txt"));
    assert_eq!(
        body,
        json!({ "method": "direct", "uploadUrl": url, "key": "dir/a b+c.txt", "confirmRequired": false })
    );
    assert!(url.starts_with("http://127.0.0.1:"), "absolute: {url}");

    // The uploadUrl is where the bytes go.
    let part = reqwest::multipart::Part::bytes(b"via strategy".to_vec()).file_name("a.txt");
    let form = reqwest::multipart::Form::new().part("file", part);
    let r = s
        .client
        .put(&url)
        .bearer_auth(&alice)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.get(&b, "dir/a b+c.txt", Some(&alice)).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"via strategy");

    // Declared sizes are checked against the limit up front.
    let r = s
        .admin(s.client.put(s.storage("/config")))
        .json(&json!({ "maxFileSizeMb": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = strategy(
        &s,
        &b,
        json!({ "filename": "big.bin", "size": 1048577 }),
        Some(&alice),
    )
    .await;
    let e = assert_error(r, 413, "STORAGE_INVALID_PARAMETER").await;
    assert_eq!(e["message"], "File too large. Maximum upload size is 1 MB.");
    let r = strategy(
        &s,
        &b,
        json!({ "filename": "big.bin", "size": 1048576 }),
        Some(&alice),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    let refused: Vec<(Value, Option<&str>, u16, &str)> = vec![
        (json!({}), Some(&alice), 400, "STORAGE_INVALID_PARAMETER"),
        (
            json!({ "filename": "" }),
            Some(&alice),
            400,
            "STORAGE_INVALID_PARAMETER",
        ),
        (
            json!({ "filename": 7 }),
            Some(&alice),
            400,
            "STORAGE_INVALID_PARAMETER",
        ),
        (
            json!({ "filename": "a/../b" }),
            Some(&alice),
            400,
            "STORAGE_INVALID_PARAMETER",
        ),
        (
            json!({ "filename": "/abs" }),
            Some(&alice),
            400,
            "STORAGE_INVALID_PARAMETER",
        ),
        (
            json!({ "filename": "x" }),
            None,
            401,
            "AUTH_INVALID_CREDENTIALS",
        ),
        (
            json!({ "filename": "x" }),
            Some(ANON_KEY),
            403,
            "STORAGE_PERMISSION_DENIED",
        ),
        // Bob may not replace alice's object.
        (
            json!({ "filename": "dir/a b+c.txt" }),
            Some("BOB"),
            403,
            "STORAGE_PERMISSION_DENIED",
        ),
    ];
    let bob = s.user("bob");
    for (body, bearer, status, code) in refused {
        let bearer = bearer.map(|t| if t == "BOB" { bob.as_str() } else { t });
        assert_error(strategy(&s, &b, body, bearer).await, status, code).await;
    }
    let missing = bucket_name("missing");
    let r = strategy(&s, &missing, json!({ "filename": "x" }), Some(API_KEY)).await;
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
    // A strategy alone stores nothing.
    let page: Value = s.list(&b, "", Some(API_KEY)).await.json().await.unwrap();
    assert_eq!(page["pagination"]["total"], 1);
}

async fn confirm_upload(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("conf");
    s.create_bucket(&b, false).await;
    let alice = s.user("alice");
    assert_eq!(
        s.put(&b, "dir/c.txt", b"confirmed".to_vec(), Some(&alice))
            .await
            .status(),
        200
    );
    let confirm = |key: &str| {
        s.client
            .post(s.storage(&format!("/buckets/{b}/objects/{key}/confirm-upload")))
            .json(&json!({ "size": 9 }))
    };

    let r = confirm("dir%2Fc.txt")
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let file: Value = r.json().await.unwrap();
    assert_eq!(file["key"], "dir/c.txt");
    assert_eq!(file["size"], 9);
    assert_eq!(file["bucket"], b.as_str());
    let r = confirm("dir/c.txt")
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let r = confirm("never.txt")
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let e = assert_error(r, 404, "STORAGE_NOT_FOUND").await;
    assert_eq!(
        e["message"],
        format!("Upload not found for key \"never.txt\" in bucket \"{b}\"")
    );
    let r = confirm("dir%2Fc.txt")
        .bearer_auth(s.user("bob"))
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
    let r = confirm("dir%2Fc.txt").send().await.unwrap();
    assert_error(r, 401, "AUTH_INVALID_CREDENTIALS").await;
}

async fn download_strategy(store: Store) {
    let s = TestServer::start(store).await;
    let (pb, vb) = (bucket_name("pub"), bucket_name("priv"));
    s.create_bucket(&pb, true).await;
    s.create_bucket(&vb, false).await;
    let alice = s.user("alice");
    for b in [&pb, &vb] {
        assert_eq!(
            s.put(b, "d/f 1.txt", b"strategy bytes".to_vec(), Some(&alice))
                .await
                .status(),
            200
        );
    }
    let get_strategy = |b: &str, key: &str, query: &str| {
        s.client.get(s.storage(&format!(
            "/buckets/{b}/download-strategy/objects/{key}{query}"
        )))
    };

    // Public: the plain object URL, no credentials needed anywhere.
    for key in ["d%2Ff%201.txt", "d/f%201.txt"] {
        let r = get_strategy(&pb, key, "").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["method"], "direct");
        assert!(body.get("expiresAt").is_none(), "{body}");
        let url = body["url"].as_str().unwrap();
        let plain = s.storage(&format!("/buckets/{pb}/objects/d%2Ff%201.txt?v="));
        assert!(url.starts_with(&plain), "{url}");
        let r = s.client.get(url).send().await.unwrap();
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"strategy bytes");
    }

    // Private: a signed URL that needs no Authorization header.
    let before = chrono::Utc::now();
    let r = get_strategy(&vb, "d%2Ff%201.txt", "?expiresIn=120")
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["method"], "presigned");
    let at = chrono::DateTime::parse_from_rfc3339(body["expiresAt"].as_str().unwrap()).unwrap();
    let ttl = (at.with_timezone(&chrono::Utc) - before).num_seconds();
    assert!((118..=122).contains(&ttl), "ttl {ttl}");
    let url = body["url"].as_str().unwrap().to_string();
    assert!(url.contains("?token="), "{url}");
    let r = s.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"strategy bytes");

    // A tampered or misapplied token is refused.
    let (head, token) = url.split_once("?token=").unwrap();
    let last = token.chars().last().unwrap();
    let tampered = format!(
        "{head}?token={}{}",
        &token[..token.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    assert_error(
        s.client.get(&tampered).send().await.unwrap(),
        403,
        "STORAGE_PERMISSION_DENIED",
    )
    .await;
    let other = s.storage(&format!("/buckets/{vb}/objects/other?token={token}"));
    assert_eq!(
        s.put(&vb, "other", b"o".to_vec(), Some(API_KEY))
            .await
            .status(),
        200
    );
    assert_error(
        s.client.get(&other).send().await.unwrap(),
        403,
        "STORAGE_PERMISSION_DENIED",
    )
    .await;
    let junk = format!("{head}?token=garbage");
    assert_error(
        s.client.get(&junk).send().await.unwrap(),
        403,
        "STORAGE_PERMISSION_DENIED",
    )
    .await;

    // Single-use URLs work once.
    let r = get_strategy(&vb, "d/f%201.txt", "?singleUse=true")
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let url = r.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.client.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_error(
        s.client.get(&url).send().await.unwrap(),
        403,
        "STORAGE_PERMISSION_DENIED",
    )
    .await;

    // Errors: bad expiresIn, missing object (404 wins over a bad expiresIn), access.
    let r = get_strategy(&vb, "d%2Ff%201.txt", "?expiresIn=abc")
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let e = assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    assert_eq!(e["message"], "expiresIn must be a finite number of seconds");
    let r = get_strategy(&vb, "nope", "?expiresIn=abc")
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
    let r = get_strategy(&pb, "nope", "").send().await.unwrap();
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
    let r = get_strategy(&vb, "d%2Ff%201.txt", "").send().await.unwrap();
    assert_error(r, 401, "AUTH_INVALID_CREDENTIALS").await;
    let r = get_strategy(&vb, "d%2Ff%201.txt", "")
        .bearer_auth(s.user("bob"))
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
    let r = get_strategy(&vb, "d%2Ff%201.txt", "")
        .bearer_auth(ANON_KEY)
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
}

async fn legacy_download_strategy(store: Store) {
    let s = TestServer::start(store).await;
    let (pb, vb) = (bucket_name("pub"), bucket_name("priv"));
    s.create_bucket(&pb, true).await;
    s.create_bucket(&vb, false).await;
    for b in [&pb, &vb] {
        assert_eq!(
            s.put(b, "a/b.txt", b"legacy".to_vec(), Some(API_KEY))
                .await
                .status(),
            200
        );
    }
    let post = |b: &str, key: &str| {
        s.client
            .post(s.storage(&format!("/buckets/{b}/objects/{key}/download-strategy")))
    };

    for key in ["a%2Fb.txt", "a/b.txt"] {
        let r = post(&pb, key).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{key}");
        assert_eq!(r.json::<Value>().await.unwrap()["method"], "direct");

        let before = chrono::Utc::now();
        let r = post(&vb, key)
            .bearer_auth(API_KEY)
            .json(&json!({ "expiresIn": 300 }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{key}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["method"], "presigned");
        let at = chrono::DateTime::parse_from_rfc3339(body["expiresAt"].as_str().unwrap()).unwrap();
        let ttl = (at.with_timezone(&chrono::Utc) - before).num_seconds();
        assert!((298..=302).contains(&ttl), "ttl {ttl}");
        let r = s
            .client
            .get(body["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"legacy");
    }
    let r = post(&vb, "a%2Fb.txt")
        .bearer_auth(API_KEY)
        .json(&json!({ "expiresIn": "abc" }))
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    let query = format!("/buckets/{vb}/objects/a%2Fb.txt/download-strategy?expiresIn=x");
    let r = s
        .client
        .post(s.storage(&query))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    let r = post(&vb, "missing")
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
    let r = post(&vb, "a%2Fb.txt").send().await.unwrap();
    assert_error(r, 401, "AUTH_INVALID_CREDENTIALS").await;
    // The suffix is recognised only after a literal slash: encoded, it is part of the key, so
    // this is an upload to that key without a file.
    let path = format!(
        "/buckets/{vb}/objects/{}",
        encode("a/b.txt/download-strategy")
    );
    let r = s
        .client
        .post(s.storage(&path))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    let e = assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    assert_eq!(e["message"], "File is required");
}

all_backends!(
    upload_strategy,
    confirm_upload,
    download_strategy,
    legacy_download_strategy
);

/// Inputs that used to be quietly reinterpreted are refused: a negative declared size, a
/// `singleUse` that is neither true nor false, and a confirm body that is not JSON.
#[tokio::test]
async fn strategy_inputs_are_validated() {
    let s = TestServer::start(Store::Sqlite).await;
    let b = bucket_name("valid");
    s.create_bucket(&b, false).await;
    assert_eq!(
        s.put(&b, "k.txt", b"x".to_vec(), Some(API_KEY))
            .await
            .status(),
        StatusCode::OK
    );
    let r = s
        .client
        .post(s.storage(&format!("/buckets/{b}/upload-strategy")))
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({ "filename": "n.txt", "size": -1 }))
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    let r = s
        .client
        .get(s.storage(&format!(
            "/buckets/{b}/download-strategy/objects/k.txt?singleUse=maybe"
        )))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    let r = s
        .client
        .post(s.storage(&format!("/buckets/{b}/objects/k.txt/confirm-upload")))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "INVALID_INPUT").await;
}
