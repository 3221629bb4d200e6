import assert from 'node:assert/strict';
import {describe, it} from 'node:test';

import {AdvocateApiError, ErrorKind, createApiClient, normaliseAppUrl} from '../src/lib/api.js';
import {APP_URL, balanceBody, fakeFetch, networkDown, redeemBody} from './fakes.js';

function client(fetch, options = {}) {
  return createApiClient({
    appUrl: `${APP_URL}/`,
    fetch,
    getSessionToken: async () => 'tok-123',
    ...options,
  });
}

describe('api client', () => {
  it('asks for the balance with the session token as a bearer token', async () => {
    const fetch = fakeFetch({status: 200, body: balanceBody()});
    const data = await client(fetch).getBalance();
    assert.equal(data.points_balance, 1200);
    const [call] = fetch.calls;
    assert.equal(call.url, `${APP_URL}/api/checkout/balance`);
    assert.equal(call.method, 'GET');
    assert.equal(call.headers.Authorization, 'Bearer tok-123');
    assert.equal(call.body, undefined);
    assert.equal(call.headers['Content-Type'], undefined);
  });

  it('redeems with a JSON body, the token and the idempotency key', async () => {
    const fetch = fakeFetch({status: 201, body: redeemBody()});
    const result = await client(fetch).redeem('five-off', 'key-1');
    assert.equal(result.code, 'ADV-5OFF-7KQ2M');
    assert.equal(result.replayed, false);
    const [call] = fetch.calls;
    assert.equal(call.url, `${APP_URL}/api/checkout/redeem`);
    assert.equal(call.method, 'POST');
    assert.deepEqual(JSON.parse(call.body), {reward_id: 'five-off'});
    assert.equal(call.headers['Content-Type'], 'application/json');
    assert.equal(call.headers['Idempotency-Key'], 'key-1');
    assert.equal(call.headers.Authorization, 'Bearer tok-123');
  });

  it('marks a 200 answer to redeem as a replay of an earlier attempt', async () => {
    const fetch = fakeFetch({status: 200, body: redeemBody({replayed: true})});
    assert.equal((await client(fetch).redeem('five-off', 'key-1')).replayed, true);
  });

  const cases = [
    [401, ErrorKind.UNAUTHORIZED, false],
    [404, ErrorKind.UNKNOWN_REWARD, false],
    [409, ErrorKind.NOT_ENOUGH_POINTS, false],
    [422, ErrorKind.REJECTED, false],
    [429, ErrorKind.RATE_LIMITED, true],
    [500, ErrorKind.SERVER, true],
    [503, ErrorKind.SERVER, true],
  ];
  for (const [status, kind, retryable] of cases) {
    it(`maps HTTP ${status} to ${kind}`, async () => {
      const fetch = fakeFetch({
        status,
        body: {error: 'x', message: 'from the server'},
        headers: status === 429 ? {'Retry-After': '3'} : {},
      });
      await assert.rejects(client(fetch).redeem('five-off', 'k'), (error) => {
        assert.ok(error instanceof AdvocateApiError);
        assert.equal(error.kind, kind);
        assert.equal(error.status, status);
        assert.equal(error.retryable, retryable);
        if (status === 429) assert.equal(error.retryAfterSeconds, 3);
        return true;
      });
    });
  }

  it('reports a failed request as a retryable network error', async () => {
    const fetch = fakeFetch(networkDown());
    await assert.rejects(client(fetch).getBalance(), (error) => {
      assert.equal(error.kind, ErrorKind.NETWORK);
      assert.equal(error.retryable, true);
      return true;
    });
  });

  it('gives up on a request that hangs, as a network error', async () => {
    const hanging = (url, init) =>
      new Promise((resolve, reject) => {
        init.signal.addEventListener('abort', () => {
          const error = new Error('aborted');
          error.name = 'AbortError';
          reject(error);
        });
      });
    await assert.rejects(client(hanging, {timeoutMs: 20}).getBalance(), (error) => {
      assert.equal(error.kind, ErrorKind.NETWORK);
      assert.match(error.message, /timed out/);
      return true;
    });
  });

  it('treats an answer that is not JSON as a server error', async () => {
    const fetch = fakeFetch({status: 200, body: '<html>proxy error</html>'});
    await assert.rejects(client(fetch).getBalance(), {kind: ErrorKind.SERVER});
  });

  it('treats a redeem answer without a code as a server error', async () => {
    const fetch = fakeFetch({status: 201, body: {code_status: 'active'}});
    await assert.rejects(client(fetch).redeem('five-off', 'k'), {kind: ErrorKind.SERVER});
  });

  it('reports a missing session token as a network error', async () => {
    const fetch = fakeFetch();
    const api = client(fetch, {getSessionToken: async () => Promise.reject(new Error('no token'))});
    await assert.rejects(api.getBalance(), {kind: ErrorKind.NETWORK});
    assert.equal(fetch.calls.length, 0);
  });

  it('sends nothing when no app URL was configured', async () => {
    const fetch = fakeFetch();
    const api = client(fetch, {appUrl: undefined});
    await assert.rejects(api.getBalance(), {kind: ErrorKind.NOT_CONFIGURED});
    assert.equal(fetch.calls.length, 0);
  });

  it('accepts only absolute http(s) app URLs', () => {
    assert.equal(normaliseAppUrl('https://a.example.com/'), 'https://a.example.com');
    assert.equal(normaliseAppUrl(' https://a.example.com/advocate// '), 'https://a.example.com/advocate');
    assert.equal(normaliseAppUrl('http://localhost:8080'), 'http://localhost:8080');
    assert.equal(normaliseAppUrl('advocate.example.com'), null);
    assert.equal(normaliseAppUrl('https://a.example.com/?x=1'), null);
    assert.equal(normaliseAppUrl(''), null);
    assert.equal(normaliseAppUrl(undefined), null);
  });
});
