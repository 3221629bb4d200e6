// Formatting and state transitions of assets/loyalty-widget.js.
// Run: node --test extensions/loyalty-widget/tests/   (Node 18+, no dependencies, offline)
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const root = path.join(__dirname, '..');
const w = require(path.join(root, 'assets', 'loyalty-widget.js'));
const en = require(path.join(root, 'locales', 'en.default.json')).loyalty.js;
const fr = require(path.join(root, 'locales', 'fr.json')).loyalty.js;

// What Intl prints between groups of digits and before "€" in French (narrow or plain no-break space).
const nb = (s) => s.replace(/[\u202f\u00a0]/g, ' ');

// GET /apps/loyalty/balance for a logged-in shopper, as Advocate answers it.
const BALANCE = {
  logged_in: true,
  points_balance: 600,
  points_pending: 40,
  tier: { id: 'silver', name: 'Silver', perk_percent: 0, multiplier_percent: 100 },
  next_tier: { id: 'gold', name: 'Gold', missing: { amount: '120.00', currency: 'EUR' } },
  rewards: [
    { id: '5-off', name: '€5 off', kind: 'amount_off', value: '5.00', points_cost: 500, minimum_order: null, valid_days: 30, affordable: true, currency: 'EUR' },
    { id: '10-percent-off', name: '10% off', kind: 'percentage_off', value: 10, points_cost: 1000, minimum_order: '50.00', valid_days: 30, affordable: false, currency: 'EUR' },
  ],
  referral_code: 'K7QM2XPA',
  birthday: null,
};
const REDEEMED = {
  code: 'ADV-7F3K9Q2M',
  code_status: 'active',
  reward_id: '5-off',
  reward_name: '€5 off',
  points_spent: 500,
  expires_at: '2026-12-01T10:00:00Z',
  points_balance: 100,
  replayed: false,
};

const run = (s, ...events) => events.reduce(w.reduce, s);
const ready = () => run(w.initial(true), { type: 'load' }, { type: 'loaded', status: 200, body: BALANCE });
const view = (s, t = en, loc = 'en') => w.present(s, t, loc);

test('fill replaces known placeholders and keeps unknown ones', () => {
  assert.equal(w.fill('[a] and [b]', { a: 1 }), '1 and [b]');
  assert.equal(w.fill(undefined, {}), '');
  assert.equal(w.fill('[code]', { code: 'X' }), 'X');
});

test('points are pluralised and grouped per locale', () => {
  assert.equal(w.points(0, en, 'en'), '0 points');
  assert.equal(w.points(1, en, 'en'), '1 point');
  assert.equal(w.points(1234, en, 'en'), '1,234 points');
  assert.equal(w.points(0, fr, 'fr'), '0 point'); // French: 0 and 1 are singular
  assert.equal(nb(w.points(1234, fr, 'fr')), '1 234 points');
  assert.equal(nb(w.points(1000000, fr, 'fr')), '1 000 000 points'); // "many" falls back to "other"
  assert.equal(w.points(-20, en, 'en'), '-20 points');
});

test('money is formatted in the currency Advocate names', () => {
  assert.equal(w.money('120.00', 'EUR', 'en'), '€120.00');
  assert.equal(nb(w.money('120.00', 'EUR', 'fr')), '120,00 €');
  assert.equal(w.money('1234.50', 'USD', 'en'), '$1,234.50');
  assert.equal(w.money('500', 'JPY', 'en'), '¥500');
  assert.equal(w.money('1.00', 'EURO', 'en'), '1.00 EURO'); // not a currency code: shown as given
});

test('progress text names the next tier and what is missing', () => {
  const spend = { id: 'gold', name: 'Gold', missing: { amount: '120.00', currency: 'EUR' } };
  const pts = { id: 'gold', name: 'Gold', missing: { points: 300 } };
  assert.equal(w.progress(spend, en, 'en'), 'Spend €120.00 more to reach Gold');
  assert.equal(nb(w.progress(spend, fr, 'fr')), 'Dépensez encore 120,00 € pour atteindre Gold');
  assert.equal(w.progress(pts, en, 'en'), '300 points more to reach Gold');
  assert.equal(w.progress({ ...pts, missing: { points: 1 } }, en, 'en'), '1 point more to reach Gold');
  assert.equal(w.progress(pts, fr, 'fr'), 'Encore 300 points pour atteindre Gold');
  assert.equal(w.progress(null, en, 'en'), en.top_tier);
  assert.equal(w.progress(undefined, fr, 'fr'), fr.top_tier);
});

