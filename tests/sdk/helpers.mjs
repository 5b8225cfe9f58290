// Shared fixtures for the SDK tests: a real `coffer serve` process on a fresh data directory,
// HS256 access tokens minted with its JWT secret, and the SDK clients that talk to it.
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

import { createAdminClient, createClient } from '@insforge/sdk';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The server binary: `cargo build --bin coffer` puts it here; COFFER_BIN overrides. */
export const cofferBin = process.env.COFFER_BIN ?? path.resolve(here, '../../target/debug/coffer');

/** The test S3 server: `cargo build --example s3_test_server` puts it here; S3_TEST_SERVER_BIN overrides. */
export const s3TestServerBin =
  process.env.S3_TEST_SERVER_BIN ?? path.resolve(here, '../../target/debug/examples/s3_test_server');

/**
 * The backends every storage test runs on: local disk, S3 with presigned POST uploads and
 * presigned/redirected downloads, and S3 in proxy mode (bytes through Coffer).
 * SDK_BACKENDS=local,s3-presigned,s3-proxy (comma-separated) narrows the list.
 */
export const ALL_BACKENDS = ['local', 's3-presigned', 's3-proxy'];
export const BACKENDS = (process.env.SDK_BACKENDS ?? ALL_BACKENDS.join(','))
  .split(',')
  .map((b) => b.trim())
  .filter(Boolean);
for (const b of BACKENDS) if (!ALL_BACKENDS.includes(b)) throw new Error(`SDK_BACKENDS: unknown backend ${b}`);

/**
 * Spawns `bin args` and waits (30 s at most) for a stdout line matching `pattern`. Returns
 * `{ match, stderr(), stop() }`; `stop()` sends SIGTERM (SIGKILL after 5 s) and waits for exit.
 */
