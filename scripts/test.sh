#!/usr/bin/env bash
# Runs Coffer's whole test suite: unit tests, the black-box HTTP suite on SQLite and on
# PostgreSQL, and the JavaScript SDK suite (on local disk and S3). Starts what the tests need
# when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL: the tests create (and drop) their own databases through TEST_DATABASE_URL.
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    echo "test.sh: starting the local PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 || { echo "test.sh: PostgreSQL is not reachable" >&2; exit 1; }

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --all-targets --no-fail-fast
else
    cargo test --workspace --all-targets --no-fail-fast
fi

if [ -f tests/sdk/package.json ]; then
    # The SDK suite runs on local disk and on S3 (the dev-only test S3 server example).
    cargo build --bin coffer --example s3_test_server
    (cd tests/sdk && npm ci --no-audit --no-fund && npm test)
fi
