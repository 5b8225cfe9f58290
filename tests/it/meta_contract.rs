//! The MetaStore contract: every case is written once against `&dyn MetaStore` and runs on
//! the SQLite store (a temp file) and on PostgreSQL (a fresh database per test).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use coffer::meta::{
    Error, ListQuery, MetaStore, NewObject, Object, PgMeta, Removed, SqliteMeta, Via,
};

use crate::common::PgDb;

/// A store under test and what keeps it alive. Fields drop in order: the pool first, then
/// the database and the temp dir it lives in.
struct Fixture {
    meta: Arc<dyn MetaStore>,
    _pg: Option<PgDb>,
    _tmp: Option<tempfile::TempDir>,
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let tmp = tempfile::tempdir().expect("temp dir");
        let meta = SqliteMeta::open(&tmp.path().join("meta.db"), 4)
            .await
            .expect("open SQLite store");
        Fixture {
            meta: Arc::new(meta),
            _pg: None,
            _tmp: Some(tmp),
        }
    }

    /// A database whose default collation is not byte order (ICU en-US), so every ordering
    /// and range the store relies on must say `COLLATE "C"` (or be declared so) to pass.
    async fn postgres() -> Fixture {
        let db = PgDb::create_with(
            "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
        );
        let meta = PgMeta::connect(&db.url, 8, Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", db.url));
        Fixture {
            meta: Arc::new(meta),
            _pg: Some(db),
            _tmp: None,
        }
    }
}

/// Declares one test per store for an `async fn(Arc<dyn MetaStore>)` case.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let f = super::Fixture::sqlite().await;
                    super::$case(f.meta.clone()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let f = super::Fixture::postgres().await;
                    super::$case(f.meta.clone()).await
                }
            )*
        }
    };
}

const GIB: i64 = 1 << 30;

/// Now, at the millisecond precision both stores keep.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
}

fn object(bucket: &str, key: &str, size: i64, owner: Option<&str>) -> Object {
    let version = uuid::Uuid::now_v7().simple().to_string();
    Object {
        bucket: bucket.into(),
        key: key.into(),
        size,
        mime_type: Some("text/plain".into()),
        uploaded_at: now(),
        uploaded_by: owner.map(str::to_owned),
        etag: Some(format!("{:032x}", uuid::Uuid::new_v4().as_u128())),
        version,
    }
}

fn new(o: &Object) -> NewObject {
    NewObject {
        object: o.clone(),
        via: Via::Rest,
    }
}

async fn put(meta: &dyn MetaStore, o: &Object) -> Option<String> {
    meta.put_object(new(o), &|_: &Object| true)
        .await
        .unwrap_or_else(|e| panic!("put {}: {e}", o.key))
}

async fn get(meta: &dyn MetaStore, bucket: &str, key: &str) -> Option<Object> {
    meta.lookup(bucket, key)
        .await
        .expect("lookup")
        .expect("bucket exists")
        .object
}

fn query(bucket: &str) -> ListQuery {
    ListQuery {
        bucket: bucket.into(),
        limit: 1000,
        ..ListQuery::default()
    }
}

async fn keys(meta: &dyn MetaStore, q: ListQuery) -> Vec<String> {
    let page = meta.list_objects(&q).await.expect("list");
    page.objects.into_iter().map(|o| o.key).collect()
}

fn sorted_bytewise(keys: &[&str]) -> Vec<String> {
    // `str`'s `Ord` is byte order.
    let mut v: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    v.sort();
    v
}