test('birthday input becomes MM-DD, real dates only', () => {
  assert.equal(w.parseBirthday('03-14'), '03-14');
  assert.equal(w.parseBirthday('3-4'), '03-04');
  assert.equal(w.parseBirthday(' 12/31 '), '12-31');
  assert.equal(w.parseBirthday('02-29'), '02-29');
  for (const bad of ['02-30', '04-31', '13-01', '00-10', '01-00', '-', '', 'abc', '2024-03-14', '3-14-1', null, undefined]) {
    assert.equal(w.parseBirthday(bad), null, String(bad));
  }
});

test('the proxy path stays on the storefront origin', () => {
  assert.equal(w.proxyBase('/apps/loyalty'), '/apps/loyalty');
  assert.equal(w.proxyBase(' /community/rewards/ '), '/community/rewards');
  assert.equal(w.proxyBase(''), '/apps/loyalty');
  assert.equal(w.proxyBase(undefined), '/apps/loyalty');
  for (const bad of ['//evil.example/apps', 'https://evil.example/apps', 'apps/loyalty', '/apps/../admin', '/apps/loyalty?x=1', '/']) {
    assert.equal(w.proxyBase(bad), '/apps/loyalty', bad);
  }
});

test('idempotency keys are unique and fit the header Advocate accepts', () => {
  const a = w.newKey(), b = w.newKey();
  assert.notEqual(a, b);
  for (const k of [a, b]) assert.match(k, /^[\x21-\x7e]{1,200}$/);
});

test('logged out (Liquid knows): the invitation shows, nothing loads', () => {
  const s = w.initial(false);
  assert.equal(s.view, 'out');
  const v = view(s);
  assert.equal(v.show.out, true);
  assert.equal(v.show.skel, false);
  assert.equal(v.show.in, false);
  assert.equal(v.msg, '');
});

test('logged out (Advocate says so, or 401): the invitation replaces the skeleton', () => {
  const loading = run(w.initial(true), { type: 'load' });
  assert.equal(loading.view, 'loading');
  assert.equal(view(loading).show.skel, true);
  assert.equal(view(w.initial(true)).show.skel, true); // before the first request too: height is held
  assert.equal(run(loading, { type: 'loaded', status: 200, body: { logged_in: false } }).view, 'out');
  assert.equal(run(loading, { type: 'loaded', status: 401, body: { error: 'unauthorized' } }).view, 'out');
});

test('loaded: balance, pending, tier, progress and rewards', () => {
  const s = ready();
  assert.equal(s.view, 'ready');
  const v = view(s);
  assert.deepEqual(v.show, { out: false, skel: false, in: true, err: false, codebox: false, refbox: false, bform: true });
  assert.equal(v.text.balance, '600 points');
  assert.equal(v.text.pending, '+ 40 points pending');
  assert.equal(v.text.tier, 'Silver');
  assert.equal(v.text.progress, 'Spend €120.00 more to reach Gold');
  assert.equal(v.text.bday, '');
  assert.deepEqual(v.rewards, [
    { id: '5-off', name: '€5 off', detail: '500 points', disabled: false, label: 'Redeem' },
    { id: '10-percent-off', name: '10% off', detail: '1,000 points · orders over €50.00 · 400 points more needed', disabled: true, label: 'Redeem' },
  ]);
  const f = view(s, fr, 'fr');
  assert.equal(f.text.balance, '600 points');
  assert.equal(f.text.pending, '+ 40 points en attente');
  assert.equal(nb(f.rewards[1].detail), '1 000 points · commandes de plus de 50,00 € · Il manque 400 points');
});

test('loaded with no tier, top tier, no pending, no rewards', () => {
  const body = { ...BALANCE, points_pending: 0, tier: null, next_tier: null, rewards: [] };
  const v = view(run(w.initial(true), { type: 'load' }, { type: 'loaded', status: 200, body }));
  assert.equal(v.text.pending, '');
  assert.equal(v.text.tier, en.no_tier);
  assert.equal(v.text.progress, en.top_tier);
  assert.deepEqual(v.rewards, []);
});

