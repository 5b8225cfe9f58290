#!/usr/bin/env python3
"""Coffer benchmark harness (issue 4): one command, one table, ratios against a reference
measured in the same run.

    python3 bench/bench.py            # full run (7-10 min on a 2-core machine)
    python3 bench/bench.py --quick    # smoke test of the harness itself (~4 min, small sizes)

What it does, in order:
  * installs missing tools with apt-get (wrk, nginx-light, curl, PostgreSQL client/pgbench),
    printing what it installs;
  * builds `coffer` in release mode into target/bench (its own target dir);
  * starts Coffer on the embedded default (SQLite) and on PostgreSQL (a fresh database on
    postgres://postgres@127.0.0.1:5432, dropped afterwards), and a reference nginx (sendfile
    on) serving Coffer's own blob files; everything listens on 127.0.0.1 only;
  * measures small GETs (public and JWT-authenticated), small multipart PUTs, 1 GiB upload
    and download with the server's peak RSS, and list/lookup latency over 1,000,000 rows;
  * prints one table and writes it as JSON to bench/results/latest.json.

Every load is bounded: wrk runs for --duration seconds (default 10), reference loops for the
same time. Only Python's standard library is used.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_DIR = ROOT / "target" / "bench"
COFFER = TARGET_DIR / "release" / "coffer"
RESULTS = ROOT / "bench" / "results"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")

# Tool -> Debian package that provides it.
TOOLS = {
    "wrk": "wrk",
    "nginx": "nginx-light",
    "curl": "curl",
    "psql": "postgresql-client",
    "pgbench": "postgresql-contrib",
}

LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
"""


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", True)
    return subprocess.run(cmd, **kw)


# --------------------------------------------------------------------------- tools, build


def ensure_tools() -> None:
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        log("tools present: " + ", ".join(TOOLS))
        return
    log(f"installing with apt-get: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if run(["apt-get", "install", "-y", *missing], env=env, check=False).returncode != 0:
        run(["apt-get", "update"], env=env)
        run(["apt-get", "install", "-y", *missing], env=env)
    for tool in TOOLS:
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is still missing after apt-get")


def build(rev: str | None) -> str:
    """Builds the working tree, or with `rev` a clean export of that commit (so others'
    uncommitted edits in a shared tree neither break nor colour the numbers)."""
    src = ROOT
    if rev:
        commit = run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT,
                     capture_output=True, text=True).stdout.strip()
        src = TARGET_DIR / "src"
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir(parents=True)
        log(f"exporting commit {commit[:12]} to {src}")
        archive = subprocess.Popen(["git", "archive", commit], cwd=ROOT, stdout=subprocess.PIPE)
        run(["tar", "-x", "-C", str(src)], stdin=archive.stdout)
        if archive.wait() != 0:
            sys.exit("bench: git archive failed")
        label = commit[:12]
    else:
        head = run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                   text=True, check=False).stdout.strip()
        dirty = run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                    capture_output=True, text=True, check=False).stdout.strip()
        label = head + ("+uncommitted" if dirty else "")
    log(f"cargo build --release --bin coffer in {src} (CARGO_TARGET_DIR={TARGET_DIR})")
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET_DIR))
    run(["cargo", "build", "--release", "--bin", "coffer"], cwd=src, env=env)
    return label


