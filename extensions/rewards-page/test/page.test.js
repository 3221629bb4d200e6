// The Rewards page end to end without a browser: the `shopify` global's
// session token and i18n and `fetch` are fakes, everything else is the
// real code (API client → state machine → presenter), down to the
// sentences shown.

import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {describe, it} from 'node:test';

import {createAccountApi} from '../src/lib/account.js';
import {Status, createRewardsPage} from '../src/lib/page.js';
import {HISTORY_LABELS, present} from '../src/lib/view.js';
import {
  APP_URL,
  balanceBody,
  fakeFetch,
  fakeI18n,
  networkDown,
} from '../../points-checkout/test/fakes.js';

const locale = (name) => JSON.parse(readFileSync(new URL(`../locales/${name}.json`, import.meta.url), 'utf8'));
const i18n = fakeI18n('en', locale('en.default'));

const HISTORY = {
  entries: [
    {kind: 'redeem', points: -500, occurred_at: '2026-11-20T10:00:00Z', pending_until: null},
    {kind: 'earn', points: 120, occurred_at: '2026-11-02T09:00:00Z', pending_until: '2026-12-30T09:00:00Z'},
    {kind: 'signup', points: 100, occurred_at: '2026-10-01T08:00:00Z', pending_until: null},
  ],
};
const REFERRAL = {code: 'ABCD2345', link: 'https://demo.myshopify.com/?ref=ABCD2345'};
const CREDIT_REWARD = {
  id: 'credit-5', name: '5.00 store credit', kind: 'store_credit', value: '5.00',
  points_cost: 500, affordable: true, currency: 'USD', valid_days: 90, minimum_order: null,
};
const CASH_REWARD = {
  id: 'cash', name: 'Points as cash', kind: 'points_as_cash', value: '1.00', points_cost: 300,
  points_step: 100, min_points: 300, max_points: 2000, affordable: true, currency: 'USD',
  valid_days: 90, minimum_order: null,
};

function setUp(...steps) {
  const fetch = fakeFetch(...steps);
  let n = 0;
  const logs = [];
  const page = createRewardsPage({
    api: createAccountApi({appUrl: APP_URL, fetch, getSessionToken: async () => 'customer-account-token'}),
    newKey: () => `key-${++n}`,
    log: (message) => logs.push(message),
  });
  const screen = () => present(page.getState(), {i18n});
  return {page, fetch, screen, logs};
}

/** The three answers of a full load. */
const loaded = (balance = balanceBody()) => [
  {status: 200, body: balance},
  {status: 200, body: HISTORY},
  {status: 200, body: REFERRAL},
];

