// The block's behaviour end to end, without a browser: the `shopify` global
// and `fetch` are fakes, everything else is the real code (host → API
// client → state machine → presenter), down to the sentences shown.

import assert from 'node:assert/strict';
import {describe, it} from 'node:test';

import {ErrorKind} from '../src/lib/api.js';
import {CodeOutcome, Mode, Status} from '../src/lib/controller.js';
import {
  CHECKOUT_TARGET,
  ORDER_STATUS_TARGET,
  PROFILE_TARGET,
  THANK_YOU_TARGET,
  connect,
  reloadOnCustomerChange,
} from '../src/lib/host.js';
import {present} from '../src/lib/presenter.js';
import {APP_URL, balanceBody, fakeFetch, fakeShopify, networkDown, redeemBody, settle} from './fakes.js';

function setUp({shopify = fakeShopify(), fetch, target} = {}) {
  let n = 0;
  const logs = [];
  const connection = connect(shopify, {
    appUrl: APP_URL,
    fetch,
    target: target ?? shopify.extension.target,
    newKey: () => `key-${++n}`,
    log: (message, detail) => logs.push({message, detail}),
  });
  const screen = () =>
    present(connection.controller.getState(), {
      i18n: shopify.i18n,
      mode: connection.mode,
      loginUrl: connection.loginUrl,
    });
  return {...connection, shopify, fetch, logs, screen};
}

describe('logged-out shopper', () => {
  it('is invited to log in, with no error and no redeem request', async () => {
    const fetch = fakeFetch({status: 200, body: {logged_in: false}});
    const {controller, screen} = setUp({shopify: fakeShopify({customer: undefined}), fetch});
    assert.equal(controller.getState().status, Status.LOADING);
    assert.equal(screen().busy, true);
    await controller.load();
    assert.equal(controller.getState().status, Status.LOGGED_OUT);
    const s = screen();
    assert.equal(s.banner.tone, 'info');
    assert.match(s.banner.text, /^Log in to see your points/);
    assert.deepEqual(s.actions, [
      {id: 'login', label: 'Log in', href: 'https://demo.example.com/account/login'},
    ]);
    assert.equal(s.rewards.length, 0);
    await controller.redeem('five-off'); // nothing to redeem from here
    assert.equal(fetch.calls.length, 1);
  });

  it('sees their points once they log in during checkout', async () => {
    const shopify = fakeShopify({customer: undefined});
    const fetch = fakeFetch({status: 200, body: {logged_in: false}}, {status: 200, body: balanceBody()});
    const {controller} = setUp({shopify, fetch});
    const stop = reloadOnCustomerChange(shopify, controller);
    await controller.load();
    assert.equal(controller.getState().status, Status.LOGGED_OUT);
    shopify.buyerIdentity.customer.set({id: 'gid://shopify/Customer/42'});
    await settle();
    assert.equal(controller.getState().status, Status.READY);
    assert.equal(fetch.calls.length, 2);
    stop();
  });

  it('who logged out before redeeming gets the login invitation back (401)', async () => {
    const fetch = fakeFetch(
      {status: 200, body: balanceBody()},
      {status: 401, body: {error: 'unauthorized', message: 'log in to your account to use loyalty points'}},
    );
    const {controller, screen} = setUp({fetch});
    await controller.load();
    await controller.redeem('five-off');
    assert.equal(controller.getState().status, Status.LOGGED_OUT);
    assert.equal(screen().banner.tone, 'info');
  });
});