# --------------------------------------------------------------------------- HTTP helpers


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(secret: str, sub: str, role: str = "authenticated", ttl: int = 7200) -> str:
    def part(obj) -> str:
        return b64u(json.dumps(obj, separators=(",", ":")).encode())

    head = part({"alg": "HS256", "typ": "JWT"})
    claims = part({"sub": sub, "role": role, "exp": int(time.time()) + ttl})
    sig = hmac.new(secret.encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest()
    return f"{head}.{claims}.{b64u(sig)}"


BOUNDARY = "coffer-bench-boundary-7d41"


def multipart(data: bytes, filename: str = "blob.bin") -> bytes:
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
        f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def http(method: str, url: str, token: str | None = None, body: bytes | None = None,
         content_type: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def expect(status_body: tuple[int, bytes], ok: tuple[int, ...], what: str) -> bytes:
    status, body = status_body
    if status not in ok:
        sys.exit(f"bench: {what}: HTTP {status}: {body[:300]!r}")
    return body


# --------------------------------------------------------------------------- servers


class Coffer:
    def __init__(self, work: Path, name: str, data_dir: Path, api_key: str, jwt_secret: str,
                 database_url: str | None = None):
        self.name, self.data_dir, self.api_key = name, data_dir, api_key
        self.jwt_secret, self.database_url = jwt_secret, database_url
        self.log_path = work / f"coffer-{name}.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.base}/api/storage"

    def start(self) -> None:
        self.port = free_port()
        env = dict(os.environ)
        env.pop("DATABASE_URL", None)
        env.update(
            COFFER_LISTEN=f"127.0.0.1:{self.port}",
            COFFER_DATA_DIR=str(self.data_dir),
            ACCESS_API_KEY=self.api_key,
            JWT_SECRET=self.jwt_secret,
            MAX_FILE_SIZE=str(2 * 1024**3),
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(COFFER), "serve"], env=env, stdout=logf, stderr=logf)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"bench: coffer ({self.name}) exited; see {self.log_path}")
            try:
                if http("GET", f"{self.api}/buckets", self.api_key)[0] == 200:
                    log(f"coffer ({self.name}) pid {self.proc.pid} on {self.base}")
                    return
            except OSError:
                pass
            time.sleep(0.1)
        sys.exit(f"bench: coffer ({self.name}) did not answer within 60 s")

    def status(self, field: str) -> int:
        """A `/proc/<pid>/status` size field (VmHWM, VmRSS) in KiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def bucket(self, name: str, public: bool) -> None:
        body = json.dumps({"bucketName": name, "isPublic": public}).encode()
        expect(http("POST", f"{self.api}/buckets", self.api_key, body, "application/json"),
               (200, 201), f"create bucket {name}")

    def put(self, bucket: str, key: str, data: bytes, token: str) -> None:
        url = f"{self.api}/buckets/{bucket}/objects/{urllib.parse.quote(key, safe='')}"
        expect(http("PUT", url, token, multipart(data), f"multipart/form-data; boundary={BOUNDARY}"),
               (200, 201), f"upload {bucket}/{key}")


class Nginx:
    def __init__(self, work: Path, root: Path):
        self.dir = work / "nginx"
        self.dir.mkdir()
        self.root = root
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.port = free_port()
        d = self.dir
        conf = d / "nginx.conf"
        conf.write_text(f"""