async function spawnAndAwait(bin, args, env, pattern, hint) {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });

  // Never leave a process behind, even if the test process dies without running `after`.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));

  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (stderr.length > 64 * 1024) stderr = stderr.slice(-32 * 1024);
  });

  let stdout = '';
  child.stdout.setEncoding('utf8');
  let onError;
  let onEarlyExit;
  let timer;
  let match;
  const name = path.basename(bin);
  try {
    match = await new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${name} did not report its address within 30 s`)), 30_000);
      onError = (err) => reject(new Error(`cannot run ${bin} (${hint}): ${err.message}`));
      onEarlyExit = (code, signal) => reject(new Error(`${name} exited early (code ${code}, signal ${signal})`));
      child.once('error', onError);
      child.once('exit', onEarlyExit);
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        const m = pattern.exec(stdout);
        if (m) resolve(m);
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    err.message += `\nstdout:\n${stdout}\nstderr:\n${stderr}`;
    throw err;
  } finally {
    clearTimeout(timer);
    child.off('error', onError);
    child.off('exit', onEarlyExit);
    child.stdout.removeAllListeners('data');
  }
  // Keep draining stdout so the process never blocks on a full pipe.
  child.stdout.resume();

  return {
    match,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/**
 * Starts `coffer serve` on a free port with known secrets and returns
 * `{ baseUrl, jwtSecret, apiKey, anonKey, stop() }`. Extra env vars may be passed.
 */
export async function startCoffer(extraEnv = {}) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'coffer-sdk-'));
  const jwtSecret = randomBytes(32).toString('hex');
  const apiKey = `ik_${randomBytes(32).toString('hex')}`;
  const anonKey = `anon_${randomBytes(32).toString('hex')}`;
  const env = {
    COFFER_LISTEN: '127.0.0.1:0',
    COFFER_DATA_DIR: dataDir,
    JWT_SECRET: jwtSecret,
    ACCESS_API_KEY: apiKey,
    ACCESS_ANON_KEY: anonKey,
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
    ...extraEnv,
  };
  let proc;
  try {
    // The server prints `coffer listening on http://127.0.0.1:PORT (public base URL …)`.
    proc = await spawnAndAwait(cofferBin, ['serve'], env, /coffer listening on (http:\/\/[^\s]+)/, 'build it with `cargo build --bin coffer`');
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    baseUrl: proc.match[1],
    jwtSecret,
    apiKey,
    anonKey,
    dataDir,
    stderr: proc.stderr,
    async stop() {
      await proc.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts the test S3 server (s3s-fs, checks SigV4 and POST policies) on a fresh directory with
 * fresh credentials. Returns `{ endpoint, bucket, root, bucketDir, env(presigned), stop() }`.
 */
export async function startS3() {
  const root = await mkdtemp(path.join(tmpdir(), 'coffer-sdk-s3-'));
  const accessKey = `SDKTEST${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretKey = randomBytes(24).toString('hex');
  let proc;
  try {
    proc = await spawnAndAwait(
      s3TestServerBin,
      [root, accessKey, secretKey, 'coffer-sdk'],
      {},
      /s3 test server listening on (http:\/\/\S+) bucket=(\S+)/,
      'build it with `cargo build --example s3_test_server`',
    );
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  const [, endpoint, bucket] = proc.match;
  return {
    endpoint,
    bucket,
    root,
    bucketDir: path.join(root, bucket),
    env: (presigned) => ({
      S3_BUCKET: bucket,
      S3_ENDPOINT_URL: endpoint,
      S3_REGION: 'us-east-1',
      S3_ACCESS_KEY_ID: accessKey,
      S3_SECRET_ACCESS_KEY: secretKey,
      S3_FORCE_PATH_STYLE: 'true',
      S3_USE_PRESIGNED_URLS: String(presigned),
    }),
    async stop() {
      await proc.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * Starts Coffer on `backend` (one of ALL_BACKENDS), with the test S3 server behind it for the
 * S3 ones. Returns startCoffer's object plus `backend` and `s3` (null on local disk).
 */
export async function startBackend(backend, extraEnv = {}) {
  if (backend === 'local') return { ...(await startCoffer(extraEnv)), backend, s3: null };
  const s3 = await startS3();
  let server;
  try {
    server = await startCoffer({ ...s3.env(backend === 's3-presigned'), ...extraEnv });
  } catch (err) {
    await s3.stop();
    throw err;
  }
  return {
    ...server,
    backend,
    s3,
    async stop() {
      await server.stop();
      await s3.stop();
    },
  };
}

const b64url = (value) => Buffer.from(value).toString('base64url');

/** An HS256 JWT signed with `secret`; `expiresIn` seconds from now (negative = expired). */
export function mintToken(secret, sub, { role = 'authenticated', expiresIn = 900 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const claims = { sub, role, iat: now + Math.min(0, expiresIn) - 60, exp: now + expiresIn };
  const payload = b64url(JSON.stringify(claims));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/**
 * Every kind of SDK client a test needs against one server:
 * anon (`createClient({ baseUrl, anonKey })`), admin (`createAdminClient({ apiKey })`), two
 * users and one user whose token has expired (`createClient({ baseUrl, anonKey, accessToken })`).
 */
export function clients(server) {
  const { baseUrl, anonKey, apiKey, jwtSecret } = server;
  const user = (token) => createClient({ baseUrl, anonKey, accessToken: token });
  return {
    anon: createClient({ baseUrl, anonKey }),
    admin: createAdminClient({ baseUrl, apiKey }),
    alice: user(mintToken(jwtSecret, 'user-alice')),
    bob: user(mintToken(jwtSecret, 'user-bob')),
    expired: user(mintToken(jwtSecret, 'user-alice', { expiresIn: -120 })),
  };
}

/** Creates a bucket through the REST API with the admin key. */
export async function createBucket(server, bucketName, isPublic) {
  const res = await fetch(`${server.baseUrl}/api/storage/buckets`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${server.apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ bucketName, isPublic }),
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

/** Deterministic pseudo-random bytes (cheap to make, never all-zero, never text). */
export function bytesOf(size, seed = 1) {
  const out = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  for (; i < size; i++) out[i] = (x >>> (8 * (i & 3))) & 0xff;
  return out;
}

/** A `File` (Node 20 global) of the given bytes. */
export function fileOf(bytes, name = 'blob.bin', type = 'application/octet-stream') {
  return new File([bytes], name, { type });
}

/** Asserts an SDK `{ data, error }` result failed with the given status and code. */
export function assertSdkError(result, statusCode, code, messagePattern) {
  assert.equal(result.data, null, `expected no data, got ${JSON.stringify(result.data)}`);
  assert.ok(result.error, 'expected an error');
  assert.equal(result.error.name, 'InsForgeError');
  assert.equal(result.error.statusCode, statusCode, `statusCode of ${JSON.stringify(errorView(result.error))}`);
  assert.equal(result.error.error, code, `error code of ${JSON.stringify(errorView(result.error))}`);
  if (messagePattern) assert.match(result.error.message, messagePattern);
}

/** Asserts an SDK `{ data, error }` result succeeded and returns its data. */
export function ok(result) {
  assert.equal(result.error, null, `unexpected error ${JSON.stringify(errorView(result.error))}`);
  assert.notEqual(result.data, null);
  return result.data;
}

export function errorView(error) {
  return error && { message: error.message, statusCode: error.statusCode, error: error.error, nextActions: error.nextActions };
}

/** The bytes of a successful download, as a Buffer. */
export async function downloaded(result) {
  const blob = ok(result);
  assert.ok(blob instanceof Blob, 'download() returns a Blob');
  return Buffer.from(await blob.arrayBuffer());
}

export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Asserts the StorageFile shape (CONTRACT §1.2) and returns it. */
export function assertStorageFile(file, { bucket, key, size, baseUrl }) {
  const allowed = ['bucket', 'key', 'mimeType', 'size', 'uploadedAt', 'url'];
  for (const field of Object.keys(file)) assert.ok(allowed.includes(field), `unexpected StorageFile field ${field}`);
  for (const field of ['bucket', 'key', 'size', 'uploadedAt', 'url']) assert.ok(field in file, `StorageFile has ${field}`);
  assert.equal(file.bucket, bucket);
  assert.equal(file.key, key);
  assert.equal(file.size, size);
  assert.match(file.uploadedAt, ISO_MS);
  assert.equal(typeof file.url, 'string');
  const expectedPrefix = `${baseUrl}/api/storage/buckets/${bucket}/objects/${encodeURIComponent(key)}`;
  assert.ok(file.url === expectedPrefix || file.url.startsWith(`${expectedPrefix}?v=`), `url ${file.url} starts with ${expectedPrefix}`);
  if ('mimeType' in file) assert.equal(typeof file.mimeType, 'string');
  return file;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A `fetch` for the SDK's `config.fetch` that records `METHOD /path` of every request the
 * SDK's HTTP client sends (presigned transfers use the global fetch and are not recorded).
 */
export function recordingFetch() {
  const calls = [];
  const original = globalThis.fetch; // not recordingGlobalFetch's wrapper, which records apart
  const fetchImpl = (input, init = {}) => {
    const url = new URL(typeof input === 'string' ? input : input.url);
    calls.push(`${(init.method ?? 'GET').toUpperCase()} ${url.pathname}`);
    return original(input, init);
  };
  return { calls, fetch: fetchImpl };
}

/**
 * Runs `fn` while the global `fetch` records `METHOD origin/path` of every call (the SDK sends
 * presigned uploads and downloads with it); returns `{ result, calls }`.
 */
export async function recordingGlobalFetch(fn) {
  const original = globalThis.fetch;
  const calls = [];
  globalThis.fetch = (input, init = {}) => {
    const url = new URL(typeof input === 'string' ? input : input.url);
    calls.push(`${(init.method ?? 'GET').toUpperCase()} ${url.origin}${url.pathname}`);
    return original(input, init);
  };
  try {
    return { result: await fn(), calls };
  } finally {
    globalThis.fetch = original;
  }
}

/**
 * On an S3 backend: the bytes of every stored version of `bucket`/`key` in the test S3 server
 * (physical names `<APP_KEY>/<bucket>/<key>/<version>`; s3s-fs keeps one file per object).
 */
export async function s3Copies(server, bucket, key) {
  assert.ok(server.s3, 's3Copies needs an S3 backend');
  const dir = path.join(server.s3.bucketDir, 'local', bucket, ...key.split('/'));
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (err.code === 'ENOENT') return [];
    throw err;
  }
  const files = entries.filter((e) => e.isFile() && !e.name.startsWith('.'));
  return Promise.all(files.map((e) => readFile(path.join(dir, e.name))));
}

/**
 * Asserts `url` points straight at the stored object of `bucket`/`key` on the test S3 server
 * (`<endpoint>/<physical bucket>/local/<bucket>/<key>/<version>`) and returns it parsed.
 */
export function assertS3ObjectUrl(server, url, bucket, key) {
  const parsed = new URL(url);
  assert.equal(parsed.origin, new URL(server.s3.endpoint).origin, `${url} is on the S3 server`);
  const objectPath = decodeURIComponent(parsed.pathname);
  const prefix = `/${server.s3.bucket}/local/${bucket}/${key}/`;
  assert.ok(objectPath.startsWith(prefix), `${objectPath} starts with ${prefix}`);
  assert.match(objectPath.slice(prefix.length), /^[0-9a-f]{32}$/);
  return parsed;
}
