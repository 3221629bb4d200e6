// Stand-ins for what Shopify and the network provide, so the plain modules
// run under `node --test` with no browser and no network.

import {readFileSync} from 'node:fs';

/** A locale file of this extension, parsed. */
export function loadLocale(name) {
  const url = new URL(`../locales/${name}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8'));
}

/**
 * `shopify.i18n` as Shopify documents it: `translate` with `{{placeholders}}`
 * and `count` choosing the CLDR plural form; Intl for numbers, money, dates.
 */
export function fakeI18n(locale = 'en', translations = loadLocale(locale === 'en' ? 'en.default' : locale)) {
  const plurals = new Intl.PluralRules(locale);
  return {
    translate(key, options = {}) {
      let entry = translations[key];
      if (entry === undefined) throw new Error(`missing translation ${key} (${locale})`);
      if (typeof entry === 'object') {
        if (typeof options.count !== 'number') throw new Error(`${key} needs a count`);
        entry = entry[plurals.select(options.count)] ?? entry.other;
      }
      return entry.replace(/\{\{\s*(\w+)\s*\}\}/g, (match, name) => {
        if (!(name in options)) throw new Error(`${key}: no value for ${name}`);
        return String(options[name]);
      });
    },
    formatNumber: (n, options) => new Intl.NumberFormat(locale, options).format(n),
    formatCurrency: (n, options) =>
      new Intl.NumberFormat(locale, {style: 'currency', ...options}).format(n),
    formatDate: (d, options) => new Intl.DateTimeFormat(locale, {timeZone: 'UTC', ...options}).format(d),
  };
}

/** A signal like the ones on the `shopify` global (`.value`, `.subscribe`). */
export function fakeSignal(initial) {
  let value = initial;
  const listeners = new Set();
  return {
    get value() {
      return value;
    },
    set(next) {
      value = next;
      for (const listener of listeners) listener(value);
    },
    subscribe(listener) {
      listeners.add(listener);
      listener(value); // Preact signals call back at once, as Shopify's do
      return () => listeners.delete(listener);
    },
  };
}

/**
 * The `shopify` global of one target.
 * @param {{target?: string, customer?: object | undefined, canUpdateDiscountCodes?: boolean, applyResult?: object | Error, locale?: string}} [options]
 */
export function fakeShopify(options = {}) {
  const {
    target = 'purchase.checkout.block.render',
    canUpdateDiscountCodes = true,
    applyResult = {type: 'success'},
    locale = 'en',
  } = options;
  // `customer: undefined` means logged out, so no default parameter here.
  const customer = 'customer' in options ? options.customer : {id: 'gid://shopify/Customer/42'};
  const applied = [];
  const shopify = {
    extension: {target},
    sessionToken: {get: async () => 'session-token-1'},
    i18n: fakeI18n(locale),
    shop: {storefrontUrl: 'https://demo.example.com/'},
    applied,
  };
  if (target.startsWith('customer-account.')) {
    shopify.authenticatedAccount = {customer: fakeSignal(customer)};
  } else {
    shopify.buyerIdentity = {customer: fakeSignal(customer)};
  }
  if (target === 'purchase.checkout.block.render') {
    shopify.instructions = fakeSignal({discounts: {canUpdateDiscountCodes}});
    shopify.applyDiscountCodeChange = async (change) => {
      applied.push(change);
      if (applyResult instanceof Error) throw applyResult;
      return applyResult;
    };
  }
  return shopify;
}

/**
 * A scripted `fetch`: each call takes the next step, which is a response
 * description `{status, body, headers}`, an Error to throw (a network
 * failure), or a (possibly async) function of the request returning either.
 */
export function fakeFetch(...steps) {
  const calls = [];
  async function fetch(url, init = {}) {
    const call = {url, method: init.method ?? 'GET', headers: {...init.headers}, body: init.body};
    calls.push(call);
    let step = steps.shift();
    if (step === undefined) throw new Error(`unexpected request ${call.method} ${url}`);
    if (typeof step === 'function') step = await step(call);
    if (step instanceof Error) throw step;
    const {status = 200, body, headers = {}} = step;
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    return {
      ok: status >= 200 && status < 300,
      status,
      headers: fakeHeaders(headers),
      text: async () => text,
    };
  }
  fetch.calls = calls;
  fetch.pending = () => steps.length;
  return fetch;
}

/** `Headers`: names are case-insensitive. */
function fakeHeaders(headers) {
  const map = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return {get: (name) => map.get(name.toLowerCase()) ?? null};
}

/** A network failure as `fetch` reports it. */
export function networkDown() {
  return new TypeError('Failed to fetch');
}

export const APP_URL = 'https://advocate.example.com';

/** The backend's rewards, `affordable` as the backend computes it. */
export function rewardsFor(balance) {
  return [
    {id: 'ten-percent', name: '10% off', kind: 'percentage_off', value: 10, points_cost: 1000, minimum_order: '50.00'},
    {id: 'five-off', name: '$5 off', kind: 'amount_off', value: '5.00', points_cost: 500, minimum_order: null},
    {id: 'free-ship', name: 'Free shipping', kind: 'free_shipping', value: null, points_cost: 1500, minimum_order: null},
  ].map((r) => ({...r, valid_days: 90, currency: 'USD', affordable: balance >= r.points_cost}));
}

/** The backend's balance answer for a logged-in shopper (1,200 points by default). */
export function balanceBody(overrides = {}) {
  const balance = overrides.points_balance ?? 1200;
  return {
    logged_in: true,
    points_balance: balance,
    points_pending: 150,
    tier: {id: 'silver', name: 'Silver', perk_percent: 5, multiplier_percent: 100},
    next_tier: {id: 'gold', name: 'Gold', missing: {amount: '120.50', currency: 'USD'}},
    rewards: rewardsFor(balance),
    referral_code: 'ABCD2345',
    birthday: null,
    ...overrides,
  };
}

/** The backend's redeem answer. */
export function redeemBody(overrides = {}) {
  return {
    code: 'ADV-5OFF-7KQ2M',
    code_status: 'active',
    reward_id: 'five-off',
    reward_name: '$5 off',
    points_spent: 500,
    points_balance: 700,
    expires_at: '2026-09-30T12:00:00Z',
    replayed: false,
    ...overrides,
  };
}

/** Resolves once every queued promise callback has run. */
export const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