user root;
worker_processes auto;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    default_type application/octet-stream;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.root};
    }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-p", str(d), "-e", str(d / "error.log"),
                                      "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=open(d / "stderr.log", "ab"))
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"bench: nginx exited; see {d}/stderr.log and {d}/error.log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    log(f"nginx pid {self.proc.pid} on 127.0.0.1:{self.port}, root {self.root}")
                    return
            except OSError:
                time.sleep(0.1)
        sys.exit("bench: nginx did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------- measuring


class Bench:
    def __init__(self, args, work: Path):
        self.args, self.work = args, work
        self.rows: list[dict] = []
        self.raw: dict[str, object] = {}
        self.notes: list[str] = []

    # ---- table -------------------------------------------------------------------------

    def row(self, metric: str, unit: str, coffer: float | None, reference: float | None,
            ref_name: str, better: str, target: str = "", met: bool | None = None) -> None:
        ratio = (coffer / reference) if (coffer is not None and reference) else None
        self.rows.append(dict(metric=metric, unit=unit, coffer=coffer, reference=reference,
                              reference_is=ref_name, ratio=ratio, better=better,
                              target=target, met=met))

    # ---- wrk -----------------------------------------------------------------------------

    def wrk(self, label: str, url: str, conns: int, script: str = "", headers=(),
            threads: int | None = None) -> dict:
        threads = threads or min(2, conns)
        path = self.work / f"{label}.lua"
        path.write_text(script + LUA_DONE)
        cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{self.args.duration}s",
               "--timeout", "10s", "--latency", "-s", str(path)]
        for h in headers:
            cmd += ["-H", h]
        cmd.append(url)
        assert url.startswith("http://127.0.0.1:"), url
        log(f"wrk {label}: {conns} connections, {self.args.duration} s")
        out = run(cmd, capture_output=True, text=True).stdout
        (self.work / f"{label}.wrk.txt").write_text(out)
        line = next(l for l in out.splitlines() if l.startswith("BENCHJSON "))
        r = json.loads(line[len("BENCHJSON "):])
        r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
        errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
        r["errors"] = errors
        self.raw[label] = r
        log(f"  {r['rps']:.0f} req/s, p50 {r['p50_us'] / 1000:.2f} ms, "
            f"p99 {r['p99_us'] / 1000:.2f} ms, errors {errors}")
        if errors:
            self.notes.append(f"{label}: {errors} errors (non-2xx/3xx {r['status']}, "
                              f"read {r['read']}, timeout {r['timeout']}) out of {r['requests']}")
        return r

    # ---- scenario pieces -------------------------------------------------------------------

    def prepare(self, c: Coffer, user_token: str, small: bytes) -> None:
        c.bucket("pub", True)
        c.bucket("priv", False)
        c.bucket("meta", False)
        c.put("pub", "small.bin", small, c.api_key)
        c.put("priv", "small.bin", small, user_token)
        got = expect(http("GET", f"{c.api}/buckets/pub/objects/small.bin"), (200,), "GET pub")
        assert got == small, "public GET returned other bytes"
        got = expect(http("GET", f"{c.api}/buckets/priv/objects/small.bin", user_token), (200,),
                     "GET priv")
        assert got == small, "private GET returned other bytes"
        status, _ = http("GET", f"{c.api}/buckets/priv/objects/small.bin")
        assert status == 401, f"private GET without a token answered {status}"

    def small_gets(self, c: Coffer, nginx: Nginx, user_token: str, db: str) -> None:
        ref = self.wrk(f"nginx-small-get-{db}", f"http://127.0.0.1:{nginx.port}/small.bin", 64)
        pub = self.wrk(f"{db}-small-get", f"{c.api}/buckets/pub/objects/small.bin", 64)
        auth = self.wrk(f"{db}-auth-get", f"{c.api}/buckets/priv/objects/small.bin", 64,
                        headers=[f"Authorization: Bearer {user_token}"])
        tgt = "≥ 0.7× nginx"
        self.row(f"[{db}] small GET 4 KiB public, 64 conns", "req/s", pub["rps"], ref["rps"],
                 "nginx sendfile", "higher", tgt, pub["rps"] >= 0.7 * ref["rps"])
        self.row(f"[{db}] small GET public p50", "ms", pub["p50_us"] / 1e3, ref["p50_us"] / 1e3,
                 "nginx sendfile", "lower")
        self.row(f"[{db}] small GET public p99", "ms", pub["p99_us"] / 1e3, ref["p99_us"] / 1e3,
                 "nginx sendfile", "lower")
        self.row(f"[{db}] small GET 4 KiB private + JWT, 64 conns", "req/s", auth["rps"],
                 ref["rps"], "nginx sendfile", "higher")
        self.row(f"[{db}] small GET private + JWT p50", "ms", auth["p50_us"] / 1e3,
                 ref["p50_us"] / 1e3, "nginx sendfile", "lower")
        self.row(f"[{db}] small GET private + JWT p99", "ms", auth["p99_us"] / 1e3,
                 ref["p99_us"] / 1e3, "nginx sendfile", "lower")

    def small_puts(self, c: Coffer, user_token: str, small: bytes, db: str) -> None:
        conns = 16
        # ASCII payload, so the body is a plain Lua string literal (LuaJIT has no \u escapes).
        body = multipart(small.hex()[:4096].encode()).decode()
        script = f"""
local counter = 0
local threads_n = 0
setup = function(thread)
  threads_n = threads_n + 1
  thread:set("tid", threads_n)
end
local body = {json.dumps(body)}
request = function()
  counter = counter + 1
  local path = string.format("/api/storage/buckets/priv/objects/up%%2Ft%d-%d.bin", tid, counter)
  return wrk.format("PUT", path, nil, body)
end
"""
        r = self.wrk(f"{db}-small-put", f"{c.api}/buckets/priv/objects/x", conns, script,
                     headers=[f"Authorization: Bearer {user_token}",
                              f"Content-Type: multipart/form-data; boundary={BOUNDARY}"])
        ref = self.durable_writes(conns, small, db)
        self.row(f"[{db}] small PUT 4 KiB multipart, {conns} conns", "req/s", r["rps"], ref,
                 "durable file writes", "higher")
        self.row(f"[{db}] small PUT p99", "ms", r["p99_us"] / 1e3, None, "", "lower")

    def durable_writes(self, workers: int, data: bytes, db: str) -> float:
        """The blob half of the write protocol done by a plain program: temp file, write,
        fsync, rename, fsync the directory; `workers` threads for --duration seconds."""
        d = self.work / f"durable-{db}"
        (d / "tmp").mkdir(parents=True)
        (d / "out").mkdir()
        stop = time.time() + self.args.duration
        counts = [0] * workers

        def worker(i: int) -> None:
            n = 0
            dfd = os.open(d / "out", os.O_RDONLY | os.O_DIRECTORY)
            while time.time() < stop:
                tmp, dst = d / "tmp" / f"{i}-{n}", d / "out" / f"{i}-{n}"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                os.write(fd, data)
                os.fsync(fd)
                os.close(fd)
                os.rename(tmp, dst)
                os.fsync(dfd)
                n += 1
            os.close(dfd)
            counts[i] = n

        log(f"reference: durable 4 KiB file writes, {workers} threads, {self.args.duration} s")
        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            list(ex.map(worker, range(workers)))
        rate = sum(counts) / (time.time() - t0)
        log(f"  {rate:.0f} writes/s")
        shutil.rmtree(d)
        return rate

    # ---- large transfer --------------------------------------------------------------------

    def large(self, c: Coffer, nginx: Nginx, big: Path) -> None:
        size = big.stat().st_size
        mb = size / 1e6
        # A fresh server process, so VmHWM covers only the large transfers.
        c.stop()
        c.start()
        rss_start = c.status("VmRSS")
        url = f"{c.api}/buckets/pub/objects/big.bin"
        ups = []
        for i in range(2):
            log(f"upload {size >> 20} MiB through the API (curl -F), run {i + 1}/2")
            t0 = time.time()
            out = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                       "-H", f"Authorization: Bearer {c.api_key}",
                       "-F", f"file=@{big};type=application/octet-stream", url],
                      capture_output=True, text=True).stdout
            dt = time.time() - t0
            if out.strip() not in ("200", "201"):
                sys.exit(f"bench: large upload answered HTTP {out}")
            ups.append(mb / dt)
            log(f"  {mb / dt:.0f} MB/s; server VmHWM {c.status('VmHWM') / 1024:.1f} MiB")
        hwm_upload = c.status("VmHWM")

        cps = []
        for i in range(2):
            dst = big.with_suffix(".copy")
            run(["sync"])
            log(f"reference: cp {size >> 20} MiB + sync, run {i + 1}/2")
            t0 = time.time()
            run(["cp", str(big), str(dst)])
            run(["sync"])
            dt = time.time() - t0
            cps.append(mb / dt)
            log(f"  {mb / dt:.0f} MB/s")
            dst.unlink()

        version = self.blob_version(c, "pub", "big.bin")
        nginx_url = f"http://127.0.0.1:{nginx.port}/pub/{version}"
        downs, refs = [], []
        for i in range(2):
            for name, u, acc in (("nginx", nginx_url, refs), ("coffer", url, downs)):
                out = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}", u],
                          capture_output=True, text=True).stdout.split()
                if out[0] != "200" or int(out[1]) != size:
                    sys.exit(f"bench: {name} download: {out}")
                acc.append(mb / float(out[2]))
                log(f"download {size >> 20} MiB from {name}: {acc[-1]:.0f} MB/s")
        hwm = c.status("VmHWM")
        self.raw["large"] = dict(bytes=size, upload_mb_s=ups, cp_mb_s=cps, download_mb_s=downs,
                                 nginx_mb_s=refs, rss_start_kib=rss_start,
                                 hwm_after_upload_kib=hwm_upload, hwm_kib=hwm)
        up, cp, down, ref = max(ups), max(cps), max(downs), max(refs)
        gib = f"{size / 2**30:g} GiB" if size >= 2**30 else f"{size >> 20} MiB"
        self.row(f"[sqlite] {gib} upload (multipart, fsync)", "MB/s", up, cp, "cp + sync",
                 "higher", "≥ 0.6× cp", up >= 0.6 * cp)
        self.row(f"[sqlite] {gib} download", "MB/s", down, ref, "nginx sendfile", "higher",
                 "≥ 0.8× nginx", down >= 0.8 * ref)
        self.row(f"[sqlite] server peak RSS (VmHWM) over {gib} up + down", "MiB", hwm / 1024,
                 None, "", "lower", "< 64 MiB", hwm / 1024 < 64)
        c.stop()
        c.start()

    def blob_version(self, c: Coffer, bucket: str, key: str) -> str:
        db = sqlite3.connect(c.data_dir / "coffer.db")
        try:
            (v,) = db.execute("SELECT version FROM objects WHERE bucket=? AND key=?",
                              (bucket, key)).fetchone()
        finally:
            db.close()
        return v

    # ---- metadata at scale ----------------------------------------------------------------

    def key_of(self, i: int) -> str:
        return f"d{i // 1000:04d}/o{i % 1000:04d}.bin"

    def insert_sqlite(self, c: Coffer) -> None:
        n = self.args.rows
        log(f"bulk-insert {n} rows into SQLite objects (bucket meta)")
        t0 = time.time()
        db = sqlite3.connect(c.data_dir / "coffer.db", timeout=60)
        now = int(time.time() * 1000)
        with db:
            db.executemany(
                "INSERT INTO objects (bucket, key, size, mime_type, uploaded_at, uploaded_by,"
                " uploaded_via, etag, version) VALUES ('meta', ?, 4096,"
                " 'application/octet-stream', ?, NULL, 'rest', ?, ?)",
                ((self.key_of(i), now, f"{i:032x}", f"{i:032x}") for i in range(n)))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        log(f"  {time.time() - t0:.1f} s")

    def insert_pg(self, dburl: str) -> None:
        n = self.args.rows
        log(f"bulk-insert {n} rows into storage.objects (generate_series), VACUUM ANALYZE")
        t0 = time.time()
        sql = f"""
INSERT INTO storage.objects (bucket, key, size, mime_type, uploaded_at, uploaded_by,
                             uploaded_via, etag, version)
SELECT 'meta', 'd' || lpad((i / 1000)::text, 4, '0') || '/o' || lpad((i % 1000)::text, 4, '0')
       || '.bin', 4096, 'application/octet-stream', now(), NULL, 'rest', md5(i::text),
       md5(i::text)
FROM generate_series(0, {n - 1}) AS i;
"""
        run(["psql", "-q", "-v", "ON_ERROR_STOP=1", dburl, "-c", sql])
        run(["psql", "-q", "-v", "ON_ERROR_STOP=1", dburl, "-c", "VACUUM ANALYZE storage.objects"])
        log(f"  {time.time() - t0:.1f} s")

    def metadata(self, c: Coffer, db: str, dburl: str | None) -> None:
        n = self.args.rows
        dirs = (n + 999) // 1000
        auth = [f"Authorization: Bearer {c.api_key}"]
        # Sanity: one lookup and one list answer as expected.
        body = expect(http("GET", f"{c.api}/buckets/meta/download-strategy/objects/"
                           f"{urllib.parse.quote(self.key_of(n - 1), safe='')}", c.api_key),
                      (200,), "download-strategy")
        assert b"presigned" in body, body
        page = json.loads(expect(http("GET", f"{c.api}/buckets/meta/objects?prefix=d0001%2F"
                                      "&limit=100", c.api_key), (200,), "list"))
        assert len(page["data"]) == 100 and page["pagination"]["total"] == 1000, page["pagination"]

        lookup = self.wrk(f"{db}-lookup", f"{c.api}/buckets/meta/download-strategy/objects/x", 1, f"""
math.randomseed(os.time())
request = function()
  local i = math.random(0, {n - 1})
  return wrk.format("GET", string.format(
    "/api/storage/buckets/meta/download-strategy/objects/d%04d%%2Fo%04d.bin",
    math.floor(i / 1000), i % 1000))
end
""", auth)
        narrow = self.wrk(f"{db}-list-prefix", f"{c.api}/buckets/meta/objects", 1, f"""
math.randomseed(os.time())
request = function()
  local d = math.random(0, {dirs - 1})
  local off = 100 * math.random(0, 9)
  return wrk.format("GET", string.format(
    "/api/storage/buckets/meta/objects?prefix=d%04d%%2F&limit=100&offset=%d", d, off))
end
""", auth)
        wide = self.wrk(f"{db}-list-all", f"{c.api}/buckets/meta/objects?prefix=d&limit=100", 1,
                        "", auth)
        if db == "sqlite":
            ref = self.sqlite_reference(c.data_dir / "coffer.db")
        else:
            ref = self.pg_reference(dburl)
        rows = f"{n // 1000}k" if n < 1_000_000 else f"{n / 1e6:g}M"
        pg = db == "postgres"
        self.row(f"[{db}] key lookup at {rows} rows p50 (1 conn)", "ms", lookup["p50_us"] / 1e3,
                 ref["lookup"][0], "same SQL, direct", "lower",
                 "< 1 ms" if pg else "", (lookup["p50_us"] < 1000) if pg else None)
        self.row(f"[{db}] key lookup p99", "ms", lookup["p99_us"] / 1e3, ref["lookup"][1],
                 "same SQL, direct", "lower")
        self.row(f"[{db}] list page of 100, prefix of 1,000 keys, p50", "ms",
                 narrow["p50_us"] / 1e3, ref["narrow"][0], "same SQL, direct", "lower")
        self.row(f"[{db}] list page of 100, prefix of 1,000 keys, p99", "ms",
                 narrow["p99_us"] / 1e3, ref["narrow"][1], "same SQL, direct", "lower",
                 "< 10 ms" if pg else "", (narrow["p99_us"] < 10_000) if pg else None)
        self.row(f"[{db}] list page of 100, prefix of all {rows} keys, p50", "ms",
                 wide["p50_us"] / 1e3, ref["wide"][0], "same SQL, direct", "lower")
        self.row(f"[{db}] list page of 100, prefix of all {rows} keys, p99", "ms",
                 wide["p99_us"] / 1e3, ref["wide"][1], "same SQL, direct", "lower",
                 "< 10 ms" if pg else "", (wide["p99_us"] < 10_000) if pg else None)

    def sqlite_reference(self, path: Path) -> dict:
        """Coffer's own SQL (src/meta/sqlite.rs), run by Python's sqlite3 on the same file."""
        n = self.args.rows
        dirs = (n + 999) // 1000
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        lookup_sql = (
            "SELECT b.name, b.public, b.created_at, o.key AS okey, o.size, o.mime_type,"
            " o.uploaded_at, o.uploaded_by, o.etag, o.version"
            " FROM buckets b LEFT JOIN objects o ON o.bucket = b.name AND o.key = ?2"
            " WHERE b.name = ?1")
        page_sql = (
            "SELECT bucket, key, size, mime_type, uploaded_at, uploaded_by, etag, version"
            " FROM objects WHERE bucket = ?1 AND key >= ?2 AND key < ?3"
            " AND (?4 IS NULL OR instr(key, ?4) > 0) AND (?5 IS NULL OR uploaded_by = ?5)"
            " ORDER BY key LIMIT ?6 OFFSET ?7")
        count_sql = (
            "SELECT COUNT(*) FROM objects WHERE bucket = ?1 AND key >= ?2 AND key < ?3"
            " AND (?4 IS NULL OR instr(key, ?4) > 0) AND (?5 IS NULL OR uploaded_by = ?5)")
        bucket_sql = "SELECT name, public, created_at FROM buckets WHERE name = ?1"

        def lookup():
            db.execute(lookup_sql, ("meta", self.key_of(random.randrange(n)))).fetchall()

        def listing(lo, hi, off):
            db.execute(bucket_sql, ("meta",)).fetchall()
            db.execute(page_sql, ("meta", lo, hi, None, None, 100, off)).fetchall()
            db.execute(count_sql, ("meta", lo, hi, None, None)).fetchall()

        def narrow():
            d = random.randrange(dirs)
            listing(f"d{d:04d}/", f"d{d:04d}0", 100 * random.randrange(10))

        def wide():
            listing("d", "e", 0)

        out = {}
        for name, fn in (("lookup", lookup), ("narrow", narrow), ("wide", wide)):
            out[name] = self.time_loop(f"sqlite3 reference {name}", fn)
        db.close()
        return out

    def time_loop(self, label: str, fn) -> tuple[float, float]:
        budget = self.args.duration / 2
        lat = []
        stop = time.perf_counter() + budget
        while time.perf_counter() < stop and len(lat) < 200_000:
            t0 = time.perf_counter_ns()
            fn()
            lat.append((time.perf_counter_ns() - t0) / 1e6)
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        log(f"{label}: {len(lat)} ops in {budget:g} s, p50 {p50:.3f} ms, p99 {p99:.3f} ms")
        self.raw[f"ref-{label}"] = dict(ops=len(lat), p50_ms=p50, p99_ms=p99)
        return p50, p99

    def pg_reference(self, dburl: str) -> dict:
        """Coffer's SQL (src/meta/postgres.rs) through pgbench, prepared, one client."""
        n = self.args.rows
        dirs = (n + 999) // 1000
        k = "'d' || lpad((:i / 1000)::text, 4, '0') || '/o' || lpad((:i % 1000)::text, 4, '0') || '.bin'"
        lo = "'d' || lpad(:d::text, 4, '0') || '/'"
        hi = "'d' || lpad(:d::text, 4, '0') || '0'"
        cond = ("bucket = 'meta' AND key >= {lo} AND key < {hi}"
                " AND (NULL::text IS NULL OR strpos(key, NULL::text) > 0)"
                " AND (NULL::text IS NULL OR uploaded_by = NULL::text)")
        listing = ("SELECT name, public, created_at FROM storage.buckets WHERE name = 'meta';\n"
                   "SELECT bucket, key, size, mime_type, uploaded_at, uploaded_by, etag, version"
                   " FROM storage.objects WHERE " + cond + " ORDER BY key LIMIT 100 OFFSET {off};\n"
                   "SELECT COUNT(*) FROM storage.objects WHERE " + cond + ";\n")
        scripts = {
            "lookup": f"""\\set i random(0, {n - 1})
SELECT b.name, b.public, b.created_at, o.key AS okey, o.size, o.mime_type,
 o.uploaded_at, o.uploaded_by, o.etag, o.version
 FROM storage.buckets b LEFT JOIN storage.objects o ON o.bucket = b.name AND o.key = {k}
 WHERE b.name = 'meta';
""",
            "narrow": f"\\set d random(0, {dirs - 1})\n\\set off 100 * random(0, 9)\n"
                      + listing.format(lo=lo, hi=hi, off=":off"),
            "wide": listing.format(lo="'d'", hi="'e'", off="0"),
        }
        out = {}
        for name, script in scripts.items():
            d = self.work / f"pgbench-{name}"
            d.mkdir()
            (d / "script.sql").write_text(script)
            dur = max(1, int(self.args.duration / 2))
            log(f"pgbench reference {name}: 1 client, prepared, {dur} s")
            res = run(["pgbench", "-n", "-M", "prepared", "-c", "1", "-j", "1", "-T", str(dur),
                       "-f", str(d / "script.sql"), "-l", "--log-prefix", str(d / "log"), dburl],
                      capture_output=True, text=True)
            (d / "out.txt").write_text(res.stdout + res.stderr)
            lat = []
            for f in d.glob("log*"):
                for line in f.read_text().splitlines():
                    parts = line.split()
                    if len(parts) >= 3:
                        lat.append(int(parts[2]) / 1000)
            p50, p99 = percentile(lat, 50), percentile(lat, 99)
            log(f"  {len(lat)} transactions, p50 {p50:.3f} ms, p99 {p99:.3f} ms")
            self.raw[f"ref-pgbench-{name}"] = dict(ops=len(lat), p50_ms=p50, p99_ms=p99)
            out[name] = (p50, p99)
        return out


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