async fn buckets_create_get_list_delete(meta: Arc<dyn MetaStore>) {
    let meta = &*meta;
    assert!(meta.list_buckets().await.unwrap().is_empty());
    assert_eq!(meta.get_bucket("nope").await.unwrap(), None);

    let before = now();
    let made = meta.create_bucket("docs", false).await.unwrap();
    assert_eq!(made.name, "docs");
    assert!(!made.public);
    assert!(made.created_at >= before && made.created_at <= now() + chrono::Duration::seconds(1));
    assert_eq!(meta.get_bucket("docs").await.unwrap(), Some(made.clone()));

    match meta.create_bucket("docs", true).await {
        Err(Error::BucketExists) => {}
        other => panic!("duplicate bucket: {other:?}"),
    }
    // The failed duplicate changed nothing.
    assert_eq!(meta.get_bucket("docs").await.unwrap(), Some(made.clone()));

    // Byte order: upper case before lower case, '-' < '0' < '_' < 'a'.
    for name in ["zeta", "Zeta", "a_b", "a-b", "a0", "B"] {
        meta.create_bucket(name, true).await.unwrap();
    }
    let names: Vec<String> = meta
        .list_buckets()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(
        names,
        sorted_bytewise(&["docs", "zeta", "Zeta", "a_b", "a-b", "a0", "B"])
    );

    assert!(meta.set_bucket_public("docs", true).await.unwrap());
    let b = meta.get_bucket("docs").await.unwrap().unwrap();
    assert!(b.public);
    assert_eq!(b.created_at, made.created_at);
    assert!(meta.set_bucket_public("docs", false).await.unwrap());
    assert!(!meta.get_bucket("docs").await.unwrap().unwrap().public);
    assert!(!meta.set_bucket_public("nope", true).await.unwrap());
    assert_eq!(meta.get_bucket("nope").await.unwrap(), None);

    // Deleting returns exactly the versions that were live; other buckets keep theirs.
    let a = object("docs", "a", 1, None);
    let b1 = object("docs", "dir/b", 2, Some("alice"));
    let kept = object("zeta", "a", 3, None);
    for o in [&a, &b1, &kept] {
        assert_eq!(put(meta, o).await, None);
    }
    let replaced = object("docs", "a", 4, None);
    assert_eq!(put(meta, &replaced).await, Some(a.version.clone()));
    let mut removed = meta.delete_bucket("docs").await.unwrap().expect("existed");
    removed.sort_by(|x, y| x.key.cmp(&y.key));
    assert_eq!(
        removed,
        vec![
            Removed {
                key: "a".into(),
                version: replaced.version.clone()
            },
            Removed {
                key: "dir/b".into(),
                version: b1.version.clone()
            },
        ]
    );
    assert_eq!(meta.get_bucket("docs").await.unwrap(), None);
    assert!(meta.lookup("docs", "a").await.unwrap().is_none());
    assert_eq!(meta.delete_bucket("docs").await.unwrap(), None);
    assert_eq!(get(meta, "zeta", "a").await, Some(kept));
    // An empty bucket deletes with nothing to remove.
    assert_eq!(meta.delete_bucket("B").await.unwrap(), Some(vec![]));
    // The name is free again, and the new bucket starts empty.
    meta.create_bucket("docs", true).await.unwrap();
    assert_eq!(get(meta, "docs", "a").await, None);
    assert_eq!(meta.list_objects(&query("docs")).await.unwrap().total, 0);
}

async fn put_new_then_replace(meta: Arc<dyn MetaStore>) {
    let meta = &*meta;
    meta.create_bucket("b", false).await.unwrap();
    let first = object("b", "k", 5 * GIB, Some("alice"));
    assert_eq!(
        put(meta, &first).await,
        None,
        "a new key has no previous version"
    );
    assert_eq!(get(meta, "b", "k").await, Some(first.clone()));

    // Replacing keeps the owner and returns the superseded version; the check sees the row.
    let mut second = object("b", "k", 7, Some("bob"));
    second.mime_type = None;
    second.etag = None;
    let seen = std::sync::Mutex::new(None);
    let check = |old: &Object| {
        *seen.lock().unwrap() = Some(old.clone());
        true
    };
    let previous = meta.put_object(new(&second), &check).await.unwrap();
    assert_eq!(previous, Some(first.version.clone()));
    assert_eq!(seen.lock().unwrap().take(), Some(first.clone()));
    let now_there = get(meta, "b", "k").await.unwrap();
    assert_eq!(
        now_there,
        Object {
            uploaded_by: Some("alice".into()),
            ..second.clone()
        }
    );

    // A refused replace changes nothing.
    let third = object("b", "k", 9, Some("carol"));
    match meta.put_object(new(&third), &|_: &Object| false).await {
        Err(Error::ReplaceDenied) => {}
        other => panic!("refused replace: {other:?}"),
    }
    assert_eq!(get(meta, "b", "k").await, Some(now_there.clone()));
    // The check is not consulted for a new key.
    let fresh = object("b", "other", 1, Some("carol"));
    assert_eq!(
        meta.put_object(new(&fresh), &|_: &Object| false)
            .await
            .unwrap(),
        None
    );

    match meta
        .put_object(new(&object("missing", "k", 1, None)), &|_: &Object| true)
        .await
    {
        Err(Error::BucketNotFound) => {}
        other => panic!("put into a missing bucket: {other:?}"),
    }
    assert!(meta.lookup("missing", "k").await.unwrap().is_none());
    assert!(meta.get_bucket("missing").await.unwrap().is_none());
}

