// The POS block end to end without a device: the `shopify` global's
// session token, customer, cart and toast and `fetch` are fakes,
// everything else is the real code (API client → state machine →
// presenter).

import assert from 'node:assert/strict';
import {existsSync, readFileSync} from 'node:fs';
import {describe, it} from 'node:test';

import {Applied, Status, createTill, createTillApi} from '../src/lib/till.js';
import {present, toastText} from '../src/lib/view.js';
import {APP_URL, balanceBody, fakeFetch, fakeI18n, networkDown} from '../../points-checkout/test/fakes.js';

const root = new URL('../', import.meta.url);
const i18n = fakeI18n('en', JSON.parse(readFileSync(new URL('locales/en.default.json', root), 'utf8')));
const CUSTOMER = 5_550_001;

/** `shopify` as POS gives it to `pos.customer-details.block.render`. */
function fakePos({token = 'pos-id-token', customer = CUSTOMER, addCode} = {}) {
  const cart = [];
  const toasts = [];
  return {
    session: {getSessionToken: async () => token},
    customer: customer === null ? undefined : {id: customer},
    cart: {
      codes: cart,
      addCartCodeDiscount: addCode ?? (async (code) => void cart.push(code)),
    },
    toast: {show: (message) => toasts.push(message), shown: toasts},
  };
}

function setUp(shopify, ...steps) {
  const fetch = fakeFetch(...steps);
  let n = 0;
  const till = createTill({
    api: createTillApi({appUrl: APP_URL, fetch, getSessionToken: () => shopify.session.getSessionToken()}),
    customerId: () => shopify.customer?.id,
    addCodeToCart: (code) => shopify.cart.addCartCodeDiscount(code),
    toast: (kind, redemption) => shopify.toast.show(toastText(kind, redemption, i18n)),
    newKey: () => `key-${++n}`,
  });
  return {till, fetch, screen: () => present(till.getState(), {i18n})};
}

const CREDIT = {id: 'credit-5', name: 'Store credit', kind: 'store_credit', value: '5.00', points_cost: 500, currency: 'USD'};