describe('empty balance', () => {
  it('shows zero points and how far the first reward is, with nothing to redeem', async () => {
    const body = balanceBody({
      points_balance: 0,
      points_pending: 0,
      tier: null,
      next_tier: null,
    });
    const fetch = fakeFetch({status: 200, body});
    const {controller, screen} = setUp({fetch});
    await controller.load();
    const s = screen();
    assert.equal(s.status, Status.READY);
    assert.equal(s.banner, null);
    assert.equal(s.summary.balance, 'You have 0 points.');
    assert.equal(s.summary.pending, null);
    assert.equal(s.summary.tier, null);
    assert.deepEqual(s.rewards, []);
    assert.equal(
      s.emptyMessage,
      'You have no points to spend yet: you earn them with this order. 500 more points and you can get $5 off.',
    );
  });

  it('says so when the program has no rewards at all', async () => {
    const fetch = fakeFetch({status: 200, body: balanceBody({points_balance: 0, rewards: []})});
    const {controller, screen} = setUp({fetch});
    await controller.load();
    assert.equal(screen().emptyMessage, 'You have no points to spend yet: you earn them with this order.');
  });
});

describe('ready', () => {
  it('lists the affordable rewards, cheapest first, with the balance, pending points and tiers', async () => {
    const fetch = fakeFetch({status: 200, body: balanceBody()});
    const {controller, screen} = setUp({fetch});
    await controller.load();
    const s = screen();
    assert.deepEqual(s.summary, {
      balance: 'You have 1,200 points.',
      pending: '150 more points become available after the return window.',
      tier: 'Silver member',
      nextTier: 'Spend $120.50 more to reach Gold.',
      closestReward: null,
    });
    assert.equal(s.intro, 'Use your points on this order:');
    assert.deepEqual(
      s.rewards.map((r) => [r.id, r.value, r.minimumOrder, r.actionLabel, r.disabled]),
      [
        ['five-off', '$5.00 off', null, 'Redeem for 500 points', false],
        ['ten-percent', '10% off', 'On orders of $50.00 or more', 'Redeem for 1,000 points', false],
      ],
    );
  });
});

describe('closest reward (offers)', () => {
  const closest = (over = {}) => ({
    offers: {
      closest_reward: {id: 'ten-percent', name: '10% off', points_cost: 1000, points_needed: 300, redeemable: false, ...over},
      products: [],
    },
  });

  it('says how far the reward Advocate names is, once, instead of the cheapest reward', async () => {
    const fetch = fakeFetch({status: 200, body: balanceBody({points_balance: 700, ...closest()})});
    const {controller, screen} = setUp({fetch});
    await controller.load();
    const s = screen();
    assert.equal(s.summary.closestReward, '300 more points and you can get 10% off.');
    assert.deepEqual(s.rewards.map((r) => r.id), ['five-off']);
    assert.equal(s.emptyMessage, null);
  });

  it('is gone when the reward is in reach or the merchant turned it off', async () => {
    for (const body of [
      balanceBody({points_balance: 1200, ...closest({points_needed: 0, redeemable: true})}),
      balanceBody({points_balance: 700, offers: {closest_reward: null, products: []}}),
    ]) {
      const {controller, screen} = setUp({fetch: fakeFetch({status: 200, body})});
      await controller.load();
      assert.equal(screen().summary.closestReward, null);
    }
  });

  it('with no points and offers on, says only that points come with this order', async () => {
    const body = balanceBody({points_balance: 0, ...closest({id: 'five-off', name: '$5 off', points_cost: 500, points_needed: 500})});
    const {controller, screen} = setUp({fetch: fakeFetch({status: 200, body})});
    await controller.load();
    const s = screen();
    assert.equal(s.summary.closestReward, '500 more points and you can get $5 off.');
    assert.equal(s.emptyMessage, 'You have no points to spend yet: you earn them with this order.');
  });

  it('singular, and ignores an answer without a usable reward', async () => {
    const one = balanceBody({points_balance: 999, ...closest({points_needed: 1})});
    let {controller, screen} = setUp({fetch: fakeFetch({status: 200, body: one})});
    await controller.load();
    assert.equal(screen().summary.closestReward, '1 more point and you can get 10% off.');
    const broken = balanceBody({points_balance: 10, offers: {closest_reward: {name: 'No id', points_cost: 'x'}}});
    ({controller, screen} = setUp({fetch: fakeFetch({status: 200, body: broken})}));
    await controller.load();
    assert.equal(screen().summary.closestReward, null);
  });
});

