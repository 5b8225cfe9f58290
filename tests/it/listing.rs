//! Route 7, list: literal prefix and search, byte order, limit/offset clamping, exact totals.

use reqwest::StatusCode;
use serde_json::Value;

use crate::all_backends;
use crate::common::{ANON_KEY, API_KEY, Store, TestServer, assert_error, bucket_name, encode};

const KEYS: &[&str] = &[
    "a%b/1.txt",
    "a_b/1.txt",
    "axb/1.txt",
    "aXb/2.txt",
    "100%.txt",
    "100x.txt",
    "under_score",
    "underXscore",
    "ü/1",
    "ü/2",
    "ýz",
    "B",
    "Z",
];

async fn upload_all(s: &TestServer, b: &str, keys: &[&str], bearer: &str) {
    let puts = keys
        .iter()
        .map(|k| s.put(b, k, k.as_bytes().to_vec(), Some(bearer)));
    for r in futures::future::join_all(puts).await {
        assert_eq!(r.status(), StatusCode::OK);
    }
}

/// Lists with `query` and returns (keys, pagination).
async fn keys(s: &TestServer, b: &str, query: &str, bearer: &str) -> (Vec<String>, Value) {
    let r = s.list(b, query, Some(bearer)).await;
    assert_eq!(r.status(), StatusCode::OK, "{query}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page: Value = r.json().await.unwrap();
    let keys = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect();
    (keys, page["pagination"].clone())
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    v.sort(); // byte order, as the server sorts
    v
}

async fn literal_filters(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("list");
    s.create_bucket(&b, false).await;
    upload_all(&s, &b, KEYS, API_KEY).await;

    let cases: &[(&str, &[&str])] = &[
        ("", KEYS),
        ("prefix=a%25", &["a%b/1.txt"]),
        ("prefix=a_", &["a_b/1.txt"]),
        (
            "prefix=a",
            &["a%b/1.txt", "a_b/1.txt", "axb/1.txt", "aXb/2.txt"],
        ),
        ("prefix=ax", &["axb/1.txt"]),
        ("prefix=100%25", &["100%.txt"]),
        ("prefix=%C3%BC", &["ü/1", "ü/2"]),
        ("prefix=%C3%BC%2F2", &["ü/2"]),
        ("prefix=nothing", &[]),
        ("search=%25", &["a%b/1.txt", "100%.txt"]),
        ("search=_", &["a_b/1.txt", "under_score"]),
        ("search=%20%20_%20", &["a_b/1.txt", "under_score"]),
        ("search=X", &["aXb/2.txt", "underXscore"]),
        ("search=xb", &["axb/1.txt"]),
        (
            "search=%2F1",
            &["a%b/1.txt", "a_b/1.txt", "axb/1.txt", "ü/1"],
        ),
        ("search=%5B", &[]),
        (
            "prefix=a&search=b%2F1",
            &["a%b/1.txt", "a_b/1.txt", "axb/1.txt"],
        ),
        ("prefix=100&search=%25", &["100%.txt"]),
    ];
    for (query, want) in cases {
        let (got, page) = keys(&s, &b, query, API_KEY).await;
        assert_eq!(got, sorted(want), "{query}");
        assert_eq!(page["total"], want.len(), "{query}");
    }
    // Byte order: upper case before lower case, ASCII before UTF-8.
    let (all, _) = keys(&s, &b, "", API_KEY).await;
    assert_eq!(all.first().map(String::as_str), Some("100%.txt"));
    assert_eq!(all[2..4], ["B".to_string(), "Z".to_string()]);
    assert_eq!(all.last().map(String::as_str), Some("ýz"));
}

async fn limits_and_totals(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("page");
    s.create_bucket(&b, true).await;
    let names: Vec<String> = (0..12).map(|i| format!("k{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    upload_all(&s, &b, &refs, API_KEY).await;

    // (query, expected keys as an index range, pagination limit, pagination offset)
    let cases: &[(&str, std::ops::Range<usize>, i64, i64)] = &[
        ("", 0..12, 100, 0),
        ("limit=5", 0..5, 5, 0),
        ("limit=5&offset=10", 10..12, 5, 10),
        ("limit=0", 0..12, 100, 0),
        ("limit=abc", 0..12, 100, 0),
        ("limit=NaN", 0..12, 100, 0),
        ("limit=5000", 0..12, 1000, 0),
        ("limit=1001", 0..12, 1000, 0),
        ("limit=-5", 0..1, 1, 0),
        ("limit=3abc", 0..3, 3, 0),
        ("offset=-3", 0..12, 100, 0),
        ("offset=abc", 0..12, 100, 0),
        ("offset=11", 11..12, 100, 11),
        ("offset=50", 12..12, 100, 50),
        ("limit=4&offset=4", 4..8, 4, 4),
    ];
    for (query, range, limit, offset) in cases {
        let (got, page) = keys(&s, &b, query, API_KEY).await;
        assert_eq!(got, names[range.clone()], "{query}");
        assert_eq!(page["total"], 12, "{query}");
        assert_eq!(page["limit"], *limit, "{query}");
        assert_eq!(page["offset"], *offset, "{query}");
    }
    // Pages of three put back together are the whole listing.
    let mut joined = Vec::new();
    for offset in (0..12).step_by(3) {
        let (got, _) = keys(&s, &b, &format!("limit=3&offset={offset}"), API_KEY).await;
        joined.extend(got);
    }
    assert_eq!(joined, names);

    // Items carry exactly the StorageFile fields.
    let r = s.list(&b, "limit=1", Some(API_KEY)).await;
    let page: Value = r.json().await.unwrap();
    let item = page["data"][0].as_object().unwrap();
    let mut fields: Vec<&str> = item.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(
        fields,
        ["bucket", "key", "mimeType", "size", "uploadedAt", "url"]
    );
    assert_eq!(item["size"], 3);
    assert!(page["nextActions"].is_string());
}

async fn owner_scoped_totals(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("own");
    s.create_bucket(&b, false).await;
    let (alice, bob) = (s.user("alice"), s.user("bob"));
    upload_all(&s, &b, &["a/1", "a/2", "a/3"], &alice).await;
    upload_all(&s, &b, &["b/1", "a/4"], &bob).await;
    upload_all(&s, &b, &["k/1"], API_KEY).await;

    let (got, page) = keys(&s, &b, "limit=2", &alice).await;
    assert_eq!(got, ["a/1", "a/2"]);
    assert_eq!(page["total"], 3);
    let (got, page) = keys(&s, &b, "prefix=a%2F", &bob).await;
    assert_eq!(got, ["a/4"]);
    assert_eq!(page["total"], 1);
    let (got, page) = keys(&s, &b, "prefix=a%2F", &s.token("root", "project_admin")).await;
    assert_eq!(got, ["a/1", "a/2", "a/3", "a/4"]);
    assert_eq!(page["total"], 4);
    let (_, page) = keys(&s, &b, "", &s.user("carol")).await;
    assert_eq!(page["total"], 0);

    // Who may not list at all, and a bucket that is not there.
    assert_error(
        s.list(&b, "", Some(ANON_KEY)).await,
        403,
        "STORAGE_PERMISSION_DENIED",
    )
    .await;
    assert_error(s.list(&b, "", None).await, 401, "AUTH_INVALID_CREDENTIALS").await;
    let missing = bucket_name("nope");
    assert_error(
        s.list(&missing, "", Some(API_KEY)).await,
        404,
        "STORAGE_NOT_FOUND",
    )
    .await;
    let r = s.list("bad.name", "", Some(API_KEY)).await;
    assert_error(r, 400, "STORAGE_INVALID_PARAMETER").await;
    // A key with an encoded slash lists under its prefix like any other.
    let r = s
        .put_path(
            &format!("/buckets/{b}/objects/{}", encode("a/5")),
            b"x".to_vec(),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (got, _) = keys(&s, &b, "prefix=a/", &alice).await;
    assert_eq!(got, ["a/1", "a/2", "a/3", "a/5"]);
}

all_backends!(literal_filters, limits_and_totals, owner_scoped_totals);