describe('the customer details block', () => {
  it('shows the attached customer, fetched with the POS token', async () => {
    const shopify = fakePos();
    const {till, fetch, screen} = setUp(shopify, {status: 200, body: balanceBody()});
    await till.load();
    assert.equal(fetch.calls[0].url, `${APP_URL}/api/pos/customers/${CUSTOMER}`);
    assert.equal(fetch.calls[0].headers.Authorization, 'Bearer pos-id-token');
    const s = screen();
    assert.deepEqual(s.summary, {balance: '1,200 points', pending: '150 points pending', tier: 'Silver'});
    assert.deepEqual(s.rewards.map((r) => r.label), ['$5 off ($5.00 off) · 500 points', '10% off (10% off) · 1,000 points']);
  });

  it('asks for a customer when none is attached, without a request', async () => {
    const {till, fetch, screen} = setUp(fakePos({customer: null}));
    await till.load();
    assert.equal(till.getState().status, Status.NO_CUSTOMER);
    assert.equal(screen().message.text, 'Add a customer to the cart to see their points.');
    assert.equal(fetch.calls.length, 0);
  });

  it('a POS user without access to the app is told so (no token, or 401)', async () => {
    const noToken = setUp(fakePos({token: null}));
    await noToken.till.load();
    assert.equal(noToken.till.getState().status, Status.NOT_ALLOWED);
    assert.equal(noToken.fetch.calls.length, 0, 'no request without a token');
    const refused = setUp(fakePos(), {status: 401, body: {error: 'unauthorized'}});
    await refused.till.load();
    assert.match(refused.screen().message.text, /^Your POS account can't use Advocate/);
  });

  it('an empty balance offers nothing to redeem', async () => {
    const {till, screen} = setUp(fakePos(), {status: 200, body: balanceBody({points_balance: 0})});
    await till.load();
    assert.deepEqual(screen().rewards, []);
    assert.equal(screen().message.text, 'Not enough points for a reward yet.');
  });

  it('after a network failure offers a retry', async () => {
    const {till, screen} = setUp(fakePos(), networkDown(), {status: 200, body: balanceBody()});
    await till.load();
    assert.equal(screen().message.tone, 'critical');
    await till.retry();
    assert.equal(till.getState().status, Status.READY);
  });
});

describe('redeeming at the till', () => {
  it('adds the new code to the cart and says so', async () => {
    const shopify = fakePos();
    const {till, fetch, screen} = setUp(
      shopify,
      {status: 200, body: balanceBody()},
      {status: 201, body: {kind: 'code', code: 'ADV-POS-1', points_spent: 500, points_balance: 700}},
    );
    await till.load();
    await till.redeem('five-off');
    assert.equal(fetch.calls[1].url, `${APP_URL}/api/pos/customers/${CUSTOMER}/redemptions`);
    assert.equal(fetch.calls[1].headers['Idempotency-Key'], 'key-1');
    assert.deepEqual(shopify.cart.codes, ['ADV-POS-1']);
    assert.deepEqual(shopify.toast.shown, ['Code ADV-POS-1 added to the cart']);
    assert.equal(till.getState().applied, Applied.IN_CART);
    assert.equal(screen().message.text, 'Code ADV-POS-1 was added to the cart.');
    assert.equal(screen().summary.balance, '700 points');
  });

  it('shows the code to type when POS refuses it', async () => {
    const shopify = fakePos({addCode: async () => { throw new Error('Invalid discount code'); }});
    const {till, screen} = setUp(
      shopify,
      {status: 200, body: balanceBody()},
      {status: 201, body: {kind: 'code', code: 'ADV-POS-2', points_spent: 500, points_balance: 700}},
    );
    await till.load();
    await till.redeem('five-off');
    assert.equal(till.getState().applied, Applied.BY_HAND);
    assert.equal(screen().code, 'ADV-POS-2');
    assert.equal(screen().message.tone, 'warning');
    assert.deepEqual(shopify.toast.shown, []);
  });

  it('store credit: credited, nothing added to the cart, staff told to take it at payment', async () => {
    const shopify = fakePos();
    const {till, screen} = setUp(
      shopify,
      {status: 200, body: balanceBody({rewards: [{...CREDIT, affordable: true}]})},
      {status: 201, body: {kind: 'store_credit', code: null, points_spent: 500, points_balance: 700,
        store_credit: {amount: '5.00', currency: 'USD', expires_at: null}}},
    );
    await till.load();
    assert.equal(screen().rewards[0].label, 'Store credit ($5.00 store credit) · 500 points');
    await till.redeem('credit-5');
    assert.deepEqual(shopify.cart.codes, []);
    assert.deepEqual(shopify.toast.shown, ['$5.00 store credit added']);
    assert.match(screen().message.text, /choose Store credit at payment/);
  });

  it('a refused redemption reloads the customer; an unknown outcome retries with the same key', async () => {
    const {till, fetch, screen} = setUp(
      fakePos(),
      {status: 200, body: balanceBody()},
      {status: 409, body: {error: 'conflict'}},
      {status: 200, body: balanceBody({points_balance: 100})},
      {status: 200, body: balanceBody({points_balance: 600})},
      networkDown(),
      {status: 200, body: {kind: 'code', code: 'ADV-POS-3', points_spent: 500, points_balance: 100}},
    );
    await till.load();
    await till.redeem('five-off');
    assert.equal(screen().message.text, 'The balance no longer covers that reward. It has been updated.');
    assert.equal(screen().summary.balance, '100 points');
    await till.load();
    await till.redeem('five-off');
    assert.match(screen().message.text, /never spent twice/);
    await till.retry();
    assert.equal(fetch.calls[4].headers['Idempotency-Key'], fetch.calls[5].headers['Idempotency-Key']);
    assert.notEqual(fetch.calls[1].headers['Idempotency-Key'], fetch.calls[4].headers['Idempotency-Key']);
    assert.equal(till.getState().redemption.code, 'ADV-POS-3');
  });
});

describe('shopify.extension.toml', () => {
  it('targets the customer details block with an existing module, on the package version', () => {
    const toml = readFileSync(new URL('shopify.extension.toml', root), 'utf8');
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
    assert.deepEqual([...toml.matchAll(/^target = "([^"]+)"$/gm)].map((m) => m[1]), ['pos.customer-details.block.render']);
    assert.ok(existsSync(new URL(toml.match(/^module = "([^"]+)"$/m)[1], root)));
    const [, year, month] = pkg.dependencies['@shopify/ui-extensions'].match(/^(\d{4})\.(\d{1,2})\./);
    assert.match(toml, new RegExp(`^api_version = "${year}-${month.padStart(2, '0')}"$`, 'm'));
  });
});