# --------------------------------------------------------------------------- output


def fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "—"
    if unit == "req/s" or abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}" if abs(v) >= 1 else f"{v:.3f}"


def table(rows: list[dict]) -> str:
    head = ["metric", "unit", "coffer", "reference", "ratio", "target"]
    lines = []
    for r in rows:
        ref = fmt(r["reference"], r["unit"])
        if r["reference_is"] and r["reference"] is not None:
            ref += f" ({r['reference_is']})"
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}×"
        target = r["target"]
        if r["met"] is not None:
            target += " — " + ("met" if r["met"] else "MISSED")
        lines.append([r["metric"], r["unit"], fmt(r["coffer"], r["unit"]), ref, ratio, target])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(l) + " |" for l in lines]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    p.add_argument("--rows", type=int, default=1_000_000, help="metadata rows (default 1,000,000)")
    p.add_argument("--big-mib", type=int, default=1024, help="large object size in MiB (default 1024)")
    p.add_argument("--quick", action="store_true",
                   help="smoke-test the harness: 3 s runs, 64 MiB, 20,000 rows")
    p.add_argument("--rev", help="build this commit (clean git archive export) instead of the "
                   "working tree, e.g. --rev HEAD")
    p.add_argument("--no-build", action="store_true", help="use the existing target/bench binary")
    p.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = p.parse_args()
    if args.quick:
        args.duration, args.rows, args.big_mib = 3, 20_000, 64
    assert args.rows % 1000 == 0 and args.rows >= 2000, "--rows must be a multiple of 1000"

    started = time.time()
    load_before = os.getloadavg()
    ensure_tools()
    built = "existing binary" if args.no_build else build(args.rev)
    work = Path(tempfile.mkdtemp(prefix="coffer-bench-", dir=os.environ.get("BENCH_TMPDIR")))
    log(f"work dir {work} (same disk as the data dirs and the cp reference)")
    bench = Bench(args, work)
    api_key = "ik_bench" + os.urandom(12).hex()
    secret = os.urandom(24).hex()
    user = mint_jwt(secret, "bench-user")
    small = os.urandom(4096)
    pg_db = f"coffer_bench_{os.getpid()}"
    pg_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_db
    servers: list = []
    pg_created = False
    try:
        # ---------------- SQLite (embedded default) ------------------------------------
        sq = Coffer(work, "sqlite", work / "data-sqlite", api_key, secret)
        servers.append(sq)
        sq.start()
        bench.prepare(sq, user, small)
        # nginx serves Coffer's own blob files: <data>/objects/<bucket>/<version>.
        nginx = Nginx(work, sq.data_dir / "objects")
        servers.append(nginx)
        nginx.start()
        (sq.data_dir / "objects" / "small.bin").symlink_to(
            sq.data_dir / "objects" / "pub" / bench.blob_version(sq, "pub", "small.bin"))
        assert expect(http("GET", f"http://127.0.0.1:{nginx.port}/small.bin"), (200,),
                      "nginx GET") == small
        bench.small_gets(sq, nginx, user, "sqlite")
        bench.small_puts(sq, user, small, "sqlite")

        big = work / "big.bin"
        log(f"writing a {args.big_mib} MiB test file")
        block = os.urandom(16 << 20)
        with open(big, "wb") as f:
            for _ in range(args.big_mib // 16):
                f.write(block)
            f.write(block[: (args.big_mib % 16) << 20])
        bench.large(sq, nginx, big)
        big.unlink()

        bench.insert_sqlite(sq)
        bench.metadata(sq, "sqlite", None)
        sq.stop()

        # ---------------- PostgreSQL ------------------------------------------------------
        run(["psql", "-q", "-v", "ON_ERROR_STOP=1", PG_ADMIN_URL, "-c", f"CREATE DATABASE {pg_db}"])
        pg_created = True
        log(f"created database {pg_db}")
        pg = Coffer(work, "postgres", work / "data-postgres", api_key, secret, pg_url)
        servers.append(pg)
        pg.start()
        bench.prepare(pg, user, small)
        bench.small_gets(pg, nginx, user, "postgres")
        bench.small_puts(pg, user, small, "postgres")
        bench.insert_pg(pg_url)
        bench.metadata(pg, "postgres", pg_url)
    finally:
        for s in reversed(servers):
            s.stop()
        if pg_created:
            run(["psql", "-q", PG_ADMIN_URL, "-c", f"DROP DATABASE IF EXISTS {pg_db}"], check=False)
            log(f"dropped database {pg_db}")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")

    elapsed = time.time() - started
    text = table(bench.rows)
    print()
    print(text)
    for n in bench.notes:
        print(f"note: {n}")
    print(f"\nratio = coffer / reference (req/s, MB/s: higher is better; ms: lower is better)")
    print(f"built: {built}; whole run: {elapsed / 60:.1f} min; wrk runs {args.duration} s each; "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the end "
          f"(other work on the machine makes absolute numbers noisy)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = dict(date=time.strftime("%Y-%m-%dT%H:%M:%S%z"), built=built,
               duration_s=args.duration, rows=args.rows, big_bytes=args.big_mib << 20,
               cores=os.cpu_count(), load_before=load_before, load_after=os.getloadavg(),
               elapsed_s=elapsed,
               table=bench.rows, raw=bench.raw, notes=bench.notes, markdown=text)
    (RESULTS / "latest.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False))
    print(f"wrote {RESULTS / 'latest.json'}")


if __name__ == "__main__":
    main()