async fn sizes_above_two_gib_round_trip(meta: Arc<dyn MetaStore>) {
    let meta = &*meta;
    meta.create_bucket("big", false).await.unwrap();
    let sizes = [
        (1i64 << 31) - 1,
        1 << 31,
        (1 << 32) + 1,
        5 * GIB,
        (1 << 53) + 7,
    ];
    for (i, size) in sizes.iter().enumerate() {
        put(meta, &object("big", &format!("k{i}"), *size, None)).await;
    }
    for (i, size) in sizes.iter().enumerate() {
        assert_eq!(
            get(meta, "big", &format!("k{i}")).await.unwrap().size,
            *size
        );
    }
    let page = meta.list_objects(&query("big")).await.unwrap();
    let listed: Vec<i64> = page.objects.iter().map(|o| o.size).collect();
    assert_eq!(listed, sizes);
}

async fn lookup_distinguishes_missing_bucket_and_object(meta: Arc<dyn MetaStore>) {
    let meta = &*meta;
    assert!(meta.lookup("nobucket", "k").await.unwrap().is_none());
    let b = meta.create_bucket("here", true).await.unwrap();
    let found = meta.lookup("here", "k").await.unwrap().expect("bucket");
    assert_eq!(found.bucket, b);
    assert_eq!(found.object, None);
    let o = object("here", "k", 3, None);
    put(meta, &o).await;
    let found = meta.lookup("here", "k").await.unwrap().expect("bucket");
    assert_eq!(found.bucket, b);
    assert_eq!(found.object, Some(o));
    // Keys are exact: no prefix, case or trailing-slash matching.
    for other in ["K", "k/", "", "k "] {
        let found = meta.lookup("here", other).await.unwrap().expect("bucket");
        assert_eq!(found.object, None, "{other:?}");
    }
}

const TRICKY: &[&str] = &[
    "a%b/1",
    "a%%",
    "a_b/2",
    "axb/3",
    "a\\b",
    "ab",
    "A",
    "a",
    "a/b",
    "a-b",
    "a.b",
    "a b",
    "e/3",
    "é/1",
    "é/2",
    "ê",
    "ё",
    "日本/x",
    "日本語",
    "日",
    "~",
    "\u{10FFFF}z",
    "\u{FFFF}",
    "\u{E000}",
];

async fn list_is_byte_ordered_and_prefix_is_literal(meta: Arc<dyn MetaStore>) {
    let meta = &*meta;
    meta.create_bucket("t", false).await.unwrap();
    meta.create_bucket("u", false).await.unwrap();
    for key in TRICKY {
        put(meta, &object("t", key, 1, None)).await;
    }
    // Another bucket's keys never show up.
    put(meta, &object("u", "a%b/1", 1, None)).await;

    assert_eq!(keys(meta, query("t")).await, sorted_bytewise(TRICKY));
    let expect = |prefix: &str| -> Vec<String> {
        let matching: Vec<&str> = TRICKY
            .iter()
            .copied()
            .filter(|k| k.starts_with(prefix))
            .collect();
        sorted_bytewise(&matching)
    };
    for prefix in [
        "a%",
        "a_",
        "a\\",
        "a",
        "A",
        "a/",
        "é",
        "e",
        "日本",
        "日",
        "\u{10FFFF}",
        "\u{FFFF}",
        "~",
        "zz",
        "",
    ] {
        let q = ListQuery {
            prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
            ..query("t")
        };
        let page = meta.list_objects(&q).await.unwrap();
        let got: Vec<String> = page.objects.iter().map(|o| o.key.clone()).collect();
        assert_eq!(got, expect(prefix), "prefix {prefix:?}");
        assert_eq!(
            page.total as usize,
            got.len(),
            "total for prefix {prefix:?}"
        );
    }
    // Spot checks, independent of the oracle above.
    let q = |p: &str| ListQuery {
        prefix: Some(p.into()),
        ..query("t")
    };
    assert_eq!(keys(meta, q("a%")).await, ["a%%", "a%b/1"]);
    assert_eq!(keys(meta, q("a_")).await, ["a_b/2"]);
    assert_eq!(keys(meta, q("é")).await, ["é/1", "é/2"]);
    assert_eq!(keys(meta, q("日本")).await, ["日本/x", "日本語"]);
}

