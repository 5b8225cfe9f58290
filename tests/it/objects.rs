//! Routes 9, 11 and 12: upload with a server-chosen key, batch delete, single delete.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::all_backends;
use crate::common::{ANON_KEY, API_KEY, Store, TestServer, assert_error, bucket_name};

async fn post_auto(s: &TestServer, b: &str, part: Part, bearer: Option<&str>) -> reqwest::Response {
    let mut rb = s
        .client
        .post(s.storage(&format!("/buckets/{b}/objects")))
        .multipart(Form::new().part("file", part));
    if let Some(t) = bearer {
        rb = rb.bearer_auth(t);
    }
    rb.send().await.unwrap()
}

/// Checks `<base>-<ms>-<rand><ext>` and returns the milliseconds.
fn key_shape(key: &str, base: &str, ext: &str) -> i64 {
    let rest = key
        .strip_prefix(base)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.strip_suffix(ext))
        .unwrap_or_else(|| panic!("{key} is not {base}-…{ext}"));
    let (ms, rand) = rest.split_once('-').expect("ms-rand");
    assert_eq!(ms.len(), 13, "{key}");
    assert!(ms.bytes().all(|c| c.is_ascii_digit()), "{key}");
    assert_eq!(rand.len(), 6, "{key}");
    assert!(
        rand.bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()),
        "{key}"
    );
    ms.parse().unwrap()
}

