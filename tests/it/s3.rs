//! The S3 backend against a real S3-compatible server (s3s-fs): presigned POST + confirm,
//! the policy's limits, the sweeper, presigned and proxied downloads, bucket deletion.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_stores;
use crate::common::{API_KEY, Store, TestServer, assert_error, bucket_name, encode};
use crate::s3_server::S3Server;

async fn strategy(s: &TestServer, bucket: &str, body: Value, bearer: &str) -> Value {
    let r = s
        .client
        .post(s.storage(&format!("/buckets/{bucket}/upload-strategy")))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// POSTs the form as the SDKs do: every field first, the file last, no credentials.
async fn post_form(
    s: &TestServer,
    strategy: &Value,
    bytes: Vec<u8>,
    content_type: &str,
) -> StatusCode {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in strategy["fields"].as_object().expect("fields") {
        let v = if k == "Content-Type" {
            content_type.to_string()
        } else {
            v.as_str().unwrap().to_string()
        };
        form = form.text(k.clone(), v);
    }
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("upload.bin")
        .mime_str(content_type)
        .unwrap();
    form = form.part("file", part);
    let url = strategy["uploadUrl"].as_str().unwrap();
    s.client
        .post(url)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .status()
}

async fn confirm(s: &TestServer, strategy: &Value, size: usize, bearer: &str) -> reqwest::Response {
    let url = s.url(strategy["confirmUrl"].as_str().expect("confirmUrl"));
    s.client
        .post(url)
        .bearer_auth(bearer)
        .json(&json!({ "size": size, "contentType": "text/plain" }))
        .send()
        .await
        .unwrap()
}

async fn presigned_upload_confirm_download(store: Store) {
    let s = TestServer::start_s3(store, true, &[]).await;
    let b = bucket_name("s3p");
    s.create_bucket(&b, false).await;
    let alice = s.user("alice");
    let key = "dir/report one+ü.txt";
    let body = b"presigned bytes".to_vec();

    let st = strategy(
        &s,
        &b,
        json!({ "filename": key, "contentType": "text/plain", "size": body.len() }),
        &alice,
    )
    .await;
    assert_eq!(st["method"], "presigned");
    assert_eq!(st["confirmRequired"], true);
    assert_eq!(st["key"], key);
    assert!(st["expiresAt"].is_string());
    assert_eq!(
        st["confirmUrl"],
        format!(
            "/api/storage/buckets/{b}/objects/{}/confirm-upload",
            encode(key)
        )
    );

    // Nothing to confirm before the bytes are there.
    let r = confirm(&s, &st, body.len(), &alice).await;
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;

    let status = post_form(&s, &st, body.clone(), "text/plain").await;
    assert!(status.is_success(), "S3 POST answered {status}");

    // Only the caller the upload was issued to may confirm it.
    let r = confirm(&s, &st, body.len(), &s.user("bob")).await;
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;

    let r = confirm(&s, &st, body.len(), &alice).await;
    assert_eq!(r.status(), StatusCode::OK);
    let file: Value = r.json().await.unwrap();
    assert_eq!(file["key"], key);
    assert_eq!(file["size"], body.len());
    assert_eq!(file["mimeType"], "text/plain");

    // The object route redirects to a presigned S3 URL that needs no credentials.
    let r = s.get(&b, key, Some(&alice)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&s.s3.as_ref().unwrap().endpoint),
        "{location}"
    );
    assert!(location.contains("X-Amz-Signature"), "{location}");
    let fetched = reqwest::get(&location).await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), body);

    // Private download strategy: presigned, fetchable with no credentials; a tampered one is not.
    let r = s
        .client
        .get(s.storage(&format!(
            "/buckets/{b}/download-strategy/objects/{}?expiresIn=120",
            encode(key)
        )))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let ds: Value = r.json().await.unwrap();
    assert_eq!(ds["method"], "presigned");
    let url = ds["url"].as_str().unwrap();
    assert!(url.contains("X-Amz-Expires=120"), "{url}");
    assert_eq!(
        reqwest::get(url)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec(),
        body
    );
    let tampered = url.replace("X-Amz-Expires=120", "X-Amz-Expires=121");
    assert_eq!(
        reqwest::get(&tampered).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    // Listing shows it, exactly once.
    let page: Value = s.list(&b, "", Some(&alice)).await.json().await.unwrap();
    assert_eq!(page["pagination"]["total"], 1);
}

async fn policy_limits_are_enforced_by_s3(store: Store) {
    let s = TestServer::start_s3(store, true, &[]).await;
    let b = bucket_name("s3l");
    s.create_bucket(&b, true).await;

    // Declared 10 bytes: 11 are refused by S3 itself.
    let st = strategy(
        &s,
        &b,
        json!({ "filename": "small.txt", "contentType": "text/plain", "size": 10 }),
        API_KEY,
    )
    .await;
    let status = post_form(&s, &st, vec![b'x'; 11], "text/plain").await;
    assert!(status.is_client_error(), "oversize accepted: {status}");
    let r = confirm(&s, &st, 11, API_KEY).await;
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;

    // The content type is pinned by the policy.
    let st = strategy(
        &s,
        &b,
        json!({ "filename": "typed.txt", "contentType": "text/plain", "size": 5 }),
        API_KEY,
    )
    .await;
    let status = post_form(&s, &st, b"hello".to_vec(), "image/png").await;
    assert!(status.is_client_error(), "wrong type accepted: {status}");

    // An unsafe declared type is pinned to application/octet-stream instead.
    let st = strategy(
        &s,
        &b,
        json!({ "filename": "page.html", "contentType": "text/html" }),
        API_KEY,
    )
    .await;
    assert_eq!(st["fields"]["Content-Type"], "application/octet-stream");

    // A declared size over the configured limit is refused before any URL is issued.
    let r = s
        .client
        .post(s.storage(&format!("/buckets/{b}/upload-strategy")))
        .bearer_auth(API_KEY)
        .json(&json!({ "filename": "huge.bin", "size": 51.0 * 1024.0 * 1024.0 }))
        .send()
        .await
        .unwrap();
    assert_error(r, 413, "STORAGE_INVALID_PARAMETER").await;
}