async fn search_is_a_literal_substring(meta: Arc<dyn MetaStore>) {
    let meta = &*meta;
    meta.create_bucket("s", false).await.unwrap();
    for key in TRICKY {
        put(meta, &object("s", key, 1, None)).await;
    }
    for needle in ["%", "_", "\\", "b", "/", "本", "é", ".", " ", "%%", "zzz"] {
        let q = ListQuery {
            search: Some(needle.into()),
            ..query("s")
        };
        let page = meta.list_objects(&q).await.unwrap();
        let got: Vec<String> = page.objects.iter().map(|o| o.key.clone()).collect();
        let want: Vec<&str> = TRICKY
            .iter()
            .copied()
            .filter(|k| k.contains(needle))
            .collect();
        assert_eq!(got, sorted_bytewise(&want), "search {needle:?}");
        assert_eq!(
            page.total as usize,
            want.len(),
            "total for search {needle:?}"
        );
    }
    // Prefix and search together.
    let q = ListQuery {
        prefix: Some("a".into()),
        search: Some("b".into()),
        ..query("s")
    };
    let want: Vec<&str> = TRICKY
        .iter()
        .copied()
        .filter(|k| k.starts_with('a') && k.contains('b'))
        .collect();
    assert_eq!(keys(meta, q).await, sorted_bytewise(&want));
}

async fn owner_filter_limit_offset_and_total(meta: Arc<dyn MetaStore>) {
    let meta = &*meta;
    meta.create_bucket("p", false).await.unwrap();
    let mut all = Vec::new();
    for i in 0..25 {
        let key = format!("dir/{i:02}");
        let owner = match i % 3 {
            0 => Some("alice"),
            1 => Some("bob"),
            _ => None,
        };
        put(meta, &object("p", &key, i, owner)).await;
        all.push(key);
    }
    put(meta, &object("p", "other/x", 1, Some("alice"))).await;

    // Pages concatenate to the whole listing; the total is exact on every page.
    let mut paged = Vec::new();
    for offset in (0..30).step_by(10) {
        let q = ListQuery {
            prefix: Some("dir/".into()),
            limit: 10,
            offset,
            ..query("p")
        };
        let page = meta.list_objects(&q).await.unwrap();
        assert_eq!(page.total, 25, "offset {offset}");
        assert_eq!(
            page.objects.len(),
            (25 - offset as usize).min(10),
            "offset {offset}"
        );
        paged.extend(page.objects.into_iter().map(|o| o.key));
    }
    assert_eq!(paged, all);
    let q = ListQuery {
        prefix: Some("dir/".into()),
        limit: 5,
        offset: 100,
        ..query("p")
    };
    let page = meta.list_objects(&q).await.unwrap();
    assert!(page.objects.is_empty());
    assert_eq!(page.total, 25);

    // The owner filter applies to the page and the total.
    let q = ListQuery {
        owner: Some("alice".into()),
        limit: 3,
        offset: 1,
        ..query("p")
    };
    let page = meta.list_objects(&q).await.unwrap();
    assert_eq!(page.total, 10, "9 under dir/ and other/x");
    let got: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(got, ["dir/03", "dir/06", "dir/09"]);
    assert!(
        page.objects
            .iter()
            .all(|o| o.uploaded_by.as_deref() == Some("alice"))
    );
    let q = ListQuery {
        owner: Some("nobody".into()),
        ..query("p")
    };
    let page = meta.list_objects(&q).await.unwrap();
    assert_eq!((page.objects.len(), page.total), (0, 0));
    // Listing a bucket that does not exist is an empty page, not an error.
    let page = meta.list_objects(&query("nope")).await.unwrap();
    assert_eq!((page.objects.len(), page.total), (0, 0));
}

