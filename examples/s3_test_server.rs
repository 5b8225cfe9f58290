//! Dev-only: the test S3 server of `tests/it/s3_server.rs` (s3s-fs with one credential pair)
//! as a process, for test suites outside Rust (the JavaScript SDK tests in `tests/sdk`).
//!
//! ```text
//! cargo run --example s3_test_server -- ROOT_DIR [ACCESS_KEY SECRET_KEY [BUCKET]]
//! ```
//!
//! Missing arguments come from `S3_TEST_ROOT`, `S3_TEST_ACCESS_KEY`, `S3_TEST_SECRET_KEY` and
//! `S3_TEST_BUCKET` (bucket default `coffer-test`). Creates the physical bucket directory under
//! the root, listens on a free 127.0.0.1 port, prints one line
//! `s3 test server listening on http://127.0.0.1:PORT bucket=NAME` and serves until killed.

#[path = "../tests/it/s3_server.rs"]
mod s3_server;

use std::path::PathBuf;

fn setting(args: &[String], index: usize, var: &str, default: Option<&str>) -> String {
    args.get(index)
        .cloned()
        .or_else(|| std::env::var(var).ok())
        .or_else(|| default.map(str::to_string))
        .unwrap_or_else(|| {
            eprintln!(
                "usage: s3_test_server ROOT_DIR [ACCESS_KEY SECRET_KEY [BUCKET]] (or set {var})"
            );
            std::process::exit(2)
        })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(setting(&args, 0, "S3_TEST_ROOT", None));
    let access_key = setting(&args, 1, "S3_TEST_ACCESS_KEY", Some(s3_server::ACCESS_KEY));
    let secret_key = setting(&args, 2, "S3_TEST_SECRET_KEY", Some(s3_server::SECRET_KEY));
    let bucket = setting(&args, 3, "S3_TEST_BUCKET", Some("coffer-test"));

    std::fs::create_dir_all(root.join(&bucket)).expect("create the bucket directory");
    let (endpoint, _stop) = s3_server::serve(&root, &access_key, &secret_key);
    println!("s3 test server listening on {endpoint} bucket={bucket}");
    loop {
        std::thread::park();
    }
}
