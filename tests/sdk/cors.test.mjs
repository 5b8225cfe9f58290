// CORS for the SDK in a web page: browser-style preflights and the headers on real responses
// (CONTRACT §0.1, §7.3 item 9).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { clients, createBucket, fileOf, ok, startCoffer } from './helpers.mjs';

const ORIGIN = 'https://app.example.com';
let server;
let c;

before(async () => {
  server = await startCoffer();
  c = clients(server);
  await createBucket(server, 'web', false);
  ok(await c.alice.storage.from('web').upload('page/a b.txt', fileOf(Buffer.from('hello'), 'a.txt', 'text/plain')));
});

after(async () => {
  await server?.stop();
});

const listOf = (value) => (value ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);

async function preflight(path, method, requestHeaders) {
  const res = await fetch(`${server.baseUrl}${path}`, {
    method: 'OPTIONS',
    headers: {
      Origin: ORIGIN,
      'Access-Control-Request-Method': method,
      ...(requestHeaders ? { 'Access-Control-Request-Headers': requestHeaders } : {}),
    },
  });
  await res.arrayBuffer();
  return res;
}

function assertAllows(res, method, headers) {
  assert.ok(res.status === 200 || res.status === 204, `preflight status ${res.status}`);
  assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
  assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
  const methods = listOf(res.headers.get('access-control-allow-methods'));
  assert.ok(methods.includes(method.toLowerCase()) || methods.includes('*'), `allow-methods ${methods} has ${method}`);
  const allowed = listOf(res.headers.get('access-control-allow-headers'));
  for (const h of headers) assert.ok(allowed.includes(h), `allow-headers ${allowed} has ${h}`);
}

describe('preflight (OPTIONS) for the requests the SDK sends from a browser', () => {
  it('PUT upload with Authorization + Content-Type', async () => {
    const res = await preflight('/api/storage/buckets/web/objects/page%2Fa%20b.txt', 'PUT', 'authorization, content-type');
    assertAllows(res, 'PUT', ['authorization', 'content-type']);
    const vary = listOf(res.headers.get('vary'));
    assert.ok(vary.includes('origin'), `Vary ${vary} includes Origin`);
  });

  it('POST upload-strategy (JSON) and DELETE batch (JSON body)', async () => {
    assertAllows(await preflight('/api/storage/buckets/web/upload-strategy', 'POST', 'authorization,content-type'), 'POST', ['authorization', 'content-type']);
    assertAllows(await preflight('/api/storage/buckets/web/objects', 'DELETE', 'authorization,content-type'), 'DELETE', ['authorization', 'content-type']);
  });

  it('GET download-strategy and list with Authorization', async () => {
    assertAllows(await preflight('/api/storage/buckets/web/download-strategy/objects/page%2Fa%20b.txt', 'GET', 'authorization'), 'GET', ['authorization']);
    assertAllows(await preflight('/api/storage/buckets/web/objects?prefix=page%2F', 'GET', 'authorization'), 'GET', ['authorization']);
  });

  it('preflights need no credentials, even on private buckets and unknown routes', async () => {
    assertAllows(await preflight('/api/storage/buckets/missing/objects/x', 'PUT', 'authorization, content-type'), 'PUT', ['authorization', 'content-type']);
  });
});

describe('actual responses carry the CORS headers', () => {
  it('a successful list reflects the Origin and allows credentials', async () => {
    const res = await fetch(`${server.baseUrl}/api/storage/buckets/web/objects`, {
      headers: { Origin: ORIGIN, Authorization: `Bearer ${server.apiKey}` },
    });
    assert.equal(res.status, 200);
    await res.json();
    assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    const exposed = listOf(res.headers.get('access-control-expose-headers'));
    assert.ok(exposed.includes('content-range'), `expose-headers ${exposed} has Content-Range`);
    assert.ok(exposed.includes('preference-applied'), `expose-headers ${exposed} has Preference-Applied`);
  });

  it('errors are readable by the page too (401 and 404 carry the CORS headers)', async () => {
    for (const headers of [{}, { Authorization: `Bearer ${c.bob.getHttpClient().userToken}` }]) {
      const res = await fetch(`${server.baseUrl}/api/storage/buckets/web/objects/page%2Fa%20b.txt`, { headers: { Origin: ORIGIN, ...headers } });
      assert.ok(res.status === 401 || res.status === 404, String(res.status));
      assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
      assert.equal((await res.json()).statusCode, res.status);
    }
  });

  it('a signed URL fetched cross-origin with no credentials', async () => {
    const { signedUrl } = ok(await c.alice.storage.from('web').createSignedUrl('page/a b.txt', 60));
    const res = await fetch(signedUrl, { headers: { Origin: ORIGIN } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
    assert.equal(await res.text(), 'hello');
  });
});