async fn auto_key_upload(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("auto");
    s.create_bucket(&b, false).await;
    let before = chrono::Utc::now().timestamp_millis();

    let pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n".to_vec();
    let part = Part::bytes(pdf.clone()).file_name("My Report (final).pdf");
    let r = post_auto(&s, &b, part, Some(API_KEY)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let file: Value = r.json().await.unwrap();
    let key = file["key"].as_str().unwrap().to_string();
    let ms = key_shape(&key, "My-Report--final-", ".pdf");
    assert!(
        ms >= before && ms <= chrono::Utc::now().timestamp_millis(),
        "{key}"
    );
    assert_eq!(file["bucket"], b.as_str());
    assert_eq!(file["size"], pdf.len());
    assert_eq!(file["mimeType"], "application/pdf");
    assert!(
        file["url"]
            .as_str()
            .unwrap()
            .starts_with(&s.storage(&format!("/buckets/{b}/objects/")))
    );
    let r = s.get(&b, &key, Some(API_KEY)).await;
    assert_eq!(r.bytes().await.unwrap().to_vec(), pdf);

    // No filename: "file"; a path in the filename keeps only its last part.
    let r = post_auto(&s, &b, Part::bytes(b"x".to_vec()), Some(&s.user("alice"))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let key = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    key_shape(&key, "file", "");
    let part = Part::bytes(b"x".to_vec()).file_name("../../etc/passwd");
    let r = post_auto(&s, &b, part, Some(API_KEY)).await;
    let key = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    key_shape(&key, "passwd", "");

    // Two uploads of the same name get different keys.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3 {
        let part = Part::bytes(b"same".to_vec()).file_name("same.txt");
        let r = post_auto(&s, &b, part, Some(API_KEY)).await;
        assert!(
            seen.insert(
                r.json::<Value>().await.unwrap()["key"]
                    .as_str()
                    .unwrap()
                    .to_string()
            )
        );
    }

    let part = || Part::bytes(b"x".to_vec()).file_name("a.txt");
    assert_error(
        post_auto(&s, &b, part(), None).await,
        401,
        "AUTH_INVALID_CREDENTIALS",
    )
    .await;
    assert_error(
        post_auto(&s, &b, part(), Some(ANON_KEY)).await,
        403,
        "STORAGE_PERMISSION_DENIED",
    )
    .await;
    let missing = bucket_name("missing");
    assert_error(
        post_auto(&s, &missing, part(), Some(API_KEY)).await,
        404,
        "STORAGE_NOT_FOUND",
    )
    .await;
    let page: Value = s.list(&b, "", Some(API_KEY)).await.json().await.unwrap();
    assert_eq!(page["pagination"]["total"], 6);
}

async fn batch(s: &TestServer, b: &str, body: Value, bearer: Option<&str>) -> reqwest::Response {
    let mut rb = s
        .client
        .delete(s.storage(&format!("/buckets/{b}/objects")))
        .header("content-type", "application/json;charset=UTF-8")
        .body(body.to_string());
    if let Some(t) = bearer {
        rb = rb.bearer_auth(t);
    }
    rb.send().await.unwrap()
}

async fn exists(s: &TestServer, b: &str, key: &str) -> bool {
    s.get(b, key, Some(API_KEY)).await.status() == StatusCode::OK
}

async fn batch_delete(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("batch");
    s.create_bucket(&b, false).await;
    let alice = s.user("alice");
    for k in ["k1", "k2", "k3", "dir/k4"] {
        assert_eq!(
            s.put(&b, k, k.as_bytes().to_vec(), Some(&alice))
                .await
                .status(),
            200
        );
    }
    assert_eq!(s.object_files(&b).len(), 4);

    // Refused requests delete nothing.
    let refused: Vec<(Value, Option<&str>, u16, &str)> = vec![
        (
            json!({ "keys": [] }),
            Some(API_KEY),
            400,
            "STORAGE_INVALID_PARAMETER",
        ),
        (json!({}), Some(API_KEY), 400, "STORAGE_INVALID_PARAMETER"),
        (
            json!({ "keys": "k1" }),
            Some(API_KEY),
            400,
            "STORAGE_INVALID_PARAMETER",
        ),
        (
            json!({ "keys": ["k1", ""] }),
            Some(API_KEY),
            400,
            "STORAGE_INVALID_PARAMETER",
        ),
        (
            json!({ "keys": ["k1", "../k2"] }),
            Some(API_KEY),
            400,
            "STORAGE_INVALID_PARAMETER",
        ),
        (
            json!({ "keys": ["k1", "/k2"] }),
            Some(API_KEY),
            400,
            "STORAGE_INVALID_PARAMETER",
        ),
        (
            json!({ "keys": ["k1"] }),
            None,
            401,
            "AUTH_INVALID_CREDENTIALS",
        ),
        (
            json!({ "keys": ["k1"] }),
            Some(ANON_KEY),
            403,
            "STORAGE_PERMISSION_DENIED",
        ),
        (
            json!({ "keys": ["k1"] }),
            Some("bad"),
            401,
            "AUTH_UNAUTHORIZED",
        ),
    ];
    for (body, bearer, status, code) in refused {
        assert_error(batch(&s, &b, body, bearer).await, status, code).await;
    }
    let too_many: Vec<String> = (0..1001).map(|i| format!("n{i}")).collect();
    let r = batch(&s, &b, json!({ "keys": too_many }), Some(API_KEY)).await;
    assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    assert!(exists(&s, &b, "k1").await);

    // Bob sees none of alice's objects.
    let r = batch(
        &s,
        &b,
        json!({ "keys": ["k1", "k2"] }),
        Some(&s.user("bob")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "results": [
            { "key": "k1", "status": "notFound" },
            { "key": "k2", "status": "notFound" },
        ]})
    );
    assert!(exists(&s, &b, "k1").await && exists(&s, &b, "k2").await);

    // Alice deletes hers; duplicates collapse, first-seen order kept.
    let r = batch(
        &s,
        &b,
        json!({ "keys": ["k2", "nope", "k1", "k2", "dir/k4"] }),
        Some(&alice),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "results": [
            { "key": "k2", "status": "deleted" },
            { "key": "nope", "status": "notFound" },
            { "key": "k1", "status": "deleted" },
            { "key": "dir/k4", "status": "deleted" },
        ]})
    );
    for k in ["k1", "k2", "dir/k4"] {
        assert!(!exists(&s, &b, k).await, "{k}");
    }
    assert!(exists(&s, &b, "k3").await);
    assert_eq!(s.object_files(&b).len(), 1, "deleted bytes stay on disk");

    // Exactly 1000 keys is fine.
    let mut keys: Vec<String> = (0..999).map(|i| format!("n{i}")).collect();
    keys.push("k3".into());
    let r = batch(&s, &b, json!({ "keys": keys }), Some(API_KEY)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let results = r.json::<Value>().await.unwrap()["results"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(results.len(), 1000);
    assert_eq!(results[999], json!({ "key": "k3", "status": "deleted" }));
    assert!(results[..999].iter().all(|r| r["status"] == "notFound"));
    assert!(s.object_files(&b).is_empty());

    let missing = bucket_name("missing");
    let r = batch(&s, &missing, json!({ "keys": ["a"] }), Some(API_KEY)).await;
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
}

async fn single_delete(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("single");
    s.create_bucket(&b, true).await;
    assert_eq!(
        s.put(&b, "dir/x.txt", b"x".to_vec(), Some(API_KEY))
            .await
            .status(),
        200
    );
    assert_eq!(
        s.put(&b, "keep", b"k".to_vec(), Some(API_KEY))
            .await
            .status(),
        200
    );

    let r = s.delete(&b, "dir/x.txt", Some(API_KEY)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "message": "Object deleted successfully" })
    );
    assert_eq!(s.object_files(&b).len(), 1);
    assert_error(s.get(&b, "dir/x.txt", None).await, 404, "STORAGE_NOT_FOUND").await;
    let r = s.delete(&b, "dir/x.txt", Some(API_KEY)).await;
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
    let r = s.delete(&b, "never", Some(&s.user("alice"))).await;
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
    let r = s.delete(&b, "keep", Some(&s.user("alice"))).await;
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
    let r = s
        .admin(
            s.client
                .delete(s.storage(&format!("/buckets/{b}/objects/"))),
        )
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    assert_eq!(s.get(&b, "keep", None).await.status(), 200);
}

all_backends!(auto_key_upload, batch_delete, single_delete);