async fn expired_policy_is_refused_and_unconfirmed_bytes_are_swept(store: Store) {
    let s = TestServer::start_s3(
        store,
        true,
        &[
            ("COFFER_PENDING_UPLOAD_TTL", "2"),
            ("COFFER_SWEEP_INTERVAL", "1"),
        ],
    )
    .await;
    let b = bucket_name("s3x");
    s.create_bucket(&b, true).await;
    let dir = s.s3.as_ref().unwrap().bucket_dir();

    // Uploaded in time but never confirmed: the sweeper deletes the bytes.
    let st = strategy(
        &s,
        &b,
        json!({ "filename": "orphan.txt", "contentType": "text/plain" }),
        API_KEY,
    )
    .await;
    assert!(
        post_form(&s, &st, b"orphan".to_vec(), "text/plain")
            .await
            .is_success()
    );
    assert_eq!(S3Server::files_under(&dir).len(), 1);

    // Issued, then used after expiry: S3 refuses the form.
    let late = strategy(
        &s,
        &b,
        json!({ "filename": "late.txt", "contentType": "text/plain" }),
        API_KEY,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let status = post_form(&s, &late, b"late".to_vec(), "text/plain").await;
    assert!(
        status.is_client_error(),
        "expired policy accepted: {status}"
    );

    assert!(
        S3Server::files_under(&dir).is_empty(),
        "unconfirmed bytes were not swept: {:?}",
        S3Server::files_under(&dir)
    );
    let r = confirm(&s, &st, 6, API_KEY).await;
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
}

async fn proxy_mode_streams_through_coffer(store: Store) {
    let s = TestServer::start_s3(store, false, &[]).await;
    let b = bucket_name("s3q");
    s.create_bucket(&b, false).await;
    // Bigger than one multipart part, so the multipart path is exercised too.
    let body: Vec<u8> = (0..(9 * 1024 * 1024 + 17))
        .map(|i| (i % 251) as u8)
        .collect();
    let r = s.put(&b, "big/blob.bin", body.clone(), Some(API_KEY)).await;
    assert_eq!(r.status(), StatusCode::OK);

    let st = strategy(&s, &b, json!({ "filename": "x.bin" }), API_KEY).await;
    assert_eq!(st["method"], "direct");

    let r = s.get(&b, "big/blob.bin", Some(API_KEY)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    assert_eq!(r.bytes().await.unwrap().len(), body.len());

    let r = s
        .client
        .get(s.storage(&format!("/buckets/{b}/objects/big/blob.bin")))
        .bearer_auth(API_KEY)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 100-199/{}", body.len())
    );
    assert_eq!(r.bytes().await.unwrap().to_vec(), body[100..200].to_vec());

    let r = s
        .client
        .get(s.storage(&format!("/buckets/{b}/objects/big/blob.bin")))
        .bearer_auth(API_KEY)
        .header("range", format!("bytes={}-", body.len() + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{}", body.len())
    );

    // Overwrite: the superseded version's bytes are gone from the store.
    let r = s
        .put(&b, "big/blob.bin", b"small now".to_vec(), Some(API_KEY))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let dir = s.s3.as_ref().unwrap().bucket_dir();
    assert_eq!(S3Server::files_under(&dir).len(), 1);
    let r = s.get(&b, "big/blob.bin", Some(API_KEY)).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"small now");
}

async fn bucket_delete_clears_the_prefix(store: Store) {
    let s = TestServer::start_s3(store, true, &[]).await;
    let b = bucket_name("s3d");
    s.create_bucket(&b, true).await;
    for i in 0..5 {
        let r = s
            .put(&b, &format!("k/{i}"), vec![i; 10], Some(API_KEY))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Plus bytes of an upload that was never confirmed.
    let st = strategy(
        &s,
        &b,
        json!({ "filename": "pending.txt", "contentType": "text/plain" }),
        API_KEY,
    )
    .await;
    assert!(
        post_form(&s, &st, b"pending".to_vec(), "text/plain")
            .await
            .is_success()
    );
    let dir = s.s3.as_ref().unwrap().bucket_dir();
    assert_eq!(S3Server::files_under(&dir).len(), 6);

    let r = s
        .admin(s.client.delete(s.storage(&format!("/buckets/{b}"))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        S3Server::files_under(&dir).is_empty(),
        "{:?}",
        S3Server::files_under(&dir)
    );
}

both_stores!(
    presigned_upload_confirm_download,
    policy_limits_are_enforced_by_s3,
    expired_policy_is_refused_and_unconfirmed_bytes_are_swept,
    proxy_mode_streams_through_coffer,
    bucket_delete_clears_the_prefix,
);