test('the referral link shows once GET /referral answers', () => {
  const link = 'https://shop.example/?ref=K7QM2XPA';
  const s = run(ready(), { type: 'referral', status: 200, body: { code: 'K7QM2XPA', link } });
  assert.equal(view(s).referral, link);
  assert.equal(view(s).show.refbox, true);
  const failed = run(ready(), { type: 'referral', status: 0 });
  assert.equal(view(failed).show.refbox, false);
  assert.equal(view(failed).msg, ''); // the rest of the panel still works
});

test('load failures: error view with a retry, message per cause', () => {
  const loading = run(w.initial(true), { type: 'load' });
  const cases = [[0, en.network], [500, en.error], [502, en.error], [429, en.rate_limited]];
  for (const [status, msg] of cases) {
    const s = run(loading, { type: 'loaded', status, body: {} });
    assert.equal(s.view, 'error', String(status));
    assert.equal(view(s).show.err, true);
    assert.equal(view(s).msg, msg);
    assert.equal(view(s).tone, 'error');
    // Retrying goes back to loading and clears the message.
    const again = run(s, { type: 'load' });
    assert.equal(again.view, 'loading');
    assert.equal(again.msg, null);
  }
});

test('redeem asks for confirmation, then locks the rewards while it runs', () => {
  const c = run(ready(), { type: 'confirm', id: '5-off' });
  assert.equal(view(c).rewards[0].label, 'Confirm: spend 500 points');
  assert.equal(view(c).rewards[1].label, 'Redeem');
  const r = run(c, { type: 'redeem', id: '5-off', key: 'k-1' });
  assert.equal(r.busy, '5-off');
  assert.equal(r.keys['5-off'], 'k-1');
  assert.equal(r.confirm, null);
  const v = view(r);
  assert.equal(v.rewards[0].label, en.redeeming);
  assert.ok(v.rewards.every((x) => x.disabled));
  assert.equal(v.tone, 'info');
});

test('redeem success (201): new balance, code shown, key dropped', () => {
  const s = run(ready(), { type: 'confirm', id: '5-off' }, { type: 'redeem', id: '5-off', key: 'k-1' },
    { type: 'redeemed', id: '5-off', status: 201, body: REDEEMED });
  assert.equal(s.busy, null);
  assert.deepEqual(s.keys, {});
  assert.equal(s.data.points_balance, 100);
  const v = view(s);
  assert.equal(v.text.balance, '100 points');
  assert.equal(v.text.code, 'Your code: ADV-7F3K9Q2M');
  assert.equal(v.text.codenote, 'Valid until Dec 1, 2026');
  assert.equal(v.show.codebox, true);
  assert.equal(v.msg, 'Your code: ADV-7F3K9Q2M');
  assert.equal(v.tone, 'ok');
  // 100 points left: the 500-point reward is out of reach now.
  assert.equal(v.rewards[0].disabled, true);
  assert.equal(v.rewards[0].detail, '500 points · 400 points more needed');
  // The same key answered again (200, replayed) is a success too.
  const replay = run(ready(), { type: 'redeem', id: '5-off', key: 'k-1' },
    { type: 'redeemed', id: '5-off', status: 200, body: { ...REDEEMED, replayed: true } });
  assert.equal(view(replay).text.code, 'Your code: ADV-7F3K9Q2M');
});

test('redeem success while Shopify creates the code: pending, or failed for good', () => {
  const at = (code_status) => view(run(ready(), { type: 'redeem', id: '5-off', key: 'k' },
    { type: 'redeemed', id: '5-off', status: 201, body: { ...REDEEMED, code_status } }));
  assert.equal(at('pending').text.codenote, en.code_pending);
  assert.equal(at('failed').text.codenote, en.code_failed);
});