describe('loading the page', () => {
  it('shows balance, tier, progress, rewards, history and referral link, with the account token', async () => {
    const {page, fetch, screen} = setUp(...loaded());
    await page.load();
    assert.equal(page.getState().status, Status.READY);
    assert.deepEqual(
      fetch.calls.map((c) => `${c.method} ${c.url}`),
      [
        `GET ${APP_URL}/api/account/balance`,
        `GET ${APP_URL}/api/account/history`,
        `GET ${APP_URL}/api/account/referral`,
      ],
    );
    for (const call of fetch.calls) assert.equal(call.headers.Authorization, 'Bearer customer-account-token');
    const s = screen();
    assert.equal(s.summary.balance, 'You have 1,200 points.');
    assert.equal(s.summary.tier, 'Silver member');
    assert.equal(s.summary.pending, '150 more points become available after the return window.');
    assert.equal(s.summary.nextTier, 'Spend $120.50 more to reach Gold.');
    assert.deepEqual(
      s.rewards.map((r) => [r.name, r.value, r.disabled]),
      [
        ['$5 off', '$5.00 off', false],
        ['10% off', '10% off', false],
        ['Free shipping', 'Free shipping', true],
      ],
    );
    assert.deepEqual(
      s.history.lines.map((l) => [l.label, l.points, l.date, l.pending]),
      [
        ['Reward', '−500 points', 'November 20, 2026', null],
        ['Order', '+120 points', 'November 2, 2026', 'Available from December 30, 2026'],
        ['Welcome bonus', '+100 points', 'October 1, 2026', null],
      ],
    );
    assert.equal(s.referral.link, REFERRAL.link);
    assert.equal(s.birthday.set, false);
    assert.equal(s.banner, null);
  });

  it('lists what is time to restock, and nothing when there is none', async () => {
    const restock = [{product_id: '501', title: 'Coffee beans', due_on: '2026-12-01'}];
    const {page, screen} = setUp(...loaded(balanceBody({restock})));
    await page.load();
    assert.deepEqual(screen().restock, {lines: [{title: 'Coffee beans', due: 'Due December 1, 2026'}]});
    const none = setUp(...loaded(balanceBody({restock: []})));
    await none.page.load();
    assert.equal(none.screen().restock, null);
    const older = setUp(...loaded());
    await older.page.load();
    assert.equal(older.screen().restock, null, 'an answer without the field');
  });

  it('asks a logged-out shopper to log in and asks nothing else', async () => {
    const {page, fetch, screen} = setUp({status: 200, body: {logged_in: false}});
    await page.load();
    assert.equal(page.getState().status, Status.LOGGED_OUT);
    assert.equal(screen().banner.tone, 'info');
    assert.match(screen().banner.text, /^Log in to your account/);
    assert.equal(screen().summary, null);
    await page.redeem('five-off');
    assert.equal(fetch.calls.length, 1);
  });

  it('with an empty balance, offers nothing to redeem and says how far the first reward is', async () => {
    const {page, screen} = setUp(
      {status: 200, body: balanceBody({points_balance: 0, points_pending: 0})},
      {status: 200, body: {entries: []}},
      {status: 200, body: REFERRAL},
    );
    await page.load();
    const s = screen();
    assert.equal(s.summary.balance, 'You have 0 points.');
    assert.ok(s.rewards.every((r) => r.disabled));
    assert.equal(s.emptyMessage, '500 more points and you can get $5 off.');
    assert.equal(s.history.message, 'No points activity yet.');
  });

  it('after a network failure offers a retry, which loads the page', async () => {
    const {page, screen} = setUp(networkDown(), ...loaded());
    await page.load();
    assert.equal(page.getState().status, Status.ERROR);
    assert.equal(screen().banner.text, "We couldn't load your rewards. Check your connection and try again.");
    assert.deepEqual(screen().actions.map((a) => a.id), ['retry']);
    await page.retry();
    assert.equal(page.getState().status, Status.READY);
  });

  it('keeps the page when only the history or the referral link fails', async () => {
    const {page, screen, logs} = setUp(
      {status: 200, body: balanceBody()},
      {status: 503, body: {error: 'unavailable'}},
      networkDown(),
    );
    await page.load();
    assert.equal(page.getState().status, Status.READY);
    assert.equal(screen().history.message, 'Your recent activity is unavailable right now.');
    assert.equal(screen().referral, null);
    assert.equal(logs.length, 2);
  });
});

