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

test('restock: the products the shopper was reminded to buy again, linked to a search', () => {
  const restock = [{ product_id: '501', title: 'Coffee beans', due_on: '2026-12-01' }];
  assert.deepEqual(shown({ ...BALANCE, restock }).restock, [{ title: 'Coffee beans', href: '/search?type=product&q=Coffee%20beans' }]);
  assert.deepEqual(shown({ ...BALANCE, restock: [] }).restock, []);
});

test('offers: nothing shown when the reward is in reach, turned off, or Advocate sends none', () => {
  const inReach = { ...OFFERS.closest_reward, points_needed: 0, redeemable: true };
  const none = { near: '', products: [], restock: [] };
  assert.deepEqual(shown({ ...BALANCE, points_balance: 1000, offers: { closest_reward: inReach, products: [] } }), none);
  assert.deepEqual(shown({ ...BALANCE, offers: { closest_reward: null, products: [] } }), none);
  assert.deepEqual(shown(BALANCE), none);
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
    'birthday_locked', 'birthday_invalid', 'copied', 'copy_failed', 'earned', 'earn_already', 'earn_unavailable'];
  for (const k of keys) {
    assert.ok(en[k], 'en ' + k);
    assert.ok(fr[k], 'fr ' + k);
  }
});

// "Ways to earn": the `social` object of GET /apps/loyalty/balance, shown by assets/loyalty-earn.js.
const earn = require(path.join(root, 'assets', 'loyalty-earn.js'));
const HOME = 'https://shop.example';
const SOCIAL = {
  follow: [
    { network: 'instagram', url: 'https://instagram.com/myshop', points: 50, done: false },
    { network: 'tiktok', url: 'https://www.tiktok.com/@myshop', points: 1, done: true },
  ],
  share: [{ network: 'facebook', points: 25, done: true }, { network: 'x', points: 25, done: false }],
};
const rows = (data, t = en, loc = 'en') => earn.present(data, t, loc, HOME, w);

// Just enough of the DOM for loyalty-earn.js: elements with data-* lookups, focus and bubbling clicks.
class El {
  constructor(tag, doc) {
    Object.assign(this, { tagName: tag.toUpperCase(), doc, children: [], parent: null, dataset: {}, attrs: {}, listeners: {} });
    Object.assign(this, { textContent: '', className: '', hidden: false });
  }
  append(...cs) { for (const c of cs) this.children.push(Object.assign(c, { parent: this })); }
  replaceChildren(...cs) { this.children.forEach((c) => (c.parent = null)); this.children = []; this.append(...cs); }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; }
  addEventListener(type, f) { (this.listeners[type] ||= []).push(f); }
  contains(x) { for (; x; x = x.parent) if (x === this) return true; return false; }
  focus() { if (this.doc.contains(this)) this.doc.activeElement = this; }
  // [data-lw="name"], [data-lw-earn], [data-lw-earn="key"]
  matches(sel) {
    const [, attr, value] = /^\[data-([\w-]+)(?:="([^"]*)")?\]$/.exec(sel);
    const k = attr.replace(/-(\w)/g, (_, c) => c.toUpperCase());
    return k in this.dataset && (value === undefined || this.dataset[k] == value);
  }
  all() { return [this, ...this.children.flatMap((c) => c.all())]; }
  querySelector(sel) { return this.all().slice(1).find((e) => e.matches(sel)) || null; }
  closest(sel) { for (let e = this; e; e = e.parent) if (e.matches(sel)) return e; return null; }
  get text() { return this.textContent + this.children.map((c) => c.text).join(''); }
  click() { const ev = { target: this }; for (let e = this; e; e = e.parent) (e.listeners.click || []).forEach((f) => f(ev)); }
}

// A logged-in panel loaded with `body`, painted as loyalty-widget.js does: every event goes through
// its reducer, then the part repaints. `answers`: what POST /activities/social answers, in turn.
function panel(body, answers = []) {
  const doc = { activeElement: null, createElement: (tag) => new El(tag, doc), contains: (x) => page.contains(x) };
  const page = new El('div', doc), root = new El('div', doc), i18n = new El('script', doc);
  const box = new El('section', doc), ul = new El('ul', doc);
  Object.assign(root, { id: 'lw-1', dataset: { lwRoot: '', locale: 'en', proxy: '/apps/loyalty' } });
  i18n.dataset.lw = 'i18n';
  i18n.textContent = JSON.stringify(en);
  box.dataset.lw = 'earnbox';
  box.hidden = true;
  ul.dataset.lw = 'earn';
  box.append(ul);
  root.append(i18n, box);
  page.append(root);
  global.document = doc;
  const posts = [];
  const req = (url, b) => (posts.push({ url, body: b }), Promise.resolve(answers.shift()));
  let s = run(w.initial(true), { type: 'load' }, { type: 'loaded', status: 200, body });
  const go = (e) => { s = w.reduce(s, e); earn.mount(root, s.data, go, req, w, HOME); };
  go({ type: 'paint' });
  const link = (key) => ul.querySelector(`[data-lw-earn="${key}"]`);
  return { root, box, ul, doc, posts, link, state: () => s, view: () => view(s) };
}
const settled = () => new Promise((r) => setImmediate(r));