describe('network failure', () => {
  it('while loading shows a retry button, and the retry loads the points', async () => {
    const fetch = fakeFetch(networkDown(), {status: 200, body: balanceBody()});
    const {controller, screen, logs} = setUp({fetch});
    await controller.load();
    const s = screen();
    assert.equal(s.status, Status.ERROR);
    assert.equal(s.banner.tone, 'critical');
    assert.equal(s.banner.text, "We couldn't load your points. Check your connection and try again.");
    assert.deepEqual(s.actions.map((a) => a.id), ['retry']);
    assert.equal(logs.length, 1);
    await controller.retry();
    assert.equal(controller.getState().status, Status.READY);
    assert.equal(fetch.calls.length, 2);
  });

  it('while redeeming is retried with the same Idempotency-Key, so points are spent once', async () => {
    const fetch = fakeFetch(
      {status: 200, body: balanceBody()},
      networkDown(),
      {status: 503, body: {error: 'unavailable', message: 'database unavailable'}},
      {status: 200, body: redeemBody({replayed: true})},
    );
    const {controller, screen, shopify} = setUp({fetch});
    await controller.load();
    await controller.redeem('five-off');
    let s = screen();
    assert.equal(s.status, Status.ERROR);
    assert.match(s.banner.text, /won't be charged points twice/);
    assert.deepEqual(s.actions.map((a) => a.id), ['retry', 'dismiss']);
    await controller.retry();
    assert.equal(controller.getState().status, Status.ERROR);
    await controller.retry();
    s = screen();
    assert.equal(s.status, Status.REDEEMED);
    const keys = fetch.calls.slice(1).map((c) => c.headers['Idempotency-Key']);
    assert.deepEqual(keys, ['key-1', 'key-1', 'key-1']);
    assert.deepEqual(shopify.applied, [{type: 'addDiscountCode', code: 'ADV-5OFF-7KQ2M'}]);
  });

  it('keeps the attempt after "back", so choosing the same reward again reuses the key', async () => {
    const fetch = fakeFetch(
      {status: 200, body: balanceBody()},
      networkDown(),
      {status: 200, body: balanceBody({points_balance: 700})}, // the quiet reload after "back"
      {status: 200, body: redeemBody({replayed: true})},
    );
    const {controller} = setUp({fetch});
    await controller.load();
    await controller.redeem('five-off');
    await controller.dismiss();
    assert.equal(controller.getState().status, Status.READY);
    assert.equal(controller.getState().view.pointsBalance, 700);
    await controller.redeem('five-off');
    assert.equal(fetch.calls[3].headers['Idempotency-Key'], 'key-1');
  });

  it('uses a new key for each new click once an attempt has an answer', async () => {
    const fetch = fakeFetch(
      {status: 200, body: balanceBody({points_balance: 5000})},
      {status: 201, body: redeemBody({points_balance: 4500})},
      {status: 201, body: redeemBody({points_balance: 4000, code: 'ADV-5OFF-SECOND'})},
    );
    const {controller} = setUp({fetch});
    await controller.load();
    await controller.redeem('five-off');
    await controller.dismiss();
    await controller.redeem('five-off');
    assert.deepEqual(
      fetch.calls.slice(1).map((c) => c.headers['Idempotency-Key']),
      ['key-1', 'key-2'],
    );
  });

  it('a quiet reload that fails keeps what the shopper sees', async () => {
    const fetch = fakeFetch({status: 200, body: balanceBody()}, networkDown());
    const {controller} = setUp({fetch});
    await controller.load();
    await controller.load({quiet: true});
    assert.equal(controller.getState().status, Status.READY);
  });
});

describe('success at checkout', () => {
  it('redeems, applies the code with applyDiscountCodeChange and updates the balance', async () => {
    const fetch = fakeFetch({status: 200, body: balanceBody()}, {status: 201, body: redeemBody()});
    const {controller, screen, shopify} = setUp({fetch});
    await controller.load();
    const seen = [];
    controller.subscribe((state) => seen.push(state.status + (state.applying ? '+applying' : '')));
    const redeeming = controller.redeem('five-off');
    assert.equal(screen().rewards.find((r) => r.id === 'five-off').busy, true);
    assert.ok(screen().rewards.every((r) => r.disabled));
    await controller.redeem('ten-percent'); // a second click while busy is ignored
    await redeeming;
    assert.deepEqual(seen, ['redeeming', 'redeemed+applying', 'redeemed']);
    assert.deepEqual(shopify.applied, [{type: 'addDiscountCode', code: 'ADV-5OFF-7KQ2M'}]);
    const state = controller.getState();
    assert.equal(state.outcome, CodeOutcome.APPLIED);
    assert.equal(state.view.pointsBalance, 700);
    const s = screen();
    assert.equal(s.banner.tone, 'success');
    assert.equal(s.banner.text, '$5 off applied with code ADV-5OFF-7KQ2M (500 points spent).');
    assert.equal(s.code, null);
    assert.equal(s.summary.balance, 'You have 700 points.');
    await controller.dismiss();
    // 700 points: the 1,000-point reward is no longer offered.
    assert.deepEqual(screen().rewards.map((r) => r.id), ['five-off']);
    assert.equal(fetch.calls.length, 2);
  });

  it('tells the shopper when the balance no longer covers the reward (409)', async () => {
    const fetch = fakeFetch(
      {status: 200, body: balanceBody()},
      {status: 409, body: {error: 'conflict', message: 'not enough points'}},
      {status: 200, body: balanceBody({points_balance: 300})},
    );
    const {controller, screen, shopify} = setUp({fetch});
    await controller.load();
    await controller.redeem('ten-percent');
    await settle();
    const s = screen();
    assert.equal(s.status, Status.READY);
    assert.equal(s.banner.text, 'Your balance no longer covers that reward. It has been updated.');
    assert.equal(s.summary.balance, 'You have 300 points.');
    assert.deepEqual(s.rewards, []);
    assert.deepEqual(shopify.applied, []);
  });
});

describe('rejected code', () => {
  it('shows the code and a message when applyDiscountCodeChange answers an error, and can try again', async () => {
    const shopify = fakeShopify({applyResult: {type: 'error', message: 'Discount code is not applicable'}});
    const fetch = fakeFetch({status: 200, body: balanceBody()}, {status: 201, body: redeemBody()});
    const {controller, screen, logs} = setUp({shopify, fetch});
    await controller.load();
    await controller.redeem('five-off');
    assert.equal(controller.getState().outcome, CodeOutcome.REJECTED);
    const s = screen();
    assert.equal(s.banner.tone, 'warning');
    assert.match(s.banner.text, /^We couldn't apply your code ADV-5OFF-7KQ2M to this checkout/);
    assert.doesNotMatch(s.banner.text, /not applicable/); // Shopify's text is for logs only
    assert.equal(s.code.code, 'ADV-5OFF-7KQ2M');
    assert.equal(s.code.copyLabel, 'Copy code');
    assert.equal(s.code.hint, 'Copy the code and paste it into the discount code field.');
    assert.equal(s.code.expiry, 'Valid until September 30, 2026.');
    assert.deepEqual(s.actions.map((a) => a.id), ['apply', 'dismiss']);
    assert.ok(logs.some((l) => l.detail === 'Discount code is not applicable'));

    shopify.applyDiscountCodeChange = async (change) => {
      shopify.applied.push(change);
      return {type: 'success'};
    };
    await controller.applyCode();
    assert.equal(controller.getState().outcome, CodeOutcome.APPLIED);
    assert.equal(shopify.applied.length, 2);
    assert.equal(fetch.calls.length, 2); // no second redemption
  });

  it('treats a throwing applyDiscountCodeChange like a rejection', async () => {
    const shopify = fakeShopify({applyResult: new Error('checkout is gone')});
    const fetch = fakeFetch({status: 200, body: balanceBody()}, {status: 201, body: redeemBody()});
    const {controller} = setUp({shopify, fetch});
    await controller.load();
    await controller.redeem('five-off');
    assert.equal(controller.getState().outcome, CodeOutcome.REJECTED);
  });

  it('shows the code to enter by hand when the checkout does not allow discount changes', async () => {
    const shopify = fakeShopify({canUpdateDiscountCodes: false});
    const fetch = fakeFetch({status: 200, body: balanceBody()}, {status: 201, body: redeemBody()});
    const {controller, screen} = setUp({shopify, fetch});
    await controller.load();
    await controller.redeem('five-off');
    assert.equal(controller.getState().outcome, CodeOutcome.NOT_ALLOWED);
    assert.deepEqual(shopify.applied, []);
    assert.equal(screen().code.code, 'ADV-5OFF-7KQ2M');
  });

  it('does not apply a code Shopify refused for good, and says the points come back', async () => {
    const fetch = fakeFetch(
      {status: 200, body: balanceBody()},
      {status: 201, body: redeemBody({code_status: 'failed'})},
    );
    const {controller, screen, shopify} = setUp({fetch});
    await controller.load();
    await controller.redeem('five-off');
    assert.equal(controller.getState().outcome, CodeOutcome.FAILED);
    assert.deepEqual(shopify.applied, []);
    const s = screen();
    assert.equal(s.banner.tone, 'critical');
    assert.match(s.banner.text, /points will be returned/);
    assert.equal(s.code, null);
  });
});

describe('thank-you and order-status pages', () => {
  for (const target of [THANK_YOU_TARGET, ORDER_STATUS_TARGET]) {
    it(`${target}: shows the code with a copy hint for the next order instead of applying it`, async () => {
      const shopify = fakeShopify({target});
      const fetch = fakeFetch(
        {status: 200, body: balanceBody()},
        {status: 201, body: redeemBody({code_status: 'pending'})},
      );
      const {controller, screen, mode} = setUp({shopify, fetch});
      assert.equal(mode, Mode.NEXT_ORDER);
      await controller.load();
      assert.equal(screen().intro, 'Use your points on your next order:');
      await controller.redeem('five-off');
      const s = screen();
      assert.equal(controller.getState().outcome, CodeOutcome.FOR_NEXT_ORDER);
      assert.equal(s.banner.text, '$5 off is yours (500 points spent). Use this code on your next order.');
      assert.equal(s.code.code, 'ADV-5OFF-7KQ2M');
      assert.equal(s.code.hint, 'Copy the code and enter it at checkout on your next order.');
      assert.equal(s.code.pendingNote, 'It can take a minute before the code works.');
      assert.equal(shopify.applyDiscountCodeChange, undefined);
    });
  }

  it('order status reloads when the authenticated account changes', async () => {
    const shopify = fakeShopify({target: ORDER_STATUS_TARGET});
    const fetch = fakeFetch({status: 200, body: balanceBody()}, {status: 200, body: {logged_in: false}});
    const {controller} = setUp({shopify, fetch});
    const stop = reloadOnCustomerChange(shopify, controller);
    await controller.load();
    shopify.authenticatedAccount.customer.set(undefined);
    await settle();
    assert.equal(controller.getState().status, Status.LOGGED_OUT);
    stop();
  });

  it('the checkout target is the only one that applies codes', () => {
    assert.equal(setUp({fetch: fakeFetch()}).mode, Mode.CHECKOUT);
    assert.equal(setUp({shopify: fakeShopify({target: CHECKOUT_TARGET}), fetch: fakeFetch()}).mode, Mode.CHECKOUT);
  });
});

describe('other failures', () => {
  it('an unconfigured app URL is reported without a pointless retry button', async () => {
    const shopify = fakeShopify();
    const fetch = fakeFetch();
    const connection = connect(shopify, {appUrl: undefined, fetch});
    await connection.controller.load();
    const s = present(connection.controller.getState(), {i18n: shopify.i18n, mode: connection.mode});
    assert.equal(s.status, Status.ERROR);
    assert.equal(s.banner.text, 'Loyalty points are not available in this checkout yet.');
    assert.deepEqual(s.actions, []);
    assert.equal(fetch.calls.length, 0);
  });

  it('rate limiting (429) keeps the attempt for a retry', async () => {
    const fetch = fakeFetch(
      {status: 200, body: balanceBody()},
      {status: 429, body: {error: 'too_many_requests'}, headers: {'Retry-After': '1'}},
      {status: 201, body: redeemBody()},
    );
    const {controller, screen} = setUp({fetch});
    await controller.load();
    await controller.redeem('five-off');
    assert.equal(controller.getState().error.kind, ErrorKind.RATE_LIMITED);
    assert.equal(screen().banner.text, 'Too many attempts. Wait a moment, then try again.');
    await controller.retry();
    assert.equal(fetch.calls[1].headers['Idempotency-Key'], fetch.calls[2].headers['Idempotency-Key']);
  });

  it('a reward removed meanwhile (404) refreshes the list', async () => {
    const fetch = fakeFetch(
      {status: 200, body: balanceBody()},
      {status: 404, body: {error: 'not_found', message: 'no such reward'}},
      {status: 200, body: balanceBody({rewards: []})},
    );
    const {controller, screen} = setUp({fetch});
    await controller.load();
    await controller.redeem('five-off');
    await settle();
    const s = screen();
    assert.equal(s.banner.text, 'That reward is no longer offered. The list has been updated.');
    assert.deepEqual(s.rewards, []);
  });

  it('a newer load wins over an older, slower one', async () => {
    let release;
    const slow = new Promise((resolve) => {
      release = resolve;
    });
    const fetch = fakeFetch(
      () => slow.then(() => ({status: 200, body: {logged_in: false}})),
      {status: 200, body: balanceBody()},
    );
    const {controller} = setUp({fetch});
    const first = controller.load();
    const second = controller.load();
    await second;
    release();
    await first;
    assert.equal(controller.getState().status, Status.READY);
  });
});

describe('profile block', () => {
  it('sums up the points and tier and links to the Rewards page, with nothing to redeem', async () => {
    const shopify = fakeShopify({target: PROFILE_TARGET});
    const fetch = fakeFetch({status: 200, body: balanceBody()});
    const {controller, screen, mode} = setUp({shopify, fetch});
    assert.equal(mode, Mode.PROFILE);
    await controller.load();
    const s = screen();
    assert.equal(s.summary.balance, 'You have 1,200 points.');
    assert.equal(s.summary.tier, 'Silver member');
    assert.deepEqual(s.rewards, []);
    assert.equal(s.intro, undefined);
    assert.deepEqual(s.actions, [
      {id: 'rewards', label: 'See your rewards', href: 'extension://rewards-page'},
    ]);
    assert.equal(fetch.calls.length, 1);
  });

  it('offers a retry when the balance cannot be loaded', async () => {
    const shopify = fakeShopify({target: PROFILE_TARGET});
    const fetch = fakeFetch(networkDown(), {status: 200, body: balanceBody()});
    const {controller, screen} = setUp({shopify, fetch});
    await controller.load();
    assert.equal(screen().banner.tone, 'critical');
    assert.deepEqual(screen().actions.map((a) => a.id), ['retry']);
    await controller.retry();
    assert.equal(screen().actions[0].href, 'extension://rewards-page');
  });
});
