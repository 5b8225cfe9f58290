// Every storage method of @insforge/sdk against a real Coffer on each backend (local disk, S3
// with presigned POST uploads and presigned downloads, S3 in proxy mode): the `data` each one
// returns and the requests behind it (CONTRACT §7.2).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { createClient } from '@insforge/sdk';

import {
  BACKENDS,
  ISO_MS,
  assertS3ObjectUrl,
  assertSdkError,
  assertStorageFile,
  bytesOf,
  clients,
  createBucket,
  downloaded,
  fileOf,
  mintToken,
  ok,
  recordingFetch,
  recordingGlobalFetch,
  s3Copies,
  sleep,
  startBackend,
} from './helpers.mjs';

for (const backend of BACKENDS) {
  describe(`${backend}`, () => {
    // s3-presigned: uploads are a POST form to S3 + confirm, downloads presigned S3 URLs.
    const presigned = backend === 's3-presigned';
    let server;
    let c;

    before(async () => {
      server = await startBackend(backend);
      c = clients(server);
      await createBucket(server, 'docs', false);
      await createBucket(server, 'site', true);
    });

    after(async () => {
      await server?.stop();
    });

    // Keys that need encoding: the SDK sends encodeURIComponent(key) (so `/` arrives as %2F).
    const awkwardKeys = [
      'plain.txt',
      'dir/sub/deep/file.txt',
      'with space.txt',
      'dir with space/and more.txt',
      'ünïcødé/日本語/файл.txt',
      'emoji-😀.bin',
      'a+b=c.txt',
      '+leading plus/x+y z.bin',
      '%41-not-decoded.txt',
      'q?&=#;,@!$\'()*.txt',
      'v1..2.txt',
    ];

    describe(`upload (${presigned ? 'presigned POST + confirm' : 'direct'} strategy)`, () => {
      it('returns the StorageFile the server sends, and replaces on re-upload', async () => {
        const bytes = Buffer.from('first version\n');
        const first = ok(await c.alice.storage.from('docs').upload('notes/today.txt', fileOf(bytes, 'today.txt', 'text/plain')));
        assertStorageFile(first, { bucket: 'docs', key: 'notes/today.txt', size: bytes.length, baseUrl: server.baseUrl });
        assert.equal(first.mimeType, 'text/plain');

        const second = ok(await c.alice.storage.from('docs').upload('notes/today.txt', fileOf(Buffer.from('v2'), 'today.txt', 'text/plain')));
        assertStorageFile(second, { bucket: 'docs', key: 'notes/today.txt', size: 2, baseUrl: server.baseUrl });
        assert.notEqual(second.url, first.url, 'the ?v= version changes with the bytes');
        assert.deepEqual(await downloaded(await c.alice.storage.from('docs').download('notes/today.txt')), Buffer.from('v2'));
        // On S3 only the current version's bytes are left in the store.
        if (server.s3) assert.deepEqual(await s3Copies(server, 'docs', 'notes/today.txt'), [Buffer.from('v2')]);
      });

      it('accepts a Blob without a name or type', async () => {
        const data = ok(await c.admin.storage.from('docs').upload('raw.bin', new Blob([bytesOf(100)])));
        assertStorageFile(data, { bucket: 'docs', key: 'raw.bin', size: 100, baseUrl: server.baseUrl });
        assert.equal(data.mimeType, 'application/octet-stream');
      });

      it('refuses empty, "..", and absolute keys with 400', async () => {
        const file = fileOf(Buffer.from('x'));
        assertSdkError(await c.alice.storage.from('docs').upload('', file), 400, 'STORAGE_INVALID_PARAMETER', /Filename cannot be empty/);
        for (const key of ['a/../b', '/abs', '..']) {
          assertSdkError(await c.alice.storage.from('docs').upload(key, file), 400, 'STORAGE_INVALID_PARAMETER', /^Invalid key/);
        }
      });

      it('keeps a safe declared type, and stores HTML as application/octet-stream', async () => {
        ok(await c.alice.storage.from('docs').upload('data.json', fileOf(Buffer.from('{"a":1}'), 'data.json', 'application/json')));
        const html = ok(await c.alice.storage.from('docs').upload('page.html', fileOf(Buffer.from('<html><script>1</script>'), 'p.html', 'text/html')));
        assert.equal(html.mimeType, 'application/octet-stream');
        assert.equal(ok(await c.alice.storage.from('docs').download('data.json')).type, 'application/json');
        assert.equal(ok(await c.alice.storage.from('docs').download('page.html')).type, 'application/octet-stream');
      });

      it(`asks for the upload strategy and gets "${presigned ? 'presigned' : 'direct'}"`, async () => {
        const res = await fetch(`${server.baseUrl}/api/storage/buckets/docs/upload-strategy`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${server.apiKey}`, 'Content-Type': 'application/json;charset=UTF-8' },
          body: JSON.stringify({ filename: 'a b/c.txt', contentType: 'text/plain', size: 3 }),
        });
        assert.equal(res.status, 200);
        const strategy = await res.json();
        assert.equal(strategy.key, 'a b/c.txt');
        if (!presigned) {
          assert.equal(strategy.method, 'direct');
          assert.equal(strategy.confirmRequired, false);
          assert.equal(typeof strategy.uploadUrl, 'string');
          return;
        }
        // A SigV4 POST policy for the physical key, posted by the client straight to S3.
        assert.equal(strategy.method, 'presigned');
        assert.equal(strategy.uploadUrl, `${server.s3.endpoint}/${server.s3.bucket}`);
        assert.equal(strategy.confirmRequired, true);
        assert.equal(strategy.confirmUrl, '/api/storage/buckets/docs/objects/a%20b%2Fc.txt/confirm-upload');
        const ttl = (Date.parse(strategy.expiresAt) - Date.now()) / 1000;
        assert.ok(ttl > 3590 && ttl <= 3600, `the policy expires in ~1 h (${ttl})`);
        const { fields } = strategy;
        assert.deepEqual(Object.keys(fields).sort(), ['Content-Type', 'Policy', 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Signature', 'key']);
        assert.match(fields.key, /^local\/docs\/a b\/c\.txt\/[0-9a-f]{32}$/);
        assert.equal(fields['Content-Type'], 'text/plain');
        assert.equal(fields['X-Amz-Algorithm'], 'AWS4-HMAC-SHA256');
        const policy = JSON.parse(Buffer.from(fields.Policy, 'base64').toString('utf8'));
        assert.deepEqual(
          policy.conditions.filter((cond) => Array.isArray(cond)),
          [['eq', '$key', fields.key], ['eq', '$Content-Type', 'text/plain'], ['content-length-range', 0, 3]],
        );
      });

      it('upload() sends exactly the requests of its strategy, and the bytes land in the store', async () => {
        const spy = recordingFetch();
        const client = createClient({ baseUrl: server.baseUrl, accessToken: mintToken(server.jwtSecret, 'user-alice'), fetch: spy.fetch });
        const bytes = bytesOf(1234, 5);
        const { result, calls } = await recordingGlobalFetch(() => client.storage.from('docs').upload('flow/x y.bin', fileOf(bytes)));
        assertStorageFile(ok(result), { bucket: 'docs', key: 'flow/x y.bin', size: bytes.length, baseUrl: server.baseUrl });
        const second = presigned
          ? 'POST /api/storage/buckets/docs/objects/flow%2Fx%20y.bin/confirm-upload'
          : 'PUT /api/storage/buckets/docs/objects/flow%2Fx%20y.bin';
        assert.deepEqual(spy.calls, ['POST /api/storage/buckets/docs/upload-strategy', second]);
        // The presigned form goes from the SDK straight to S3 (global fetch, no Coffer in between).
        assert.deepEqual(calls, presigned ? [`POST ${server.s3.endpoint}/${server.s3.bucket}`] : []);
        if (server.s3) assert.deepEqual(await s3Copies(server, 'docs', 'flow/x y.bin'), [bytes]);
        assert.deepEqual(await downloaded(await client.storage.from('docs').download('flow/x y.bin')), bytes);
      });
    });

    describe('uploadAuto', () => {
      it('uploads under a client-generated key derived from the file name', async () => {
        const bytes = Buffer.from('auto');
        const data = ok(await c.alice.storage.from('docs').uploadAuto(fileOf(bytes, 'My Report (final).pdf', 'application/pdf')));
        assert.match(data.key, /^My-Report--final--\d{13}-[a-z0-9]{1,6}\.pdf$/);
        assertStorageFile(data, { bucket: 'docs', key: data.key, size: 4, baseUrl: server.baseUrl });
        assert.deepEqual(await downloaded(await c.alice.storage.from('docs').download(data.key)), bytes);
      });

      it('two uploads of the same file never collide', async () => {
        const f = fileOf(Buffer.from('same'), 'same.txt', 'text/plain');
        const [a, b] = await Promise.all([c.bob.storage.from('docs').uploadAuto(f), c.bob.storage.from('docs').uploadAuto(f)]);
        assert.notEqual(ok(a).key, ok(b).key);
      });

      it('a Blob with no name gets the base "file"', async () => {
        const data = ok(await c.admin.storage.from('docs').uploadAuto(new Blob(['x'])));
        assert.match(data.key, /^file-\d{13}-[a-z0-9]{1,6}$/);
      });
    });

    describe('keys with "/", spaces, unicode and "+" round-trip through every method', () => {
      for (const [i, key] of awkwardKeys.entries()) {
        it(JSON.stringify(key), async () => {
          const bytes = bytesOf(257 + i, i + 7);
          // private bucket, user client
          const up = ok(await c.alice.storage.from('docs').upload(key, fileOf(bytes)));
          assertStorageFile(up, { bucket: 'docs', key, size: bytes.length, baseUrl: server.baseUrl });
          if (server.s3) assert.deepEqual(await s3Copies(server, 'docs', key), [bytes], 'stored on S3 under the key');
          assert.deepEqual(await downloaded(await c.alice.storage.from('docs').download(key)), bytes);

          const listed = ok(await c.alice.storage.from('docs').list({ prefix: key }));
          assert.ok(listed.data.some((o) => o.key === key), `list({prefix}) finds ${key}`);

          const signed = ok(await c.alice.storage.from('docs').createSignedUrl(key, 60));
          if (presigned) assertS3ObjectUrl(server, signed.signedUrl, 'docs', key);
          const viaSigned = await fetch(signed.signedUrl);
          assert.equal(viaSigned.status, 200);
          assert.deepEqual(Buffer.from(await viaSigned.arrayBuffer()), bytes);

          // The StorageFile url works with the owner's token.
          const viaUrl = await fetch(up.url, { headers: { Authorization: `Bearer ${c.alice.getHttpClient().userToken}` } });
          assert.equal(viaUrl.status, 200);
          assert.deepEqual(Buffer.from(await viaUrl.arrayBuffer()), bytes);

          // public bucket: getPublicUrl fetched with no credentials
          ok(await c.admin.storage.from('site').upload(key, fileOf(bytes)));
          const publicRes = await fetch(c.anon.storage.from('site').getPublicUrl(key).data.publicUrl);
          assert.equal(publicRes.status, 200);
          assert.deepEqual(Buffer.from(await publicRes.arrayBuffer()), bytes);

          assert.deepEqual(ok(await c.alice.storage.from('docs').remove(key)), { message: 'Object deleted successfully' });
          assert.deepEqual(ok(await c.admin.storage.from('site').remove([key])), { results: [{ key, status: 'deleted' }] });
          assertSdkError(await c.alice.storage.from('docs').download(key), 404, 'STORAGE_NOT_FOUND');
          if (server.s3) {
            assert.deepEqual(await s3Copies(server, 'docs', key), [], 'remove() deletes the bytes on S3');
            assert.deepEqual(await s3Copies(server, 'site', key), [], 'remove([...]) deletes the bytes on S3');
          }
        });
      }
    });

    describe('download', () => {
      it('returns a Blob with the stored bytes and type from a private bucket (presigned strategy)', async () => {
        const bytes = bytesOf(4096, 3);
        ok(await c.alice.storage.from('docs').upload('img/pic.png', fileOf(bytes, 'pic.png', 'image/png')));
        const { result, calls } = await recordingGlobalFetch(() => c.alice.storage.from('docs').download('img/pic.png'));
        const blob = ok(result);
        // The SDK fetches the strategy's URL itself: a presigned S3 URL, or a signed Coffer URL.
        assert.equal(calls.length, 1, JSON.stringify(calls));
        if (presigned) assertS3ObjectUrl(server, calls[0].slice('GET '.length), 'docs', 'img/pic.png');
        else assert.equal(calls[0], `GET ${server.baseUrl}/api/storage/buckets/docs/objects/img%2Fpic.png`);
        assert.ok(blob instanceof Blob);
        assert.equal(blob.size, bytes.length);
        assert.equal(blob.type, 'image/png');
        assert.deepEqual(Buffer.from(await blob.arrayBuffer()), bytes);
      });

      it('works for anyone on a public bucket, admin on a private one', async () => {
        const bytes = Buffer.from('public bytes');
        ok(await c.admin.storage.from('site').upload('index.txt', fileOf(bytes, 'index.txt', 'text/plain')));
        assert.deepEqual(await downloaded(await c.anon.storage.from('site').download('index.txt')), bytes);
        assert.deepEqual(await downloaded(await c.bob.storage.from('site').download('index.txt')), bytes);

        ok(await c.alice.storage.from('docs').upload('alice-only.txt', fileOf(bytes)));
        assert.deepEqual(await downloaded(await c.admin.storage.from('docs').download('alice-only.txt')), bytes);
      });
    });

    describe('getPublicUrl', () => {
      it('builds the URL locally and the server serves it without credentials', async () => {
        const bytes = bytesOf(1000, 9);
        ok(await c.admin.storage.from('site').upload('assets/logo one.png', fileOf(bytes, 'logo.png', 'image/png')));
        const result = c.anon.storage.from('site').getPublicUrl('assets/logo one.png');
        assert.deepEqual(result, {
          data: { publicUrl: `${server.baseUrl}/api/storage/buckets/site/objects/assets%2Flogo%20one.png` },
          error: null,
        });
        // In presigned mode the object route redirects to a presigned S3 URL; fetch follows it.
        const raw = await fetch(result.data.publicUrl, { redirect: 'manual' });
        await raw.arrayBuffer();
        assert.equal(raw.status, presigned ? 302 : 200);
        if (presigned) assertS3ObjectUrl(server, raw.headers.get('location'), 'site', 'assets/logo one.png');
        const res = await fetch(result.data.publicUrl);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-length'), String(bytes.length));
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
      });

      it('a public URL into a private bucket needs credentials (401), and hides others\' objects (404)', async () => {
        ok(await c.alice.storage.from('docs').upload('secret.txt', fileOf(Buffer.from('s'))));
        const url = c.alice.storage.from('docs').getPublicUrl('secret.txt').data.publicUrl;
        const anonymous = await fetch(url);
        assert.equal(anonymous.status, 401);
        assert.equal((await anonymous.json()).error, 'AUTH_INVALID_CREDENTIALS');
        const asBob = await fetch(url, { headers: { Authorization: `Bearer ${c.bob.getHttpClient().userToken}` } });
        assert.equal(asBob.status, 404);
        assert.equal((await asBob.json()).error, 'STORAGE_NOT_FOUND');
      });
    });

    describe('createSignedUrl / createSignedUrls', () => {
      it('a signed URL for a private object needs no credentials', async () => {
        const bytes = bytesOf(3000, 11);
        ok(await c.alice.storage.from('docs').upload('reports/q1 2026.pdf', fileOf(bytes, 'q1.pdf', 'application/pdf')));
        const before = Date.now();
        const data = ok(await c.alice.storage.from('docs').createSignedUrl('reports/q1 2026.pdf', 600));
        assert.deepEqual(Object.keys(data).sort(), ['expiresAt', 'signedUrl']);
        if (presigned) {
          // An S3 presigned GET URL valid for exactly the requested time.
          assert.equal(assertS3ObjectUrl(server, data.signedUrl, 'docs', 'reports/q1 2026.pdf').searchParams.get('X-Amz-Expires'), '600');
        } else {
          assert.ok(data.signedUrl.startsWith(`${server.baseUrl}/api/storage/buckets/docs/objects/`), data.signedUrl);
        }
        assert.match(data.expiresAt, ISO_MS);
        const ttl = (Date.parse(data.expiresAt) - before) / 1000;
        assert.ok(ttl > 590 && ttl <= 601, `expiresAt is ~600 s ahead (${ttl})`);

        const res = await fetch(data.signedUrl); // no Authorization
        assert.equal(res.status, 200);
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
      });

      it('defaults to one hour', async () => {
        ok(await c.alice.storage.from('docs').upload('default-ttl.txt', fileOf(Buffer.from('d'))));
        const data = ok(await c.alice.storage.from('docs').createSignedUrl('default-ttl.txt'));
        const ttl = (Date.parse(data.expiresAt) - Date.now()) / 1000;
        assert.ok(ttl > 3590 && ttl <= 3601, `expiresAt is ~3600 s ahead (${ttl})`);
      });

      it('a signed URL stops working after it expires', async () => {
        ok(await c.alice.storage.from('docs').upload('short-lived.txt', fileOf(Buffer.from('soon gone'))));
        const data = ok(await c.alice.storage.from('docs').createSignedUrl('short-lived.txt', 1));
        const fresh = await fetch(data.signedUrl);
        assert.equal(fresh.status, 200);
        assert.equal(await fresh.text(), 'soon gone');
        await sleep(2100);
        const stale = await fetch(data.signedUrl);
        assert.equal(stale.status, 403);
        if (presigned) {
          // S3 itself refuses the expired presigned URL, with its own XML error.
          assert.match(await stale.text(), /<Code>AccessDenied<\/Code>/);
        } else {
          const body = await stale.json();
          assert.equal(body.error, 'STORAGE_PERMISSION_DENIED');
          assert.equal(body.statusCode, 403);
        }
      });

      it('expiresIn is floored and clamped to [1 s, 7 days]; a non-number is 400', async () => {
        ok(await c.alice.storage.from('docs').upload('ttl.txt', fileOf(Buffer.from('t'))));
        for (const [asked, expected] of [[0, 1], [-5, 1], [2.7, 2], [604800, 604800], [10 ** 9, 604800]]) {
          const data = ok(await c.alice.storage.from('docs').createSignedUrl('ttl.txt', asked));
          const ttl = (Date.parse(data.expiresAt) - Date.now()) / 1000;
          assert.ok(ttl > expected - 2 && ttl <= expected, `expiresIn ${asked}: ttl ${ttl}, expected ~${expected}`);
          if (presigned) assert.equal(new URL(data.signedUrl).searchParams.get('X-Amz-Expires'), String(expected));
        }
        assertSdkError(await c.alice.storage.from('docs').createSignedUrl('ttl.txt', NaN), 400, 'STORAGE_INVALID_PARAMETER', /expiresIn must be a finite number/);
      });

      it('on a public bucket it returns the plain URL with no expiry', async () => {
        ok(await c.admin.storage.from('site').upload('open.txt', fileOf(Buffer.from('open'))));
        const data = ok(await c.anon.storage.from('site').createSignedUrl('open.txt', 5));
        assert.equal(data.expiresAt, null);
        assert.ok(data.signedUrl.startsWith(`${server.baseUrl}/api/storage/buckets/site/objects/open.txt`));
        assert.equal(await (await fetch(data.signedUrl)).text(), 'open');
      });

      it('createSignedUrls resolves each path on its own', async () => {
        ok(await c.alice.storage.from('docs').upload('many/1.txt', fileOf(Buffer.from('one'))));
        ok(await c.alice.storage.from('docs').upload('many/2 two.txt', fileOf(Buffer.from('two'))));
        const data = ok(await c.alice.storage.from('docs').createSignedUrls(['many/1.txt', 'many/missing.txt', 'many/2 two.txt'], 120));
        assert.equal(data.length, 3);
        assert.deepEqual(data.map((d) => d.path), ['many/1.txt', 'many/missing.txt', 'many/2 two.txt']);
        assert.deepEqual(data.map((d) => Object.keys(d).sort()), Array(3).fill(['error', 'path', 'signedUrl']));
        assert.equal(data[0].error, null);
        assert.equal(data[2].error, null);
        assert.deepEqual(data[1], { path: 'many/missing.txt', signedUrl: null, error: 'Object not found' });
        assert.equal(await (await fetch(data[0].signedUrl)).text(), 'one');
        assert.equal(await (await fetch(data[2].signedUrl)).text(), 'two');
      });
    });

    describe('list', () => {
      const keys = ['list/a.txt', 'list/b 1.txt', 'list/b_2.txt', 'list/b%3.txt', 'list/c/d.txt', 'list/c/e.txt', 'listing.txt'];

      before(async () => {
        await createBucket(server, 'shelf', false);
        for (const key of keys) ok(await c.alice.storage.from('shelf').upload(key, fileOf(Buffer.from(key), 'x.txt', 'text/plain')));
        ok(await c.bob.storage.from('shelf').upload('list/bob.txt', fileOf(Buffer.from('bob'), 'x.txt', 'text/plain')));
      });

      it('returns { data, pagination, nextActions } with StorageFile items ordered by key', async () => {
        const body = ok(await c.alice.storage.from('shelf').list());
        assert.deepEqual(Object.keys(body).sort(), ['data', 'nextActions', 'pagination']);
        assert.deepEqual(body.pagination, { offset: 0, limit: 100, total: keys.length });
        assert.equal(typeof body.nextActions, 'string');
        assert.deepEqual(body.data.map((o) => o.key), [...keys].sort());
        for (const item of body.data) {
          assertStorageFile(item, { bucket: 'shelf', key: item.key, size: Buffer.byteLength(item.key), baseUrl: server.baseUrl });
          assert.equal(item.mimeType, 'text/plain');
        }
      });

      it('a user sees only their own objects; the admin sees everything', async () => {
        const bob = ok(await c.bob.storage.from('shelf').list());
        assert.deepEqual(bob.data.map((o) => o.key), ['list/bob.txt']);
        assert.equal(bob.pagination.total, 1);
        const admin = ok(await c.admin.storage.from('shelf').list());
        assert.equal(admin.pagination.total, keys.length + 1);
      });

      it('prefix is a literal prefix (no wildcards)', async () => {
        const body = ok(await c.alice.storage.from('shelf').list({ prefix: 'list/c/' }));
        assert.deepEqual(body.data.map((o) => o.key), ['list/c/d.txt', 'list/c/e.txt']);
        assert.equal(body.pagination.total, 2);
        assert.deepEqual(ok(await c.alice.storage.from('shelf').list({ prefix: 'list/b_' })).data.map((o) => o.key), ['list/b_2.txt']);
        assert.deepEqual(ok(await c.alice.storage.from('shelf').list({ prefix: 'list/b%' })).data.map((o) => o.key), ['list/b%3.txt']);
        assert.deepEqual(ok(await c.alice.storage.from('shelf').list({ prefix: 'list' })).data.length, keys.length);
        assert.deepEqual(ok(await c.alice.storage.from('shelf').list({ prefix: 'nothing/' })).data, []);
      });

      it('search is a literal substring match', async () => {
        assert.deepEqual(ok(await c.alice.storage.from('shelf').list({ search: 'b 1' })).data.map((o) => o.key), ['list/b 1.txt']);
        assert.deepEqual(ok(await c.alice.storage.from('shelf').list({ search: '/c/' })).data.map((o) => o.key), ['list/c/d.txt', 'list/c/e.txt']);
        assert.deepEqual(ok(await c.alice.storage.from('shelf').list({ search: '_' })).data.map((o) => o.key), ['list/b_2.txt']);
        const both = ok(await c.alice.storage.from('shelf').list({ prefix: 'list/', search: 'e' }));
        assert.deepEqual(both.data.map((o) => o.key), ['list/c/e.txt']);
        assert.equal(both.pagination.total, 1);
      });

      it('limit and offset page through the sorted keys; total stays the full count', async () => {
        const all = [...keys].sort();
        const seen = [];
        for (let offset = 0; offset < all.length; offset += 3) {
          const page = ok(await c.alice.storage.from('shelf').list({ limit: 3, offset }));
          assert.deepEqual(page.pagination, { offset, limit: 3, total: all.length });
          seen.push(...page.data.map((o) => o.key));
        }
        assert.deepEqual(seen, all);
        const past = ok(await c.alice.storage.from('shelf').list({ limit: 3, offset: 100 }));
        assert.deepEqual(past.data, []);
        assert.deepEqual(past.pagination, { offset: 100, limit: 3, total: all.length });
        const clamped = ok(await c.alice.storage.from('shelf').list({ limit: 5000 }));
        assert.equal(clamped.pagination.limit, 1000);
      });
    });

    describe('remove', () => {
      it('one key: { message }', async () => {
        ok(await c.alice.storage.from('docs').upload('trash/one.txt', fileOf(Buffer.from('1'))));
        assert.deepEqual(ok(await c.alice.storage.from('docs').remove('trash/one.txt')), { message: 'Object deleted successfully' });
        assertSdkError(await c.alice.storage.from('docs').remove('trash/one.txt'), 404, 'STORAGE_NOT_FOUND', /^Object not found$/);
      });

      it('many keys: one result per unique key, in order', async () => {
        ok(await c.alice.storage.from('docs').upload('trash/a.txt', fileOf(Buffer.from('a'))));
        ok(await c.alice.storage.from('docs').upload('trash/b c+.txt', fileOf(Buffer.from('b'))));
        const data = ok(await c.alice.storage.from('docs').remove(['trash/a.txt', 'trash/missing.txt', 'trash/b c+.txt', 'trash/a.txt']));
        assert.deepEqual(data, {
          results: [
            { key: 'trash/a.txt', status: 'deleted' },
            { key: 'trash/missing.txt', status: 'notFound' },
            { key: 'trash/b c+.txt', status: 'deleted' },
          ],
        });
        const left = ok(await c.alice.storage.from('docs').list({ prefix: 'trash/' }));
        assert.deepEqual(left.data, []);
      });

      it('1001 keys are refused with 400 (the SDK does not split them)', async () => {
        const keys = Array.from({ length: 1001 }, (_, i) => `k${i}`);
        assertSdkError(await c.alice.storage.from('docs').remove(keys), 400, 'STORAGE_INVALID_PARAMETER', /1000/);
      });
    });
  });
}
