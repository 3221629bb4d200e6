// Stand-ins for Shopify and the network, so the plain modules run under
// `node --test` with no browser and no network.

import {readFileSync} from 'node:fs';

export const APP_URL = 'https://advocate.example.com';
export const ORDER_GID = 'gid://shopify/OrderIdentity/5000000000123';

/** A locale file of this extension, parsed. */
export function loadLocale(name) {
  return JSON.parse(readFileSync(new URL(`../locales/${name}.json`, import.meta.url), 'utf8'));
}

/** `shopify.i18n`: `{{placeholders}}`, `count` picks the plural form. */
export function fakeI18n(locale = 'en') {
  const translations = loadLocale(locale === 'en' ? 'en.default' : locale);
  const plurals = new Intl.PluralRules(locale);
  return {
    translate(key, options = {}) {
      let entry = translations[key];
      if (entry === undefined) throw new Error(`missing translation ${key} (${locale})`);
      if (typeof entry === 'object') entry = entry[plurals.select(options.count)] ?? entry.other;
      return entry.replace(/\{\{\s*(\w+)\s*\}\}/g, (match, name) => {
        if (!(name in options)) throw new Error(`${key}: no value for ${name}`);
        return String(options[name]);
      });
    },
    formatNumber: (n) => new Intl.NumberFormat(locale).format(n),
  };
}

/** A signal like those on the `shopify` global. */
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
      listener(value);
      return () => listeners.delete(listener);
    },
  };
}

/** The `shopify` global of the thank-you or the order-status target. */
export function fakeShopify({target = 'purchase.thank-you.block.render', orderId = ORDER_GID} = {}) {
  const shopify = {
    extension: {target},
    sessionToken: {get: async () => 'session-token-1'},
    i18n: fakeI18n(),
  };
  if (target.startsWith('purchase.thank-you')) {
    shopify.orderConfirmation = fakeSignal(orderId ? {order: {id: orderId}, number: 'ABC123'} : undefined);
  } else {
    shopify.order = fakeSignal(orderId ? {id: orderId, name: '#1001'} : undefined);
  }
  return shopify;
}

/**
 * A scripted `fetch`: each call takes the next step, a response
 * `{status, body}`, an Error (network failure) or a function of the request.
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
    const {status = 200, body} = step;
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    return {ok: status >= 200 && status < 300, status, text: async () => text};
  }
  fetch.calls = calls;
  fetch.pending = () => steps.length;
  return fetch;
}

/** The backend's GET answer for an order not answered yet. */
export function openStatus(overrides = {}) {
  return {enabled: true, logged_in: true, order_id: 5000000000123, answered: false, bonus_points: 25, ...overrides};
}

/** The backend's POST answer. */
export function answeredBody(overrides = {}) {
  return {
    order_id: 5000000000123,
    answered: true,
    score: 9,
    category: 'promoter',
    bonus_points: 25,
    points_credited: 25,
    credit_state: 'credited',
    ...overrides,
  };
}

/** Resolves once queued promise callbacks have run. */
export const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