test('ways to earn: each follow and share with its points, done ones marked, links to the network', () => {
  assert.deepEqual(rows({ ...BALANCE, social: SOCIAL }), [
    { key: 'follow:instagram', kind: 'follow', network: 'instagram', href: 'https://instagram.com/myshop', done: false,
      label: 'Follow us on Instagram', note: '+50 points', action: 'Follow' },
    { key: 'follow:tiktok', kind: 'follow', network: 'tiktok', href: 'https://www.tiktok.com/@myshop', done: true,
      label: 'Follow us on TikTok', note: 'Done', action: 'Follow' },
    { key: 'share:facebook', kind: 'share', network: 'facebook', href: 'https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Fshop.example',
      done: true, label: 'Share our shop on Facebook', note: 'Done', action: 'Share' },
    { key: 'share:x', kind: 'share', network: 'x', href: 'https://twitter.com/intent/tweet?url=https%3A%2F%2Fshop.example',
      done: false, label: 'Share our shop on X', note: '+25 points', action: 'Share' },
  ]);
  const share = (network) => rows({ social: { share: [{ network, points: 10, done: false }] } }).map((r) => r.href);
  assert.deepEqual(share('linkedin'), ['https://www.linkedin.com/sharing/share-offsite/?url=https%3A%2F%2Fshop.example']);
  assert.deepEqual(share('pinterest'), ['https://pinterest.com/pin/create/button/?url=https%3A%2F%2Fshop.example']);
  // No share page for these networks; a follow address must be https.
  for (const n of ['instagram', 'tiktok', 'youtube', 'myspace']) assert.deepEqual(share(n), [], n);
  for (const url of ['http://instagram.com/myshop', 'javascript:alert(1)', '//instagram.com/x', '', undefined]) {
    assert.deepEqual(rows({ social: { follow: [{ network: 'instagram', url, points: 5 }] } }), [], String(url));
  }
  const f = rows({ ...BALANCE, social: SOCIAL }, fr, 'fr');
  assert.deepEqual(f.map((r) => [r.label, r.note, r.action]), [
    ['Suivez-nous sur Instagram', '+50 points', 'Suivre'],
    ['Suivez-nous sur TikTok', 'Fait', 'Suivre'],
    ['Partagez notre boutique sur Facebook', 'Fait', 'Partager'],
    ['Partagez notre boutique sur X', '+25 points', 'Partager'],
  ]);
  // Every network the program may offer has a name in both languages.
  for (const n of ['facebook', 'instagram', 'tiktok', 'x', 'youtube', 'pinterest', 'linkedin']) {
    assert.ok(en['network_' + n] && fr['network_' + n], n);
  }
});

test('ways to earn: the rows are painted as links opening a new tab, described by their text', () => {
  const p = panel({ ...BALANCE, social: SOCIAL });
  assert.equal(p.box.hidden, false);
  assert.equal(p.ul.children.length, 4);
  const a = p.link('follow:instagram');
  assert.equal(a.tagName, 'A');
  assert.equal(a.href, 'https://instagram.com/myshop');
  assert.equal(a.target, '_blank');
  assert.equal(a.rel, 'noopener');
  assert.equal(a.className, 'lw-btn');
  assert.equal(a.text, 'Follow (opens in a new tab)');
  assert.equal(a.getAttribute('aria-describedby'), 'lw-1-e0 lw-1-e0n');
  assert.deepEqual(a.parent.children.map((c) => c.text), ['Follow us on Instagram', '+50 points', 'Follow (opens in a new tab)']);
  assert.equal(p.link('share:facebook').className, 'lw-btn lw-btn-ghost');
  assert.equal(p.link('share:x').href, 'https://twitter.com/intent/tweet?url=https%3A%2F%2Fshop.example');
});

test('ways to earn: a follow posts its network, marks the row done and shows the new balance', async () => {
  const p = panel({ ...BALANCE, social: SOCIAL }, [{ status: 201, body: { awarded: true, points: 50, points_balance: 650 } }]);
  p.link('follow:instagram').focus();
  p.link('follow:instagram').click();
  p.link('follow:instagram').click(); // a second click while the first is on its way asks nothing more
  assert.deepEqual(p.posts, [{ url: '/apps/loyalty/activities/social', body: { action: 'social_follow', network: 'instagram' } }]);
  await settled();
  assert.equal(p.view().text.balance, '650 points');
  assert.equal(p.view().msg, 'Thank you! You earned 50 points.');
  assert.equal(p.view().tone, 'ok');
  assert.equal(p.state().data.social.follow[0].done, true);
  assert.equal(p.state().data.tier.name, 'Silver'); // the rest of the answer is kept
  const a = p.link('follow:instagram');
  assert.equal(a.parent.children[1].text, 'Done');
  assert.equal(a.className, 'lw-btn lw-btn-ghost');
  assert.equal(p.doc.activeElement, a); // repainted: the focus stays on the row
  // Done: the link still opens, nothing is asked again.
  a.click();
  assert.equal(p.posts.length, 1);
  // A share posts its own action.
  const q = panel({ ...BALANCE, social: SOCIAL }, [{ status: 201, body: { awarded: true, points: 25, points_balance: 625 } }]);
  q.link('share:x').click();
  assert.deepEqual(q.posts[0].body, { action: 'social_share', network: 'x' });
  await settled();
  assert.equal(q.view().text.balance, '625 points');
  assert.equal(q.state().data.social.share[1].done, true);
});

