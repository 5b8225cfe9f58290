// Files of 0 B, 1 B, 5 MiB and 60 MiB through the SDK on every backend, compared byte for byte;
// 60 MiB is over the default 50 MB limit, so the SDK must surface the server's 413 (CONTRACT
// §1.6, §4.6).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { createClient } from '@insforge/sdk';

import {
  BACKENDS,
  assertSdkError,
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
  startBackend,
} from './helpers.mjs';

const MiB = 1024 * 1024;
for (const backend of BACKENDS) {
  describe(`${backend}`, () => {
    let server;
    let c;

    before(async () => {
      server = await startBackend(backend);
      c = clients(server);
      await createBucket(server, 'files', false);
      await createBucket(server, 'pub', true);
    });

    after(async () => {
      await server?.stop();
    });

    describe('sizes within the limit round-trip byte for byte', () => {
      for (const [label, size] of [['0 bytes', 0], ['1 byte', 1], ['5 MiB', 5 * MiB], ['50 MiB (exactly the limit)', 50 * MiB]]) {
        it(label, async () => {
          const bytes = bytesOf(size, size + 1);
          const key = `sizes/${label}.bin`;
          const up = ok(await c.alice.storage.from('files').upload(key, fileOf(bytes)));
          assert.equal(up.size, size);
          assert.equal(up.key, key);
          if (server.s3) {
            const stored = await s3Copies(server, 'files', key);
            assert.equal(stored.length, 1);
            assert.ok(stored[0].equals(bytes), 'the bytes on S3 equal the uploaded ones');
          }

          const down = await downloaded(await c.alice.storage.from('files').download(key));
          assert.equal(down.length, size);
          assert.ok(down.equals(bytes), 'downloaded bytes equal the uploaded ones');

          const signed = ok(await c.alice.storage.from('files').createSignedUrl(key, 60));
          const res = await fetch(signed.signedUrl);
          assert.equal(res.status, 200);
          assert.equal(res.headers.get('content-length'), String(size));
          assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));

          const listed = ok(await c.alice.storage.from('files').list({ prefix: key }));
          assert.equal(listed.data[0].size, size);

          ok(await c.admin.storage.from('pub').upload(key, fileOf(bytes)));
          const pub = await fetch(c.anon.storage.from('pub').getPublicUrl(key).data.publicUrl);
          assert.ok(Buffer.from(await pub.arrayBuffer()).equals(bytes));
        });
      }
    });

    describe('60 MiB is over the default 50 MB limit', () => {
      const big = bytesOf(60 * MiB, 60);

      it('upload(): the SDK surfaces 413 (refused at upload-strategy from the declared size)', async () => {
        // Refused before any transfer: no PUT to Coffer, no presigned POST to S3.
        const spy = recordingFetch();
        const client = createClient({ baseUrl: server.baseUrl, accessToken: mintToken(server.jwtSecret, 'user-alice'), fetch: spy.fetch });
        const { result, calls } = await recordingGlobalFetch(() => client.storage.from('files').upload('big/60.bin', fileOf(big)));
        assert.deepEqual(spy.calls, ['POST /api/storage/buckets/files/upload-strategy']);
        assert.deepEqual(calls, []);
        assertSdkError(result, 413, 'STORAGE_INVALID_PARAMETER', /50 MB/);
        assertSdkError(await c.alice.storage.from('files').download('big/60.bin'), 404, 'STORAGE_NOT_FOUND');
      });

      it('uploadAuto() and the admin client get the same 413', async () => {
        assertSdkError(await c.admin.storage.from('files').uploadAuto(fileOf(big, 'big.bin')), 413, 'STORAGE_INVALID_PARAMETER', /50 MB/);
      });

      it('the direct PUT itself (through the SDK HTTP client) is cut off mid-stream with 413 and leaves nothing', async () => {
        const form = new FormData();
        form.append('file', fileOf(big));
        let error;
        try {
          await c.alice.getHttpClient().request('PUT', `/api/storage/buckets/files/objects/${encodeURIComponent('big/direct.bin')}`, { body: form });
        } catch (err) {
          error = err;
        }
        assert.ok(error, 'the PUT fails');
        assert.equal(error.statusCode, 413, `${error.statusCode} ${error.error}: ${error.message}`);
        assert.equal(error.error, 'STORAGE_INVALID_PARAMETER');
        assert.match(error.message, /^File too large\. Maximum upload size is 50 MB\.$/);
        const listed = ok(await c.admin.storage.from('files').list({ prefix: 'big/' }));
        assert.deepEqual(listed.data, []);
        if (server.s3) assert.deepEqual(await s3Copies(server, 'files', 'big/direct.bin'), []);
      });
    });
  });
}