test('redeem for store credit: no code box, the credit named, or its refusal', () => {
  const CREDITED = { kind: 'store_credit', code: null, code_status: 'active', store_credit: { amount: '5.00', currency: 'EUR' },
    reward_id: '5-off', reward_name: '€5 store credit', points_spent: 500, points_balance: 100, replayed: false };
  const at = (body) => view(run(ready(), { type: 'redeem', id: '5-off', key: 'k' },
    { type: 'redeemed', id: '5-off', status: 201, body }));
  const v = at(CREDITED);
  assert.equal(v.show.codebox, false);
  assert.equal(v.text.code, '');
  assert.equal(v.msg, '5.00 EUR added to your store credit: it is spent at checkout when you are signed in.');
  assert.equal(v.tone, 'ok');
  assert.equal(v.text.balance, '100 points');
  const refused = at({ ...CREDITED, code_status: 'failed' });
  assert.equal(refused.msg, en.credit_failed);
  assert.equal(refused.tone, 'error');
  assert.equal(refused.show.codebox, false);
});

test('redeem 409: not enough points, balance kept, a new attempt gets a new key', () => {
  const s = run(ready(), { type: 'redeem', id: '5-off', key: 'k-1' },
    { type: 'redeemed', id: '5-off', status: 409, body: { error: 'conflict', message: 'not enough points' } });
  assert.equal(s.busy, null);
  assert.equal(s.data.points_balance, 600);
  assert.equal(s.keys['5-off'], undefined);
  assert.equal(view(s).msg, en.not_enough);
  assert.equal(view(s).tone, 'error');
  assert.equal(view(s).show.codebox, false);
  assert.equal(run(s, { type: 'redeem', id: '5-off', key: 'k-2' }).keys['5-off'], 'k-2');
});

test('redeem network failure: message, and the retry reuses the key (no double spend)', () => {
  const failed = run(ready(), { type: 'redeem', id: '5-off', key: 'k-1' }, { type: 'redeemed', id: '5-off', status: 0 });
  assert.equal(failed.busy, null);
  assert.equal(failed.keys['5-off'], 'k-1');
  assert.equal(view(failed).msg, en.network);
  assert.equal(failed.data.points_balance, 600);
  const retry = run(failed, { type: 'redeem', id: '5-off', key: 'k-2' });
  assert.equal(retry.keys['5-off'], 'k-1');
});

test('redeem: unknown outcomes keep the key, refusals drop it', () => {
  const after = (status) => run(ready(), { type: 'redeem', id: '5-off', key: 'k-1' }, { type: 'redeemed', id: '5-off', status, body: {} });
  for (const st of [429, 500, 503]) assert.equal(after(st).keys['5-off'], 'k-1', String(st));
  for (const st of [400, 404, 422]) assert.equal(after(st).keys['5-off'], undefined, String(st));
  assert.equal(view(after(429)).msg, en.rate_limited);
  assert.equal(view(after(503)).msg, en.error);
  assert.equal(after(401).view, 'out');
});

test('birthday saved: shown read-only, the form goes away', () => {
  const busy = run(ready(), { type: 'bday' });
  assert.equal(busy.bdayBusy, true);
  const s = run(busy, { type: 'bday_done', status: 200, body: { birthday: '03-14' } });
  assert.equal(s.bdayBusy, false);
  const v = view(s);
  assert.equal(v.text.bday, 'Your birthday: 03-14 (MM-DD)');
  assert.equal(v.show.bform, false);
  assert.equal(v.msg, en.birthday_saved);
  assert.equal(v.tone, 'ok');
});

test('birthday already set on load: read-only from the start', () => {
  const s = run(w.initial(true), { type: 'load' }, { type: 'loaded', status: 200, body: { ...BALANCE, birthday: '12-01' } });
  assert.equal(view(s).show.bform, false);
  assert.equal(view(s, fr, 'fr').text.bday, 'Votre anniversaire : 12-01 (MM-JJ)');
});

test('birthday 409: already set elsewhere, the form is locked', () => {
  const s = run(ready(), { type: 'bday' }, { type: 'bday_done', status: 409, body: { error: 'conflict' } });
  const v = view(s);
  assert.equal(s.bdayBusy, false);
  assert.equal(v.show.bform, false);
  assert.equal(v.text.bday, en.birthday_locked);
  assert.equal(v.msg, en.birthday_locked);
  assert.equal(v.tone, 'error');
});

