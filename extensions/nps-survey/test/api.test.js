import assert from 'node:assert/strict';
import {describe, it} from 'node:test';

import {ErrorKind, SurveyApiError, createSurveyApi, normaliseAppUrl} from '../src/lib/api.js';
import {APP_URL, ORDER_GID, answeredBody, fakeFetch, openStatus} from './fakes.js';

function client(fetch, options = {}) {
  return createSurveyApi({appUrl: `${APP_URL}/`, fetch, getSessionToken: async () => 'tok-1', ...options});
}

describe('survey api', () => {
  it('asks about the order with the session token as a bearer token', async () => {
    const fetch = fakeFetch({status: 200, body: openStatus()});
    const data = await client(fetch).getStatus(ORDER_GID);
    assert.equal(data.bonus_points, 25);
    const [call] = fetch.calls;
    assert.equal(call.url, `${APP_URL}/api/checkout/nps?order_id=${encodeURIComponent(ORDER_GID)}`);
    assert.equal(call.method, 'GET');
    assert.equal(call.headers.Authorization, 'Bearer tok-1');
    assert.equal(call.body, undefined);
  });

  it('sends the answer as JSON', async () => {
    const fetch = fakeFetch({status: 201, body: answeredBody()});
    const data = await client(fetch).answer({orderId: ORDER_GID, score: 9, comment: 'Great'});
    assert.equal(data.points_credited, 25);
    const [call] = fetch.calls;
    assert.equal(call.method, 'POST');
    assert.equal(call.url, `${APP_URL}/api/checkout/nps`);
    assert.equal(call.headers['Content-Type'], 'application/json');
    assert.deepEqual(JSON.parse(call.body), {order_id: ORDER_GID, score: 9, comment: 'Great'});
  });

  const cases = [
    [401, ErrorKind.UNAUTHORIZED, false],
    [403, ErrorKind.FORBIDDEN, false],
    [404, ErrorKind.DISABLED, false],
    [409, ErrorKind.ALREADY_ANSWERED, false],
    [422, ErrorKind.REJECTED, false],
    [429, ErrorKind.RATE_LIMITED, true],
    [500, ErrorKind.SERVER, true],
  ];
  for (const [status, kind, retryable] of cases) {
    it(`maps HTTP ${status} to ${kind}`, async () => {
      const fetch = fakeFetch({status, body: {error: 'x', message: 'from the server'}});
      await assert.rejects(client(fetch).answer({orderId: '1', score: 1, comment: null}), (error) => {
        assert.ok(error instanceof SurveyApiError);
        assert.equal(error.kind, kind);
        assert.equal(error.status, status);
        assert.equal(error.retryable, retryable);
        assert.match(error.message, /from the server/);
        return true;
      });
    });
  }

  it('reports a failed request as a retryable network error', async () => {
    const fetch = fakeFetch(new TypeError('Failed to fetch'));
    await assert.rejects(client(fetch).getStatus('1'), (error) => error.kind === ErrorKind.NETWORK && error.retryable);
  });

  it('treats an answer that is not JSON as a server error', async () => {
    const fetch = fakeFetch({status: 200, body: '<html>'});
    await assert.rejects(client(fetch).getStatus('1'), {kind: ErrorKind.SERVER});
  });

  it('sends nothing without an app URL', async () => {
    const fetch = fakeFetch();
    await assert.rejects(client(fetch, {appUrl: undefined}).getStatus('1'), {kind: ErrorKind.NOT_CONFIGURED});
    assert.equal(fetch.calls.length, 0);
  });

  it('accepts only absolute http(s) app URLs', () => {
    assert.equal(normaliseAppUrl('https://a.example.com/x//'), 'https://a.example.com/x');
    assert.equal(normaliseAppUrl('a.example.com'), null);
    assert.equal(normaliseAppUrl(undefined), null);
  });
});
