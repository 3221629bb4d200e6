// The seam between the plain modules and Shopify's `shopify` global
// (2025-10+ API: signals with `.value` / `.subscribe`). The same code serves
// the checkout (`purchase.checkout.block.render`), the thank-you page
// (`purchase.thank-you.block.render`), the order-status page
// (`customer-account.order-status.block.render`) and the profile page
// (`customer-account.profile.block.render`, a summary and a link); what differs is read from
// the API the target has, never assumed. Tests pass a fake `shopify`.

import {createApiClient} from './api.js';
import {Mode, createPointsController} from './controller.js';

export const CHECKOUT_TARGET = 'purchase.checkout.block.render';
export const THANK_YOU_TARGET = 'purchase.thank-you.block.render';
export const ORDER_STATUS_TARGET = 'customer-account.order-status.block.render';
export const PROFILE_TARGET = 'customer-account.profile.block.render';

/** The Rewards page (the `rewards-page` extension's handle). */
export const REWARDS_PAGE_URL = 'extension://rewards-page';

/** Codes are applied only where the checkout is still open; the profile
 * block only sums up and links to the Rewards page. */
export function modeForTarget(target) {
  if (target === CHECKOUT_TARGET) return Mode.CHECKOUT;
  if (target === PROFILE_TARGET) return Mode.PROFILE;
  return Mode.NEXT_ORDER;
}

/**
 * Wires a controller to the `shopify` global of one target.
 * @param {any} shopify the target's API (`globalThis.shopify` in the sandbox)
 * @param {{appUrl: string | null | undefined, fetch: typeof fetch, target?: string, newKey?: () => string, log?: (m: string, d?: unknown) => void}} options
 */
export function connect(shopify, {appUrl, fetch, target, newKey, log}) {
  const extensionTarget = target ?? shopify.extension?.target ?? CHECKOUT_TARGET;
  const mode = modeForTarget(extensionTarget);
  const api = createApiClient({
    appUrl,
    fetch,
    getSessionToken: () => shopify.sessionToken.get(),
  });
  const controller = createPointsController({
    api,
    mode,
    newKey,
    log,
    applyDiscountCode:
      typeof shopify.applyDiscountCodeChange === 'function'
        ? (code) => shopify.applyDiscountCodeChange({type: 'addDiscountCode', code})
        : undefined,
    canApplyDiscountCodes: () => {
      const instructions = shopify.instructions?.value;
      // Older checkouts without instructions: try, and handle a refusal.
      return instructions?.discounts?.canUpdateDiscountCodes ?? true;
    },
  });
  return {controller, mode, target: extensionTarget, loginUrl: loginUrl(shopify)};
}

/**
 * The signal that says who the shopper is: `buyerIdentity.customer` in
 * checkout (needs protected customer data access), `authenticatedAccount`
 * on customer account pages. The backend decides from the session token
 * whether someone is logged in; this only tells us when to ask again.
 */
export function customerSignal(shopify) {
  return shopify.buyerIdentity?.customer ?? shopify.authenticatedAccount?.customer ?? null;
}

/**
 * Reloads the balance whenever the customer changes (a shopper who logs in
 * during checkout sees their points without reloading the page).
 * @returns {() => void} unsubscribe
 */
export function reloadOnCustomerChange(shopify, controller) {
  const signal = customerSignal(shopify);
  if (!signal || typeof signal.subscribe !== 'function') return () => {};
  let last = customerId(signal.value);
  return signal.subscribe((customer) => {
    const id = customerId(customer);
    if (id === last) return;
    last = id;
    void controller.load();
  });
}

function customerId(customer) {
  return customer && typeof customer === 'object' ? customer.id ?? 'anonymous' : null;
}

/** The storefront's account page, where a shopper logs in. */
export function loginUrl(shopify) {
  const storefrontUrl = shopify.shop?.storefrontUrl;
  if (typeof storefrontUrl !== 'string' || storefrontUrl === '') return null;
  return `${storefrontUrl.replace(/\/+$/, '')}/account/login`;
}
