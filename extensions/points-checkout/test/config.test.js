import assert from 'node:assert/strict';
import {describe, it} from 'node:test';

import {resolveAppUrl} from '../src/lib/config.js';
import {newIdempotencyKey} from '../src/lib/ids.js';

describe('app URL chosen at build time', () => {
  it('prefers the dev tunnel URL that `shopify app dev` sets as APP_URL', () => {
    assert.equal(
      resolveAppUrl({APP_URL: 'https://tunnel.example.com', SHOPIFY_APP_URL: 'https://advocate.example.com'}),
      'https://tunnel.example.com',
    );
  });

  it('uses SHOPIFY_APP_URL, the backend variable, for builds and deploys', () => {
    assert.equal(resolveAppUrl({SHOPIFY_APP_URL: ' https://advocate.example.com '}), 'https://advocate.example.com');
    assert.equal(resolveAppUrl({APP_URL: '', SHOPIFY_APP_URL: 'https://advocate.example.com'}), 'https://advocate.example.com');
  });

  it('is undefined when neither was set', () => {
    assert.equal(resolveAppUrl({}), undefined);
  });
});

describe('idempotency keys', () => {
  const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('are random UUIDs', () => {
    const a = newIdempotencyKey();
    const b = newIdempotencyKey();
    assert.match(a, UUID_V4);
    assert.notEqual(a, b);
  });

  it('are UUIDs without crypto.randomUUID, or without crypto at all', () => {
    const onlyRandomValues = {getRandomValues: (bytes) => globalThis.crypto.getRandomValues(bytes)};
    assert.match(newIdempotencyKey(onlyRandomValues), UUID_V4);
    assert.match(newIdempotencyKey(null), UUID_V4);
  });
});
