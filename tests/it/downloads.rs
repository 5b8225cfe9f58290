//! Route 10, download: validators, ranges, conditional requests, HEAD, caching headers, and
//! the content types stored for real file formats.

use md5::{Digest, Md5};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::all_backends;
use crate::common::{API_KEY, Store, TestServer, assert_error, bucket_name, encode};

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

async fn fetch(s: &TestServer, b: &str, key: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut rb = s
        .client
        .get(s.storage(&format!("/buckets/{b}/objects/{}", encode(key))));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.bearer_auth(API_KEY).send().await.unwrap()
}

async fn validators_and_ranges(store: Store) {
    let s = TestServer::start(store).await;
    let (pb, vb) = (bucket_name("pub"), bucket_name("priv"));
    s.create_bucket(&pb, true).await;
    s.create_bucket(&vb, false).await;
    let data = pattern(1000);
    let etag = format!("\"{}\"", hex::encode(Md5::digest(&data)));
    for b in [&pb, &vb] {
        assert_eq!(
            s.put(b, "d/data.bin", data.clone(), Some(API_KEY))
                .await
                .status(),
            200
        );
    }

    for (b, public) in [(&pb, true), (&vb, false)] {
        let r = fetch(&s, b, "d/data.bin", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "etag"), etag);
        assert_eq!(header(&r, "accept-ranges"), "bytes");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert_eq!(header(&r, "content-length"), "1000");
        let modified = header(&r, "last-modified").to_string();
        let at = httpdate::parse_http_date(&modified).expect("an HTTP date");
        let age = std::time::SystemTime::now().duration_since(at).unwrap();
        assert!(age.as_secs() < 120, "{modified}");
        assert_eq!(
            r.headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            (!public).then_some("private, no-store")
        );
        assert_eq!(r.bytes().await.unwrap().to_vec(), data);

        // Single ranges.
        for (range, start, end) in [
            ("bytes=0-99", 0, 99),
            ("bytes=990-", 990, 999),
            ("bytes=-5", 995, 999),
            ("bytes=995-2000", 995, 999),
            ("bytes=7-7", 7, 7),
        ] {
            let r = fetch(&s, b, "d/data.bin", &[("range", range)]).await;
            assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
            assert_eq!(
                header(&r, "content-range"),
                format!("bytes {start}-{end}/1000"),
                "{range}"
            );
            assert_eq!(
                header(&r, "content-length"),
                (end - start + 1).to_string(),
                "{range}"
            );
            assert_eq!(header(&r, "x-content-type-options"), "nosniff");
            assert_eq!(
                r.bytes().await.unwrap().to_vec(),
                data[start..=end],
                "{range}"
            );
        }
        for range in ["bytes=1000-", "bytes=5000-6000", "bytes=-0"] {
            let r = fetch(&s, b, "d/data.bin", &[("range", range)]).await;
            assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
            assert_eq!(header(&r, "content-range"), "bytes */1000", "{range}");
            assert_error(r, 416, "STORAGE_INVALID_PARAMETER").await;
        }
        // Syntax the server does not serve partially is answered in full.
        for range in ["bytes=0-1,5-6", "items=0-5", "bytes=9-3"] {
            let r = fetch(&s, b, "d/data.bin", &[("range", range)]).await;
            assert_eq!(r.status(), StatusCode::OK, "{range}");
            assert_eq!(r.bytes().await.unwrap().len(), 1000, "{range}");
        }

        // Conditional requests.
        let weak = format!("W/{etag}");
        let earlier = httpdate::fmt_http_date(at - std::time::Duration::from_secs(3600));
        let cases: &[(&str, &str, StatusCode)] = &[
            ("if-none-match", &etag, StatusCode::NOT_MODIFIED),
            ("if-none-match", &weak, StatusCode::NOT_MODIFIED),
            ("if-none-match", "\"other\", *", StatusCode::NOT_MODIFIED),
            ("if-none-match", "\"other\"", StatusCode::OK),
            ("if-modified-since", &modified, StatusCode::NOT_MODIFIED),
            ("if-modified-since", &earlier, StatusCode::OK),
            ("if-modified-since", "not a date", StatusCode::OK),
        ];
        for (name, value, want) in cases {
            let r = fetch(&s, b, "d/data.bin", &[(name, value)]).await;
            assert_eq!(r.status(), *want, "{name}: {value}");
            assert_eq!(header(&r, "etag"), etag);
            let len = r.bytes().await.unwrap().len();
            assert_eq!(len, if *want == StatusCode::OK { 1000 } else { 0 });
        }
        // If-None-Match wins over If-Modified-Since.
        let r = fetch(
            &s,
            b,
            "d/data.bin",
            &[
                ("if-none-match", "\"other\""),
                ("if-modified-since", &modified),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        // If-Range: the range applies only to the same version.
        let r = fetch(
            &s,
            b,
            "d/data.bin",
            &[("range", "bytes=0-9"), ("if-range", &etag)],
        )
        .await;
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        let r = fetch(
            &s,
            b,
            "d/data.bin",
            &[("range", "bytes=0-9"), ("if-range", "\"stale\"")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().len(), 1000);

        // HEAD: headers, no body.
        let url = s.storage(&format!("/buckets/{b}/objects/d%2Fdata.bin"));
        let r = s
            .client
            .head(&url)
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-length"), "1000");
        assert_eq!(header(&r, "etag"), etag);
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert!(r.bytes().await.unwrap().is_empty());
        let r = s
            .client
            .head(&url)
            .bearer_auth(API_KEY)
            .header("range", "bytes=0-9")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(header(&r, "content-length"), "10");
        // A raw HEAD really has no body on the wire.
        let raw = s.raw(&format!("HEAD /api/storage/buckets/{b}/objects/d%2Fdata.bin HTTP/1.1\r\nAuthorization: Bearer {API_KEY}"), b"").await;
        assert_eq!(raw.status, 200);
        assert_eq!(raw.header("content-length"), Some("1000"));
        assert!(raw.body.is_empty(), "{} body bytes", raw.body.len());
    }

    // A new version gets a new ETag, and the old one no longer matches.
    assert_eq!(
        s.put(&vb, "d/data.bin", pattern(999), Some(API_KEY))
            .await
            .status(),
        200
    );
    let r = fetch(&s, &vb, "d/data.bin", &[("if-none-match", &etag)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_ne!(header(&r, "etag"), etag);

    // Empty objects.
    assert_eq!(
        s.put(&vb, "empty", Vec::new(), Some(API_KEY))
            .await
            .status(),
        200
    );
    let r = fetch(&s, &vb, "empty", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-length"), "0");
    let r = fetch(&s, &vb, "empty", &[("range", "bytes=0-0")]).await;
    assert_eq!(header(&r, "content-range"), "bytes */0");
    assert_error(r, 416, "STORAGE_INVALID_PARAMETER").await;
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

/// A valid 1×1 RGBA PNG, built by hand (zlib "stored" block, so no compressor is needed).
fn tiny_png() -> Vec<u8> {
    let raw = [0u8, 255, 0, 0, 255]; // filter byte, then one red pixel
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    let mut zlib = vec![0x78, 0x01, 0x01, 0x05, 0x00, 0xFA, 0xFF];
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut ihdr = 1u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&1u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &zlib));
    png.extend(chunk(b"IEND", b""));
    png
}

async fn upload_typed(s: &TestServer, b: &str, key: &str, bytes: Vec<u8>, declared: &str) -> Value {
    let part = Part::bytes(bytes)
        .file_name("upload")
        .mime_str(declared)
        .unwrap();
    let r = s
        .client
        .put(s.storage(&format!("/buckets/{b}/objects/{}", encode(key))))
        .bearer_auth(API_KEY)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{key}");
    r.json().await.unwrap()
}

async fn content_types(store: Store) {
    let s = TestServer::start(store).await;
    let b = bucket_name("mime");
    s.create_bucket(&b, true).await;
    let png = tiny_png();
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926, "crc32 check value");
    let pdf = b"%PDF-1.7\n%\xb5\xb5\xb5\xb5\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<<>>\n%%EOF\n".to_vec();
    let html =
        b"<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>\n"
            .to_vec();
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();

    // (key, bytes, declared type, stored and served type). Magic bytes beat the declared
    // type; markup and unsafe declared types are stored as application/octet-stream.
    let octet = "application/octet-stream";
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("pixel", png.clone(), "text/plain", "image/png"),
        ("pixel.png", png.clone(), "image/png", "image/png"),
        ("doc.bin", pdf.clone(), octet, "application/pdf"),
        ("page.html", html.clone(), "text/html", octet),
        ("sneaky.txt", html.clone(), "text/plain", octet),
        ("pic.svg", svg.clone(), "image/svg+xml", octet),
        (
            "data.json",
            b"{\"a\":1}".to_vec(),
            "application/json",
            "application/json",
        ),
        ("plain", b"just text".to_vec(), "text/html", octet),
    ];
    for (key, bytes, declared, want) in cases {
        let file = upload_typed(&s, &b, key, bytes.clone(), declared).await;
        assert_eq!(file["mimeType"], want, "{key}");
        let r = s.get(&b, key, None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), want, "{key}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{key}");
        if want != octet {
            // Safe, recognised types display inline.
            assert!(r.headers().get("content-disposition").is_none(), "{key}");
        }
        assert_eq!(r.bytes().await.unwrap().to_vec(), bytes, "{key}");
    }
    let page: Value = s.list(&b, "", Some(API_KEY)).await.json().await.unwrap();
    assert_eq!(page["pagination"]["total"], 8);
}

all_backends!(validators_and_ranges, content_types);