async fn delete_objects_with_and_without_owner(meta: Arc<dyn MetaStore>) {
    let meta = &*meta;
    meta.create_bucket("d", false).await.unwrap();
    meta.create_bucket("e", false).await.unwrap();
    let a = object("d", "a", 1, Some("alice"));
    let b = object("d", "b", 1, Some("bob"));
    let c = object("d", "c", 1, None);
    let twin = object("e", "a", 1, Some("alice"));
    for o in [&a, &b, &c, &twin] {
        put(meta, o).await;
    }
    let keys_ = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<Vec<_>>();

    // Alice's filter removes only her object, even when asked for others'.
    let removed = meta
        .delete_objects("d", &keys_(&["a", "b", "c", "zz"]), Some("alice"))
        .await
        .unwrap();
    assert_eq!(
        removed,
        vec![Removed {
            key: "a".into(),
            version: a.version.clone()
        }]
    );
    assert_eq!(get(meta, "d", "a").await, None);
    assert_eq!(get(meta, "d", "b").await, Some(b.clone()));
    assert_eq!(get(meta, "d", "c").await, Some(c.clone()));
    assert_eq!(
        get(meta, "e", "a").await,
        Some(twin.clone()),
        "other bucket"
    );

    // Already gone: nothing reported.
    let removed = meta
        .delete_objects("d", &keys_(&["a"]), Some("alice"))
        .await
        .unwrap();
    assert!(removed.is_empty());

    // No filter: everything named that exists goes, with the versions to drop.
    let mut removed = meta
        .delete_objects("d", &keys_(&["c", "b", "missing"]), None)
        .await
        .unwrap();
    removed.sort_by(|x, y| x.key.cmp(&y.key));
    assert_eq!(
        removed,
        vec![
            Removed {
                key: "b".into(),
                version: b.version.clone()
            },
            Removed {
                key: "c".into(),
                version: c.version.clone()
            },
        ]
    );
    assert_eq!(meta.list_objects(&query("d")).await.unwrap().total, 0);
    assert_eq!(get(meta, "e", "a").await, Some(twin), "other bucket");
    // A missing bucket deletes nothing.
    let removed = meta
        .delete_objects("nope", &keys_(&["a"]), None)
        .await
        .unwrap();
    assert!(removed.is_empty());
}

async fn config_get_and_set(meta: Arc<dyn MetaStore>) {
    let meta = &*meta;
    let first = meta.get_config().await.unwrap();
    assert_eq!(first.max_file_size_mb, 50, "default limit");
    assert!(uuid::Uuid::parse_str(&first.id).is_ok(), "{}", first.id);
    let set = meta.set_max_file_size_mb(123).await.unwrap();
    assert_eq!(set.max_file_size_mb, 123);
    assert_eq!(set.id, first.id);
    assert_eq!(set.created_at, first.created_at);
    assert!(set.updated_at >= first.updated_at);
    let again = meta.get_config().await.unwrap();
    assert_eq!(again.max_file_size_mb, 123);
    assert_eq!(again.id, first.id);
    meta.set_max_file_size_mb(4096).await.unwrap();
    assert_eq!(meta.get_config().await.unwrap().max_file_size_mb, 4096);
}

/// Concurrent writers of one key are linearised: exactly one sees no previous version, and
/// the superseded versions each writer gets back, plus the final one, are every version
/// written, each once. (A lost update or a double-reported version would break this and
/// leak or wrongly delete bytes.)
async fn concurrent_puts_of_one_key_form_a_chain(meta: Arc<dyn MetaStore>) {
    meta.create_bucket("c", false).await.unwrap();
    let writers: Vec<Object> = (0..20).map(|i| object("c", "k", i, None)).collect();
    let tasks: Vec<_> = writers
        .iter()
        .cloned()
        .map(|o| {
            let meta = meta.clone();
            tokio::spawn(async move { meta.put_object(new(&o), &|_: &Object| true).await })
        })
        .collect();
    let mut previous = Vec::new();
    for t in tasks {
        previous.push(t.await.unwrap().expect("put"));
    }
    assert_eq!(previous.iter().filter(|p| p.is_none()).count(), 1);
    let last = get(&*meta, "c", "k").await.unwrap();
    let mut seen: Vec<String> = previous.into_iter().flatten().collect();
    seen.push(last.version.clone());
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a version was superseded twice");
    let written: BTreeSet<&String> = writers.iter().map(|o| &o.version).collect();
    assert_eq!(unique, written);
    let writer = writers.iter().find(|o| o.version == last.version).unwrap();
    assert_eq!(&last, writer, "the final row is one writer's, whole");
}

contract!(
    buckets_create_get_list_delete,
    put_new_then_replace,
    sizes_above_two_gib_round_trip,
    lookup_distinguishes_missing_bucket_and_object,
    list_is_byte_ordered_and_prefix_is_literal,
    search_is_a_literal_substring,
    owner_filter_limit_offset_and_total,
    delete_objects_with_and_without_owner,
    config_get_and_set,
    concurrent_puts_of_one_key_form_a_chain,
);
