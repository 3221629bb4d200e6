// The seam between the plain modules and Shopify's `shopify` global. The
// order comes from the API of the target: `orderConfirmation` on the
// thank-you page (`gid://shopify/OrderIdentity/N`, N being the order's id)
// and `order` on the order-status page (`gid://shopify/Order/N`); the
// backend accepts both. Tests pass a fake `shopify`.

import {createSurveyApi} from './api.js';
import {createSurvey} from './survey.js';

export const THANK_YOU_TARGET = 'purchase.thank-you.block.render';
export const ORDER_STATUS_TARGET = 'customer-account.order-status.block.render';

/** The signal that carries the order on this target, if any. */
export function orderSignal(shopify) {
  return shopify.orderConfirmation ?? shopify.order ?? null;
}

/** The order's id as the page knows it, or null (not created yet). */
export function orderIdOf(shopify) {
  const value = orderSignal(shopify)?.value;
  const id = value?.order?.id ?? value?.id;
  return typeof id === 'string' && id !== '' ? id : null;
}

/**
 * @param {any} shopify the target's API (`globalThis.shopify` in the sandbox)
 * @param {{appUrl: string | null | undefined, fetch: typeof fetch, log?: (m: string, d?: unknown) => void}} options
 */
export function connect(shopify, {appUrl, fetch, log}) {
  const api = createSurveyApi({
    appUrl,
    fetch,
    getSessionToken: () => shopify.sessionToken.get(),
  });
  return createSurvey({api, orderId: () => orderIdOf(shopify), log});
}

/**
 * Loads again when the order id changes (the thank-you page may render
 * before the order exists).
 * @returns {() => void} unsubscribe
 */
export function reloadOnOrderChange(shopify, survey) {
  const signal = orderSignal(shopify);
  if (!signal || typeof signal.subscribe !== 'function') return () => {};
  let last = orderIdOf(shopify);
  return signal.subscribe(() => {
    const id = orderIdOf(shopify);
    if (id === last) return;
    last = id;
    void survey.load();
  });
}