describe('redeeming', () => {
  it('shows the new code, spends once and reloads the history', async () => {
    const {page, fetch, screen} = setUp(
      ...loaded(),
      {status: 201, body: {kind: 'code', code: 'ADV-5OFF-7KQ2M', reward_name: '$5 off', points_spent: 500, points_balance: 700, expires_at: '2027-03-01T00:00:00Z'}},
      {status: 200, body: HISTORY},
      {status: 200, body: REFERRAL},
    );
    await page.load();
    await page.redeem('five-off');
    const call = fetch.calls[3];
    assert.equal(call.url, `${APP_URL}/api/account/redeem`);
    assert.deepEqual(JSON.parse(call.body), {reward_id: 'five-off'});
    assert.equal(call.headers['Idempotency-Key'], 'key-1');
    const s = screen();
    assert.equal(s.banner.text, '$5 off is yours (500 points spent). Use this code at checkout.');
    assert.equal(s.redemption.code, 'ADV-5OFF-7KQ2M');
    assert.equal(s.redemption.expiry, 'Valid until March 1, 2027.');
    assert.equal(s.summary.balance, 'You have 700 points.');
    assert.equal(s.rewards.find((r) => r.id === 'ten-percent').disabled, true);
  });

  it('retries an unknown outcome with the same key, then a new redemption gets a new key', async () => {
    const done = {status: 200, body: {kind: 'code', code: 'ADV-1', reward_name: '$5 off', points_spent: 500, points_balance: 700}};
    const {page, fetch, screen} = setUp(
      ...loaded(),
      networkDown(),
      done,
      {status: 200, body: HISTORY},
      {status: 200, body: REFERRAL},
      {status: 201, body: {...done.body, code: 'ADV-2', points_balance: 200}},
      {status: 200, body: HISTORY},
      {status: 200, body: REFERRAL},
    );
    await page.load();
    await page.redeem('five-off');
    assert.match(screen().banner.text, /won't be charged points twice/);
    assert.deepEqual(screen().actions.map((a) => a.id), ['retry', 'dismiss']);
    await page.retry();
    assert.equal(fetch.calls[3].headers['Idempotency-Key'], 'key-1');
    assert.equal(fetch.calls[4].headers['Idempotency-Key'], 'key-1');
    assert.equal(screen().redemption.code, 'ADV-1');
    page.dismiss();
    await page.redeem('five-off');
    assert.equal(fetch.calls[7].headers['Idempotency-Key'], 'key-2');
  });

  it('a refused redemption (balance moved) warns and shows the balance as it is now', async () => {
    const {page, screen} = setUp(
      ...loaded(),
      {status: 409, body: {error: 'conflict', message: 'not enough points'}},
      {status: 200, body: balanceBody({points_balance: 300})},
    );
    await page.load();
    await page.redeem('five-off');
    const s = screen();
    assert.equal(s.banner.tone, 'warning');
    assert.equal(s.banner.text, 'Your balance no longer covers that reward. It has been updated.');
    assert.equal(s.summary.balance, 'You have 300 points.');
    assert.ok(s.rewards.every((r) => r.disabled));
    assert.equal(s.redemption, null);
  });

  it('a request the backend rejects is not retried', async () => {
    const {page, screen} = setUp(...loaded(), {status: 422, body: {error: 'unprocessable'}});
    await page.load();
    await page.redeem('five-off');
    assert.equal(screen().banner.text, "That reward couldn't be redeemed.");
    assert.deepEqual(screen().actions.map((a) => a.id), ['dismiss']);
  });

  it('store credit: says the credit is on its way, with its expiry, and no code', async () => {
    const balance = balanceBody({rewards: [CREDIT_REWARD]});
    const {page, screen} = setUp(
      ...loaded(balance),
      {
        status: 201,
        body: {kind: 'store_credit', code: null, reward_name: '5.00 store credit', points_spent: 500, points_balance: 700,
          store_credit: {amount: '5.00', currency: 'USD', expires_at: '2027-01-05T00:00:00Z'}},
      },
      {status: 200, body: HISTORY},
      {status: 200, body: REFERRAL},
    );
    await page.load();
    assert.equal(screen().rewards[0].value, '$5.00 store credit');
    await page.redeem('credit-5');
    const s = screen();
    assert.equal(s.banner.text, '$5.00 of store credit is on its way to your account (500 points spent). Use it at checkout.');
    assert.equal(s.redemption.code, null);
    assert.equal(s.redemption.expiry, 'The credit expires on January 5, 2027.');
  });

  it('points as cash: sends the points chosen, within steps the page offers', async () => {
    const balance = balanceBody({points_balance: 1250, rewards: [CASH_REWARD]});
    const {page, fetch, screen} = setUp(
      ...loaded(balance),
      {status: 201, body: {kind: 'store_credit', code: null, points_spent: 700, points_balance: 550,
        store_credit: {amount: '7.00', currency: 'USD', expires_at: null}}},
      {status: 200, body: HISTORY},
      {status: 200, body: REFERRAL},
    );
    await page.load();
    const row = screen().rewards[0];
    assert.equal(row.value, '$1.00 store credit for every 100 points');
    assert.deepEqual({...row.choice, label: undefined}, {min: 300, max: 1200, step: 100, label: undefined});
    await page.redeem('cash', 700);
    assert.deepEqual(JSON.parse(fetch.calls[3].body), {reward_id: 'cash', points: 700});
    assert.equal(screen().redemption.expiry, null);
    assert.match(screen().banner.text, /^\$7\.00 of store credit/);
  });
});

describe('birthday', () => {
  it('checks the format before sending, saves once, and reports a birthday already set', async () => {
    const {page, fetch, screen} = setUp(
      ...loaded(),
      {status: 200, body: {birthday: '03-27'}},
    );
    await page.load();
    await page.saveBirthday('27/03');
    assert.equal(screen().birthday.problem, 'Enter your birthday as month and day, for example 03-27.');
    assert.equal(fetch.calls.length, 3);
    await page.saveBirthday('03-27');
    assert.deepEqual(JSON.parse(fetch.calls[3].body), {birthday: '03-27'});
    assert.equal(screen().birthday.text, 'Your birthday: March 27.');

    const other = setUp(...loaded(), {status: 409, body: {error: 'conflict'}});
    await other.page.load();
    await other.page.saveBirthday('12-24');
    assert.equal(other.screen().birthday.problem, 'Your birthday is already set. Contact the shop to change it.');
  });
});

describe('locales', () => {
  it('French has every English key, with the same placeholders', () => {
    const en = locale('en.default');
    const fr = locale('fr');
    assert.deepEqual(Object.keys(fr).sort(), Object.keys(en).sort());
    const names = (v) => [...JSON.stringify(v).matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(en)) assert.deepEqual(names(fr[key]), names(en[key]), key);
  });
});

describe('history labels', () => {
  // The ledger kinds the backend writes, read from its source.
  const ledger = readFileSync(new URL('../../../src/store/ledger.rs', import.meta.url), 'utf8');
  const kindModule = ledger.slice(ledger.indexOf('pub mod kind {'));
  const kinds = [...kindModule.slice(0, kindModule.indexOf('\n}')).matchAll(/pub const \w+: &str = "([a-z_]+)";/g)]
    .map((m) => m[1]);

  it('name every kind of ledger entry in every locale', () => {
    assert.ok(kinds.includes('earn') && kinds.includes('activity_reversal'), kinds.join());
    const locales = [locale('en.default'), locale('fr')];
    for (const kind of kinds) {
      const key = HISTORY_LABELS[kind];
      assert.ok(key, `no label for ledger kind ${kind}`);
      for (const strings of locales) assert.ok(strings[key], `${key} missing from a locale`);
    }
  });

  it('shows an earning action and its reversal by name', async () => {
    const history = {
      entries: [
        {kind: 'activity_reversal', points: -50, occurred_at: '2026-11-21T10:00:00Z', pending_until: null},
        {kind: 'activity', points: 50, occurred_at: '2026-11-20T10:00:00Z', pending_until: null},
      ],
    };
    const {page, screen} = setUp(
      {status: 200, body: balanceBody()},
      {status: 200, body: history},
      {status: 200, body: REFERRAL},
    );
    await page.load();
    assert.deepEqual(
      screen().history.lines.map((l) => [l.label, l.points]),
      [
        ['Activity bonus taken back', '−50 points'],
        ['Activity bonus', '+50 points'],
      ],
    );
  });
});
