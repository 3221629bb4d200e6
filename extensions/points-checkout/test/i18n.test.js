import assert from 'node:assert/strict';
import {describe, it} from 'node:test';

import {Status} from '../src/lib/controller.js';
import {describeReward, formatExpiry, formatMoney, formatRewardValue} from '../src/lib/format.js';
import {normaliseView} from '../src/lib/controller.js';
import {present} from '../src/lib/presenter.js';
import {balanceBody, fakeI18n, loadLocale} from './fakes.js';

const LOCALES = ['en.default', 'fr', 'de'];

function placeholders(text) {
  return [...text.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]).sort();
}

function shape(translations) {
  return Object.fromEntries(
    Object.entries(translations).map(([key, value]) => [
      key,
      typeof value === 'object'
        ? Object.fromEntries(Object.entries(value).map(([form, text]) => [form, placeholders(text)]))
        : placeholders(value),
    ]),
  );
}

describe('locales', () => {
  const english = loadLocale('en.default');

  for (const name of LOCALES.slice(1)) {
    it(`${name} has every key of en.default, with the same placeholders`, () => {
      const other = loadLocale(name);
      assert.deepEqual(Object.keys(other).sort(), Object.keys(english).sort());
      const want = shape(english);
      const got = shape(other);
      for (const key of Object.keys(english)) {
        if (typeof english[key] === 'object') {
          assert.deepEqual(Object.keys(got[key]).sort(), ['one', 'other'], key);
          assert.deepEqual(got[key].other, want[key].other, key);
        } else {
          assert.deepEqual(got[key], want[key], key);
        }
      }
    });
  }

  it('every key the code uses exists', async () => {
    const {readFileSync, readdirSync} = await import('node:fs');
    const dir = new URL('../src/', import.meta.url);
    const files = [
      ...readdirSync(dir).filter((f) => /\.jsx?$/.test(f)).map((f) => new URL(f, dir)),
      ...readdirSync(new URL('lib/', dir)).map((f) => new URL(`lib/${f}`, dir)),
    ];
    const used = new Set();
    for (const file of files) {
      const source = readFileSync(file, 'utf8');
      for (const m of source.matchAll(/\b(?:t|translate)\('(\w+)'/g)) used.add(m[1]);
    }
    assert.ok(used.size > 30, `found ${used.size} keys`);
    for (const key of used) assert.ok(key in english, `missing ${key}`);
  });
});

describe('formatting in the buyer locale', () => {
  it('formats reward values in English', () => {
    const i18n = fakeI18n('en');
    assert.equal(formatRewardValue({kind: 'amount_off', value: '5.00', currency: 'USD'}, i18n), '$5.00 off');
    assert.equal(formatRewardValue({kind: 'percentage_off', value: 10}, i18n), '10% off');
    assert.equal(formatRewardValue({kind: 'free_shipping', value: null}, i18n), 'Free shipping');
    assert.equal(formatRewardValue({kind: 'something_new'}, i18n), '');
  });

  it('formats reward values in French and German', () => {
    const fr = fakeI18n('fr');
    const nbsp = /[\u00a0\u202f]/g;
    assert.equal(formatRewardValue({kind: 'amount_off', value: '5.00', currency: 'EUR'}, fr).replace(nbsp, ' '), '5,00 € de réduction');
    assert.equal(formatRewardValue({kind: 'percentage_off', value: 10}, fr), '10 % de réduction');
    const de = fakeI18n('de');
    assert.equal(formatRewardValue({kind: 'amount_off', value: '5.00', currency: 'EUR'}, de).replace(nbsp, ' '), '5,00 € Rabatt');
    assert.equal(formatRewardValue({kind: 'free_shipping'}, de), 'Kostenloser Versand');
  });

  it('uses plural forms by count', () => {
    const en = fakeI18n('en');
    assert.equal(describeReward({id: 'a', name: 'A', kind: 'free_shipping', points_cost: 1}, en).cost, '1 point');
    assert.equal(describeReward({id: 'a', name: 'A', kind: 'free_shipping', points_cost: 2500}, en).cost, '2,500 points');
    const fr = fakeI18n('fr');
    assert.equal(describeReward({id: 'a', name: 'A', kind: 'free_shipping', points_cost: 0}, fr).cost, '0 point');
  });

  it('keeps money it cannot parse as it came, and formats without a currency', () => {
    const en = fakeI18n('en');
    assert.equal(formatMoney('n/a', 'USD', en), 'n/a');
    assert.equal(formatMoney('12.5', null, en), '12.50');
    assert.equal(formatMoney('12.5', 'NOT-A-CURRENCY', en), '12.50 NOT-A-CURRENCY');
  });

  it('formats expiry dates and ignores bad ones', () => {
    assert.equal(formatExpiry('2026-09-30T12:00:00Z', fakeI18n('fr')), '30 septembre 2026');
    assert.equal(formatExpiry('not a date', fakeI18n('en')), null);
    assert.equal(formatExpiry(null, fakeI18n('en')), null);
  });

  it('renders the ready block in French', () => {
    const i18n = fakeI18n('fr');
    const state = {status: Status.READY, view: normaliseView(balanceBody({next_tier: {id: 'gold', name: 'Gold', missing: {points: 1}}}))};
    const s = present(state, {i18n, mode: 'checkout'});
    assert.equal(s.heading, 'Points de fidélité');
    assert.equal(s.summary.balance.replace(/[\u00a0\u202f]/g, ' '), 'Vous avez 1 200 points.');
    assert.equal(s.summary.nextTier, 'Gagnez encore 1 point pour atteindre le niveau Gold.');
    assert.equal(s.rewards[0].actionLabel, 'Échanger contre 500 points');
  });
});

describe('the balance answer is read defensively', () => {
  it('fills in missing numbers and drops malformed rewards', () => {
    const view = normaliseView({
      logged_in: true,
      rewards: [{id: 'ok', name: 'OK', kind: 'free_shipping', points_cost: '300'}, {name: 'no id'}, null],
    });
    assert.equal(view.pointsBalance, 0);
    assert.equal(view.pointsPending, 0);
    assert.equal(view.tier, null);
    assert.deepEqual(view.rewards.map((r) => [r.id, r.points_cost, r.affordable]), [['ok', 300, false]]);
  });

  it('leaves out store credit rewards: the checkout applies codes', () => {
    const view = normaliseView({
      logged_in: true,
      points_balance: 900,
      rewards: [
        {id: 'credit', name: '5.00 store credit', kind: 'store_credit', value: '5.00', points_cost: 500},
        {id: 'code', name: '5.00 off', kind: 'amount_off', value: '5.00', points_cost: 500},
      ],
    });
    assert.deepEqual(view.rewards.map((r) => r.id), ['code']);
  });
});
