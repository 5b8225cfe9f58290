//! Routes 1–6: storage config and bucket management.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::all_backends;
use crate::common::{ANON_KEY, API_KEY, Store, TestServer, assert_error, bucket_name};

async fn put_config(s: &TestServer, body: Value, bearer: Option<&str>) -> reqwest::Response {
    let mut rb = s.client.put(s.storage("/config")).json(&body);
    if let Some(b) = bearer {
        rb = rb.bearer_auth(b);
    }
    rb.send().await.unwrap()
}

async fn config(store: Store) {
    let s = TestServer::start(store).await;
    let admin_jwt = s.token("root", "project_admin");

    let r = s
        .client
        .get(s.storage("/config"))
        .bearer_auth(&admin_jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["maxFileSizeMb"], 50);
    assert!(c["id"].is_string(), "{c}");
    for field in ["createdAt", "updatedAt"] {
        let t = c[field].as_str().unwrap();
        assert!(t.ends_with('Z') && t.len() == 24, "{field}: {t}");
    }

    for mb in [1, 5120, 7] {
        let r = put_config(&s, json!({ "maxFileSizeMb": mb }), Some(API_KEY)).await;
        assert_eq!(r.status(), StatusCode::OK, "{mb}");
        let c: Value = r.json().await.unwrap();
        assert_eq!(c["maxFileSizeMb"], mb);
        let r = s
            .admin(s.client.get(s.storage("/config")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["maxFileSizeMb"], mb);
    }
    for bad in [
        json!(0),
        json!(5121),
        json!(-1),
        json!(2.5),
        json!("10"),
        json!(null),
    ] {
        let r = put_config(&s, json!({ "maxFileSizeMb": bad }), Some(&admin_jwt)).await;
        assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    }
    let r = put_config(&s, json!({}), Some(API_KEY)).await;
    assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    // Refused changes left the last good value.
    let r = s
        .admin(s.client.get(s.storage("/config")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["maxFileSizeMb"], 7);

    // Not an admin.
    let user = s.user("alice");
    for bearer in [Some(user.as_str()), Some(ANON_KEY)] {
        let r = put_config(&s, json!({ "maxFileSizeMb": 9 }), bearer).await;
        assert_error(r, 403, "AUTH_UNAUTHORIZED").await;
        let mut rb = s.client.get(s.storage("/config"));
        if let Some(b) = bearer {
            rb = rb.bearer_auth(b);
        }
        assert_error(rb.send().await.unwrap(), 403, "AUTH_UNAUTHORIZED").await;
    }
    let r = put_config(&s, json!({ "maxFileSizeMb": 9 }), None).await;
    let body = assert_error(r, 401, "AUTH_INVALID_CREDENTIALS").await;
    assert_eq!(body["message"], "No admin token provided");
    let r = s.client.get(s.storage("/config")).send().await.unwrap();
    assert_error(r, 401, "AUTH_INVALID_CREDENTIALS").await;
    let r = put_config(&s, json!({ "maxFileSizeMb": 9 }), Some("nope")).await;
    assert_error(r, 401, "AUTH_UNAUTHORIZED").await;
}

async fn create_post(s: &TestServer, body: Value, bearer: Option<&str>) -> reqwest::Response {
    let mut rb = s.client.post(s.storage("/buckets")).json(&body);
    if let Some(b) = bearer {
        rb = rb.bearer_auth(b);
    }
    rb.send().await.unwrap()
}

async fn buckets(store: Store) {
    let s = TestServer::start(store).await;
    let priv_b = bucket_name("b_priv");
    let pub_b = bucket_name("A-pub");

    let r = create_post(
        &s,
        json!({ "bucketName": priv_b, "isPublic": false }),
        Some(API_KEY),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "Bucket created successfully");
    assert_eq!(body["bucketName"], priv_b.as_str());
    assert_eq!(body["isPublic"], false);
    assert!(
        body["nextActions"]
            .as_str()
            .unwrap()
            .starts_with("This is a PRIVATE bucket")
    );

    // isPublic defaults to true; admin JWTs may create buckets too.
    let admin_jwt = s.token("root", "project_admin");
    let r = create_post(&s, json!({ "bucketName": pub_b }), Some(&admin_jwt)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.json::<Value>().await.unwrap()["isPublic"], true);

    let r = create_post(
        &s,
        json!({ "bucketName": priv_b, "isPublic": true }),
        Some(API_KEY),
    )
    .await;
    let e = assert_error(r, 409, "STORAGE_ALREADY_EXISTS").await;
    assert_eq!(e["message"], format!("Bucket \"{priv_b}\" already exists"));

    for bad in ["a b", "a.b", "ä", "a/b", "..", &"x".repeat(129)] {
        let r = create_post(&s, json!({ "bucketName": bad }), Some(API_KEY)).await;
        assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    }
    for bad in [
        json!({}),
        json!({ "bucketName": "" }),
        json!({ "bucketName": 5 }),
    ] {
        let r = create_post(&s, bad, Some(API_KEY)).await;
        assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    }
    let r = create_post(
        &s,
        json!({ "bucketName": bucket_name("u") }),
        Some(&s.user("a")),
    )
    .await;
    assert_error(r, 403, "AUTH_UNAUTHORIZED").await;
    let r = create_post(&s, json!({ "bucketName": bucket_name("u") }), None).await;
    assert_error(r, 401, "AUTH_INVALID_CREDENTIALS").await;

    // The listing: sorted by name, both spellings of the flag.
    let r = s
        .admin(s.client.get(s.storage("/buckets")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list: Vec<Value> = r.json().await.unwrap();
    let names: Vec<&str> = list.iter().map(|b| b["name"].as_str().unwrap()).collect();
    let mut sorted = vec![pub_b.as_str(), priv_b.as_str()];
    sorted.sort();
    assert_eq!(names, sorted);
    for b in &list {
        assert_eq!(b["public"], b["isPublic"]);
        assert_eq!(b["public"], b["name"] == pub_b.as_str());
        assert!(b["createdAt"].as_str().unwrap().ends_with('Z'));
    }
}

async fn visibility(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("vis");
    s.create_bucket(&b, false).await;
    assert_eq!(
        s.put(&b, "k.txt", b"secret".to_vec(), Some(API_KEY))
            .await
            .status(),
        200
    );
    assert_error(
        s.get(&b, "k.txt", None).await,
        401,
        "AUTH_INVALID_CREDENTIALS",
    )
    .await;

    let patch = |public: Value, bearer: Option<String>| {
        let mut rb = s
            .client
            .patch(s.storage(&format!("/buckets/{b}")))
            .json(&json!({ "isPublic": public }));
        if let Some(t) = bearer {
            rb = rb.bearer_auth(t);
        }
        rb.send()
    };
    let r = patch(json!(true), Some(API_KEY.into())).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "Bucket visibility updated");
    assert_eq!(body["bucket"], b.as_str());
    assert_eq!(body["isPublic"], true);
    assert!(
        body["nextActions"]
            .as_str()
            .unwrap()
            .starts_with("Bucket is now PUBLIC")
    );

    let r = s.get(&b, "k.txt", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("cache-control").is_none());
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"secret");

    let r = patch(json!(false), Some(s.token("root", "project_admin")))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["isPublic"], false);
    assert_error(
        s.get(&b, "k.txt", None).await,
        401,
        "AUTH_INVALID_CREDENTIALS",
    )
    .await;

    let r = patch(json!("yes"), Some(API_KEY.into())).await.unwrap();
    assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    let r = s
        .admin(s.client.patch(s.storage(&format!("/buckets/{b}"))))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    let r = patch(json!(true), Some(s.user("alice"))).await.unwrap();
    assert_error(r, 403, "AUTH_UNAUTHORIZED").await;
    let r = patch(json!(true), None).await.unwrap();
    assert_error(r, 401, "AUTH_INVALID_CREDENTIALS").await;
    // Still private after the refused changes.
    assert_error(
        s.get(&b, "k.txt", None).await,
        401,
        "AUTH_INVALID_CREDENTIALS",
    )
    .await;

    let missing = bucket_name("missing");
    let r = s
        .admin(s.client.patch(s.storage(&format!("/buckets/{missing}"))))
        .json(&json!({ "isPublic": true }))
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
}

async fn delete_bucket(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("del");
    let keep = bucket_name("keep");
    s.create_bucket(&b, true).await;
    s.create_bucket(&keep, true).await;
    for i in 0..5 {
        let r = s
            .put(&b, &format!("d/{i}.bin"), vec![i; 3000], Some(API_KEY))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(
        s.put(&keep, "k", b"keep".to_vec(), Some(API_KEY))
            .await
            .status(),
        200
    );
    assert_eq!(s.object_files(&b).len(), 5);

    let url = s.storage(&format!("/buckets/{b}"));
    let r = s
        .client
        .delete(&url)
        .bearer_auth(s.user("alice"))
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "AUTH_UNAUTHORIZED").await;
    let r = s.client.delete(&url).send().await.unwrap();
    assert_error(r, 401, "AUTH_INVALID_CREDENTIALS").await;
    assert_eq!(s.object_files(&b).len(), 5);

    let r = s.admin(s.client.delete(&url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "Bucket deleted successfully");
    assert!(body["nextActions"].is_string());
    assert_eq!(
        s.object_files(&b),
        Vec::<std::path::PathBuf>::new(),
        "bytes left behind"
    );

    let r = s.admin(s.client.delete(&url)).send().await.unwrap();
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
    assert_error(
        s.get(&b, "d/0.bin", Some(API_KEY)).await,
        404,
        "STORAGE_NOT_FOUND",
    )
    .await;
    let r = s
        .admin(s.client.delete(s.storage("/buckets/bad.name")))
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;

    // A new bucket of the same name starts empty; the other bucket is untouched.
    s.create_bucket(&b, true).await;
    let page: Value = s.list(&b, "", Some(API_KEY)).await.json().await.unwrap();
    assert_eq!(page["pagination"]["total"], 0);
    assert_eq!(
        s.get(&keep, "k", None)
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        b"keep"
    );
}

all_backends!(config, buckets, visibility, delete_bucket);