test('birthday 422, client-side invalid, network failure: the form stays', () => {
  for (const [e, msg] of [
    [{ type: 'bday_done', status: 422, body: {} }, en.birthday_invalid],
    [{ type: 'bday_done', status: 0 }, en.network],
    [{ type: 'bday_done', status: 500, body: {} }, en.error],
  ]) {
    const s = run(ready(), { type: 'bday' }, e);
    assert.equal(s.bdayBusy, false);
    assert.equal(view(s).show.bform, true);
    assert.equal(view(s).msg, msg);
  }
  assert.equal(view(run(ready(), { type: 'msg', key: 'birthday_invalid' })).msg, en.birthday_invalid);
  assert.equal(run(ready(), { type: 'bday' }, { type: 'bday_done', status: 401 }).view, 'out');
});

// The `offers` object of GET /apps/loyalty/balance, shown by assets/loyalty-offers.js.
const offers = require(path.join(root, 'assets', 'loyalty-offers.js'));
const OFFERS = {
  closest_reward: { id: '10-percent-off', name: '10% off', points_cost: 1000, points_needed: 400, redeemable: false },
  products: [
    { product_id: '9007199254740993', variant_id: '90071992547409931', title: 'Kettle & cups', orders_together: 3 },
    { product_id: '104', variant_id: null, title: 'Honey', orders_together: 2 },
  ],
};
const shown = (data, t = en, loc = 'en', search = '/search') => offers.present(data, t, loc, search, w);

test('offers: how far the closest reward is, and products bought together linked to a search', () => {
  const v = shown({ ...BALANCE, offers: OFFERS });
  assert.equal(v.near, "You're 400 points from 10% off");
  assert.deepEqual(v.products, [
    { title: 'Kettle & cups', href: '/search?type=product&q=Kettle%20%26%20cups' },
    { title: 'Honey', href: '/search?type=product&q=Honey' },
  ]);
  // Under a language prefix (routes.search_url).
  assert.equal(shown({ ...BALANCE, offers: OFFERS }, en, 'en', '/fr/search').products[1].href, '/fr/search?type=product&q=Honey');
  assert.equal(nb(shown({ ...BALANCE, points_balance: 0, offers: OFFERS }, fr, 'fr').near), 'Plus que 1 000 points pour 10% off');
  assert.equal(shown({ ...BALANCE, points_balance: 999, offers: OFFERS }).near, "You're 1 point from 10% off");
});

test('offers: nothing shown when the reward is in reach, turned off, or Advocate sends none', () => {
  const inReach = { ...OFFERS.closest_reward, points_needed: 0, redeemable: true };
  assert.deepEqual(shown({ ...BALANCE, points_balance: 1000, offers: { closest_reward: inReach, products: [] } }), { near: '', products: [] });
  assert.deepEqual(shown({ ...BALANCE, offers: { closest_reward: null, products: [] } }), { near: '', products: [] });
  assert.deepEqual(shown(BALANCE), { near: '', products: [] });
  // After a redemption the widget keeps the answer's offers with the new balance: the distance follows it.
  const s = run(ready(), { type: 'redeem', id: '5-off', key: 'k' }, { type: 'redeemed', id: '5-off', status: 201, body: REDEEMED });
  assert.equal(shown({ ...s.data, offers: OFFERS }).near, "You're 900 points from 10% off");
});

test('reduce never mutates the state it is given; each message is a new object', () => {
  const s = ready();
  const frozen = JSON.stringify(s);
  const a = run(s, { type: 'redeem', id: '5-off', key: 'k' }, { type: 'redeemed', id: '5-off', status: 201, body: REDEEMED });
  run(s, { type: 'bday' }, { type: 'bday_done', status: 200, body: { birthday: '01-02' } });
  assert.equal(JSON.stringify(s), frozen);
  assert.notEqual(a.data, s.data);
  const m1 = run(s, { type: 'msg', key: 'copied', tone: 'ok' }).msg;
  const m2 = run(s, { type: 'msg', key: 'copied', tone: 'ok' }).msg;
  assert.notEqual(m1, m2); // the live region announces a repeated message again
  assert.equal(w.reduce(s, { type: 'unknown' }), s);
});

test('every message key the widget can show has a text in both languages', () => {
  const keys = ['redeeming', 'redeemed', 'not_enough', 'rate_limited', 'error', 'network', 'birthday_saved',
    'birthday_locked', 'birthday_invalid', 'copied', 'copy_failed'];
  for (const k of keys) {
    assert.ok(en[k], 'en ' + k);
    assert.ok(fr[k], 'fr ' + k);
  }
});
