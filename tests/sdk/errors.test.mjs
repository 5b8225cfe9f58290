// The `error` every storage method of @insforge/sdk returns against Coffer, on every backend,
// for: a missing object, a missing bucket, a user touching another user's private object, an
// anon client and an expired user token (CONTRACT §0.4, §7.1, §7.2).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { createClient } from '@insforge/sdk';

import {
  BACKENDS,
  assertSdkError,
  clients,
  createBucket,
  downloaded,
  fileOf,
  mintToken,
  ok,
  recordingFetch,
  s3Copies,
  startBackend,
} from './helpers.mjs';

for (const backend of BACKENDS) {
  describe(`${backend}`, () => {
    let server;
    let c;
    const KEY = 'alice/private notes+.txt';
    const BYTES = Buffer.from('only for alice');

    before(async () => {
      server = await startBackend(backend);
      c = clients(server);
      await createBucket(server, 'vault', false);
      await createBucket(server, 'open', true);
      ok(await c.alice.storage.from('vault').upload(KEY, fileOf(BYTES, 'n.txt', 'text/plain')));
      ok(await c.alice.storage.from('open').upload(KEY, fileOf(BYTES, 'n.txt', 'text/plain')));
    });

    after(async () => {
      await server?.stop();
    });

    const NOT_FOUND = [404, 'STORAGE_NOT_FOUND', /^Object not found$/];
    const NO_BUCKET = [404, 'STORAGE_NOT_FOUND', /^Bucket "nope" does not exist$/];

    describe('a missing object', () => {
      it('download → 404 STORAGE_NOT_FOUND (after the SDK\'s fallback to the legacy POST route)', async () => {
        const spy = recordingFetch();
        const client = createClient({ baseUrl: server.baseUrl, accessToken: mintToken(server.jwtSecret, 'user-alice'), fetch: spy.fetch });
        assertSdkError(await client.storage.from('vault').download('no/such key.txt'), ...NOT_FOUND);
        // SDK quirk (CONTRACT §9.4 item 35): it falls back to the POST alias even on STORAGE_NOT_FOUND.
        assert.deepEqual(spy.calls, [
          'GET /api/storage/buckets/vault/download-strategy/objects/no%2Fsuch%20key.txt',
          'POST /api/storage/buckets/vault/objects/no%2Fsuch%20key.txt/download-strategy',
        ]);
      });

      it('createSignedUrl → 404 STORAGE_NOT_FOUND with no fallback request', async () => {
        const spy = recordingFetch();
        const client = createClient({ baseUrl: server.baseUrl, accessToken: mintToken(server.jwtSecret, 'user-alice'), fetch: spy.fetch });
        assertSdkError(await client.storage.from('vault').createSignedUrl('missing.txt', 60), ...NOT_FOUND);
        assert.deepEqual(spy.calls, ['GET /api/storage/buckets/vault/download-strategy/objects/missing.txt']);
      });

      it('createSignedUrls → per-entry error message, overall success', async () => {
        assert.deepEqual(ok(await c.alice.storage.from('vault').createSignedUrls(['missing.txt'])), [
          { path: 'missing.txt', signedUrl: null, error: 'Object not found' },
        ]);
      });

      it('remove one → 404; remove many → notFound result', async () => {
        assertSdkError(await c.alice.storage.from('vault').remove('missing.txt'), ...NOT_FOUND);
        assert.deepEqual(ok(await c.alice.storage.from('vault').remove(['missing.txt'])), {
          results: [{ key: 'missing.txt', status: 'notFound' }],
        });
      });

      it('getPublicUrl of a missing object in a public bucket → 404 when fetched', async () => {
        const res = await fetch(c.anon.storage.from('open').getPublicUrl('missing.txt').data.publicUrl);
        assert.equal(res.status, 404);
        assert.equal((await res.json()).error, 'STORAGE_NOT_FOUND');
      });
    });

    describe('a missing bucket', () => {
      it('upload and uploadAuto → 404 STORAGE_NOT_FOUND (InsForge: 400 FK error)', async () => {
        assertSdkError(await c.alice.storage.from('nope').upload('x.txt', fileOf(Buffer.from('x'))), ...NO_BUCKET);
        assertSdkError(await c.admin.storage.from('nope').uploadAuto(fileOf(Buffer.from('x'), 'x.txt')), ...NO_BUCKET);
      });

      it('download, createSignedUrl → 404 STORAGE_NOT_FOUND (users: "Object not found"; admin: which bucket)', async () => {
        assertSdkError(await c.alice.storage.from('nope').download('x.txt'), ...NOT_FOUND);
        assertSdkError(await c.admin.storage.from('nope').download('x.txt'), ...NO_BUCKET);
        assertSdkError(await c.admin.storage.from('nope').createSignedUrl('x.txt'), ...NO_BUCKET);
        assertSdkError(await c.alice.storage.from('nope').createSignedUrl('x.txt'), ...NOT_FOUND);
        assert.deepEqual(ok(await c.alice.storage.from('nope').createSignedUrls(['x.txt'])), [
          { path: 'x.txt', signedUrl: null, error: 'Object not found' },
        ]);
      });

      it('list → 404 STORAGE_NOT_FOUND (InsForge: 200 with an empty list)', async () => {
        assertSdkError(await c.alice.storage.from('nope').list(), ...NO_BUCKET);
        assertSdkError(await c.admin.storage.from('nope').list({ prefix: 'a' }), ...NO_BUCKET);
      });

      it('remove one and many → 404 STORAGE_NOT_FOUND', async () => {
        assertSdkError(await c.alice.storage.from('nope').remove('x.txt'), ...NO_BUCKET);
        assertSdkError(await c.alice.storage.from('nope').remove(['x.txt', 'y.txt']), ...NO_BUCKET);
      });

      it('getPublicUrl into a missing bucket → 401 without credentials (treated as private)', async () => {
        const res = await fetch(c.anon.storage.from('nope').getPublicUrl('x.txt').data.publicUrl);
        assert.equal(res.status, 401);
        assert.equal((await res.json()).error, 'AUTH_INVALID_CREDENTIALS');
      });

      it('an invalid bucket name → 400 STORAGE_INVALID_PARAMETER', async () => {
        assertSdkError(await c.admin.storage.from('bad.name').list(), 400, 'STORAGE_INVALID_PARAMETER', /Invalid bucket name/);
      });
    });

    describe("user B and another user's private object", () => {
      it('download → 404 STORAGE_NOT_FOUND (invisible, not 403)', async () => {
        assertSdkError(await c.bob.storage.from('vault').download(KEY), ...NOT_FOUND);
      });

      it('createSignedUrl(s) → 404 STORAGE_NOT_FOUND', async () => {
        assertSdkError(await c.bob.storage.from('vault').createSignedUrl(KEY, 60), ...NOT_FOUND);
        assert.deepEqual(ok(await c.bob.storage.from('vault').createSignedUrls([KEY])), [
          { path: KEY, signedUrl: null, error: 'Object not found' },
        ]);
      });

      it('list does not show it', async () => {
        const body = ok(await c.bob.storage.from('vault').list());
        assert.deepEqual(body.data, []);
        assert.equal(body.pagination.total, 0);
      });

      it('upload over it → 403 STORAGE_PERMISSION_DENIED and the bytes stay', async () => {
        assertSdkError(
          await c.bob.storage.from('vault').upload(KEY, fileOf(Buffer.from('bob was here'))),
          403,
          'STORAGE_PERMISSION_DENIED',
          /^You do not have permission to write "alice\/private notes\+\.txt" in bucket "vault"$/,
        );
        assert.deepEqual(await downloaded(await c.alice.storage.from('vault').download(KEY)), BYTES);
        if (server.s3) assert.deepEqual(await s3Copies(server, 'vault', KEY), [BYTES]);
      });

      it('remove one → 404, remove many → notFound, and the object survives', async () => {
        assertSdkError(await c.bob.storage.from('vault').remove(KEY), ...NOT_FOUND);
        assert.deepEqual(ok(await c.bob.storage.from('vault').remove([KEY])), { results: [{ key: KEY, status: 'notFound' }] });
        assert.deepEqual(await downloaded(await c.alice.storage.from('vault').download(KEY)), BYTES);
      });

      it('on a public bucket B may read by key but not delete or replace', async () => {
        assert.deepEqual(await downloaded(await c.bob.storage.from('open').download(KEY)), BYTES);
        assertSdkError(await c.bob.storage.from('open').remove(KEY), ...NOT_FOUND);
        assertSdkError(await c.bob.storage.from('open').upload(KEY, fileOf(Buffer.from('x'))), 403, 'STORAGE_PERMISSION_DENIED');
        assert.deepEqual(ok(await c.bob.storage.from('open').list()).data, []);
      });
    });

    describe('the anon key client', () => {
      it('cannot read, sign, list, upload or delete in a private bucket', async () => {
        assertSdkError(await c.anon.storage.from('vault').download(KEY), ...NOT_FOUND);
        assertSdkError(await c.anon.storage.from('vault').createSignedUrl(KEY), ...NOT_FOUND);
        assertSdkError(await c.anon.storage.from('vault').list(), 403, 'STORAGE_PERMISSION_DENIED');
        assertSdkError(await c.anon.storage.from('vault').upload('anon.txt', fileOf(Buffer.from('a'))), 403, 'STORAGE_PERMISSION_DENIED');
        assertSdkError(await c.anon.storage.from('vault').remove(KEY), 403, 'STORAGE_PERMISSION_DENIED');
        assertSdkError(await c.anon.storage.from('vault').remove([KEY]), 403, 'STORAGE_PERMISSION_DENIED');
      });

      it('reads a public bucket by key, nothing else', async () => {
        assert.deepEqual(await downloaded(await c.anon.storage.from('open').download(KEY)), BYTES);
        assertSdkError(await c.anon.storage.from('open').list(), 403, 'STORAGE_PERMISSION_DENIED');
        assertSdkError(await c.anon.storage.from('open').upload('anon.txt', fileOf(Buffer.from('a'))), 403, 'STORAGE_PERMISSION_DENIED');
      });
    });

    describe('an expired user token', () => {
      const EXPIRED = [401, 'AUTH_UNAUTHORIZED', /^Invalid token$/];

      it('every authenticated method → 401 AUTH_UNAUTHORIZED', async () => {
        const vault = c.expired.storage.from('vault');
        assertSdkError(await vault.upload('x.txt', fileOf(Buffer.from('x'))), ...EXPIRED);
        assertSdkError(await vault.uploadAuto(fileOf(Buffer.from('x'), 'x.txt')), ...EXPIRED);
        assertSdkError(await vault.download(KEY), ...EXPIRED);
        assertSdkError(await vault.createSignedUrl(KEY), ...EXPIRED);
        assert.deepEqual(ok(await vault.createSignedUrls([KEY])), [{ path: KEY, signedUrl: null, error: 'Invalid token' }]);
        assertSdkError(await vault.list(), ...EXPIRED);
        assertSdkError(await vault.remove(KEY), ...EXPIRED);
        assertSdkError(await vault.remove([KEY]), ...EXPIRED);
        // and nothing was changed
        assert.deepEqual(await downloaded(await c.alice.storage.from('vault').download(KEY)), BYTES);
      });

      it('a public bucket ignores credentials on reads, so downloads still work', async () => {
        assert.deepEqual(await downloaded(await c.expired.storage.from('open').download(KEY)), BYTES);
        assertSdkError(await c.expired.storage.from('open').list(), ...EXPIRED);
      });

      it('a forged signature and an unknown role are 401 AUTH_UNAUTHORIZED too', async () => {
        const forged = createClient({ baseUrl: server.baseUrl, accessToken: mintToken('not-the-secret', 'user-alice') });
        assertSdkError(await forged.storage.from('vault').list(), ...EXPIRED);
        const oddRole = createClient({ baseUrl: server.baseUrl, accessToken: mintToken(server.jwtSecret, 'u', { role: 'service_role' }) });
        assertSdkError(await oddRole.storage.from('vault').list(), 401, 'AUTH_UNAUTHORIZED');
      });

      it('a session client (not server mode) treats the 401 as refreshable and calls /api/auth/refresh', async () => {
        const spy = recordingFetch();
        const client = createClient({ baseUrl: server.baseUrl, anonKey: server.anonKey, fetch: spy.fetch });
        client.setAccessToken(mintToken(server.jwtSecret, 'user-alice', { expiresIn: -120 }));
        const result = await client.storage.from('vault').list();
        assert.deepEqual(spy.calls.slice(0, 2), ['GET /api/storage/buckets/vault/objects', 'POST /api/auth/refresh']);
        // Coffer has no auth service, so the refresh itself fails; the SDK surfaces that error.
        assertSdkError(result, 404, 'NOT_FOUND', /^Endpoint \/api\/auth\/refresh not found$/);
      });

      it('a valid token keeps working', async () => {
        assert.deepEqual(await downloaded(await c.alice.storage.from('vault').download(KEY)), BYTES);
      });
    });
  });
}
