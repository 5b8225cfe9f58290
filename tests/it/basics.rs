//! The core loop: buckets, upload, list, download, delete, restart.

use reqwest::StatusCode;
use serde_json::Value;

use crate::all_backends;
use crate::common::{API_KEY, Store, TestServer, assert_error, bucket_name};

async fn round_trip(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("rt");
    s.create_bucket(&b, false).await;

    let body = b"hello coffer".to_vec();
    let r = s
        .put(&b, "dir/hello.txt", body.clone(), Some(API_KEY))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let file: Value = r.json().await.unwrap();
    assert_eq!(file["bucket"], b.as_str());
    assert_eq!(file["key"], "dir/hello.txt");
    assert_eq!(file["size"], 12);
    assert_eq!(file["mimeType"], "text/plain");
    assert!(
        file["url"]
            .as_str()
            .unwrap()
            .contains("/objects/dir%2Fhello.txt?v=")
    );

    let r = s.get(&b, "dir/hello.txt", Some(API_KEY)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().to_vec(), body);

    let r = s.list(&b, "prefix=dir/", Some(API_KEY)).await;
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["pagination"]["total"], 1);
    assert_eq!(page["data"][0]["key"], "dir/hello.txt");

    let r = s.delete(&b, "dir/hello.txt", Some(API_KEY)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.get(&b, "dir/hello.txt", Some(API_KEY)).await;
    assert_error(r, 404, "STORAGE_NOT_FOUND").await;
}

async fn restart_keeps_objects(store: Store) {
    let mut s = TestServer::start(store).await;
    let b = bucket_name("rs");
    s.create_bucket(&b, true).await;
    for i in 0..5 {
        let r = s
            .put(&b, &format!("k{i}"), vec![i as u8; 1000 + i], Some(API_KEY))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    s.restart();
    for i in 0..5 {
        let r = s.get(&b, &format!("k{i}"), None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().to_vec(), vec![i as u8; 1000 + i]);
    }
    let r = s.list(&b, "", Some(API_KEY)).await;
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["pagination"]["total"], 5);
}

all_backends!(round_trip, restart_keeps_objects);

/// Blob files no metadata points at (a crash between rename and commit) are removed by the
/// start-up sweep once they are old enough; fresh ones (an upload in flight) and live ones stay.
#[tokio::test]
async fn orphaned_blob_files_are_swept_at_start_up() {
    let mut s = TestServer::start(Store::Sqlite).await;
    let b = bucket_name("orph");
    s.create_bucket(&b, false).await;
    let r = s.put(&b, "live.txt", b"live".to_vec(), Some(API_KEY)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let dir = s.data_path().join("objects").join(&b);
    let old = dir.join("0000000000000000000000000000dead");
    let fresh = dir.join("0000000000000000000000000000beef");
    std::fs::write(&old, b"orphan").unwrap();
    std::fs::write(&fresh, b"in flight").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    s.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while old.exists() {
        assert!(std::time::Instant::now() < deadline, "old orphan not swept");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(fresh.exists(), "a fresh file must survive the sweep");
    let r = s.get(&b, "live.txt", Some(API_KEY)).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"live");
}