test('ways to earn: already done elsewhere (awarded false): marked done, no points claimed', async () => {
  const p = panel({ ...BALANCE, social: SOCIAL }, [{ status: 200, body: { awarded: false, points: 0, points_balance: 600 } }]);
  p.link('share:x').click();
  await settled();
  assert.equal(p.view().msg, en.earn_already);
  assert.equal(p.view().tone, 'info');
  assert.equal(p.view().text.balance, '600 points');
  assert.equal(p.link('share:x').parent.children[1].text, 'Done');
  // Without a balance in the answer, the one shown stays.
  const s = run(ready(), { type: 'loaded', status: 200, body: { ...BALANCE, social: SOCIAL } },
    ...earn.settle({ ...BALANCE, social: SOCIAL }, 'follow', 'instagram', { status: 200, body: { awarded: false } }, en, 'en', w));
  assert.equal(view(s).text.balance, '600 points');
  assert.equal(s.data.social.follow[0].done, true);
});

test('ways to earn: errors leave the row to try again; logged out shows the invitation', async () => {
  const cases = [[422, { error: 'unprocessable' }, en.earn_unavailable], [429, {}, en.rate_limited], [500, {}, en.error], [0, undefined, en.network]];
  for (const [status, body, msg] of cases) {
    const p = panel({ ...BALANCE, social: SOCIAL }, [{ status, body }, { status: 201, body: { awarded: true, points: 50, points_balance: 650 } }]);
    p.link('follow:instagram').click();
    await settled();
    assert.equal(p.view().msg, msg, String(status));
    assert.equal(p.view().tone, 'error');
    assert.equal(p.view().text.balance, '600 points');
    assert.equal(p.state().data.social.follow[0].done, false);
    assert.equal(p.link('follow:instagram').parent.children[1].text, '+50 points');
    // The next click asks again.
    p.link('follow:instagram').click();
    await settled();
    assert.equal(p.posts.length, 2);
    assert.equal(p.view().text.balance, '650 points');
  }
  const out = panel({ ...BALANCE, social: SOCIAL }, [{ status: 401, body: { error: 'unauthorized' } }]);
  out.link('share:x').click();
  await settled();
  assert.equal(out.state().view, 'out');
  assert.equal(out.view().show.out, true);
});

test('ways to earn: POST through the app proxy as JSON with the shopper\'s cookies; a network failure is status 0', async () => {
  const calls = [], saved = global.fetch;
  try {
    global.fetch = (url, init) => (calls.push({ url, init }), Promise.resolve({ status: 201, json: async () => ({ awarded: true }) }));
    assert.deepEqual(await earn.post('/apps/loyalty/activities/social', { action: 'social_follow', network: 'x' }), { status: 201, body: { awarded: true } });
    assert.deepEqual(calls, [{ url: '/apps/loyalty/activities/social', init: {
      method: 'POST', credentials: 'same-origin', body: '{"action":"social_follow","network":"x"}', headers: { 'Content-Type': 'application/json' } } }]);
    global.fetch = () => Promise.resolve({ status: 502, json: async () => { throw new SyntaxError('not JSON'); } });
    assert.deepEqual(await earn.post('/x', {}), { status: 502, body: {} });
    global.fetch = () => Promise.reject(new TypeError('Failed to fetch'));
    assert.deepEqual(await earn.post('/x', {}), { status: 0 });
  } finally {
    global.fetch = saved;
  }
  // Under a customised proxy path.
  const p = panel({ ...BALANCE, social: SOCIAL }, [{ status: 201, body: { awarded: true, points: 50, points_balance: 650 } }]);
  p.root.dataset.proxy = '/community/rewards/';
  p.link('follow:instagram').click();
  assert.equal(p.posts[0].url, '/community/rewards/activities/social');
});

test('ways to earn: nothing shown when social is absent, empty, or its lists are', () => {
  for (const social of [undefined, null, {}, { follow: [], share: [] }, { follow: [{ network: 'instagram', url: 'http://x.example' }] }]) {
    assert.deepEqual(rows({ ...BALANCE, social }), [], JSON.stringify(social));
    const p = panel({ ...BALANCE, social });
    assert.equal(p.box.hidden, true, JSON.stringify(social));
    assert.equal(p.ul.children.length, 0);
  }
  assert.deepEqual(rows(undefined), []);
  // Logged out before anything loaded: no rows.
  assert.deepEqual(rows(w.initial(false).data), []);
});
