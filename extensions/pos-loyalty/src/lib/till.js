// The POS block's API client and state machine, free of Preact and of the
// `shopify` global: tests drive them with fakes. Staff redeem for the
// customer attached to the till; a code goes into the cart, store credit
// onto the customer's account. One idempotency key per attempt, kept for a
// retry while the outcome is unknown, so a flaky connection at the till
// never spends points twice.

import {AdvocateApiError, ErrorKind, createTransport, failureOf} from '../../../points-checkout/src/lib/api.js';
import {newIdempotencyKey} from '../../../points-checkout/src/lib/ids.js';

export {ErrorKind};

/**
 * `/api/pos/*`, authenticated with the POS ID token.
 * @param {{appUrl: string | null | undefined, fetch: typeof fetch, getSessionToken: () => Promise<string | undefined>}} options
 */
export function createTillApi(options) {
  const request = createTransport(options);
  return {
    async getCustomer(customerId) {
      const {data} = await request('GET', `/api/pos/customers/${customerId}`);
      return data;
    },
    async redeem(customerId, rewardId, idempotencyKey, points) {
      const body = points === undefined ? {reward_id: rewardId} : {reward_id: rewardId, points};
      const {status, data} = await request('POST', `/api/pos/customers/${customerId}/redemptions`, {
        body,
        headers: {'Idempotency-Key': idempotencyKey},
      });
      const hasCode = typeof data.code === 'string' && data.code !== '';
      if (!hasCode && !(data.store_credit && typeof data.store_credit.amount === 'string')) {
        throw new AdvocateApiError(ErrorKind.SERVER, 'redeem answer has neither code nor credit', {status});
      }
      return {...data, replayed: status === 200 || data.replayed === true};
    },
  };
}

export const Status = Object.freeze({
  /** No customer is attached to the cart. */
  NO_CUSTOMER: 'no_customer',
  LOADING: 'loading',
  READY: 'ready',
  /** This POS user may not use the app (POS gave no token), or a 401. */
  NOT_ALLOWED: 'not_allowed',
  ERROR: 'error',
});

/** What became of a redeemed code at the till. */
export const Applied = Object.freeze({
  IN_CART: 'in_cart',
  /** POS refused it: staff type the code in by hand. */
  BY_HAND: 'by_hand',
  /** Store credit: nothing to add to the cart. */
  CREDIT: 'credit',
});

/**
 * @param {{
 *   api: ReturnType<typeof createTillApi>,
 *   customerId: () => number | null | undefined,
 *   addCodeToCart: (code: string) => Promise<void>,
 *   toast?: (message: string) => void,
 *   newKey?: () => string,
 *   log?: (m: string, d?: unknown) => void,
 * }} options
 */
export function createTill({api, customerId, addCodeToCart, toast = () => {}, newKey = newIdempotencyKey, log = () => {}}) {
  let state = {status: Status.LOADING, view: null, redeeming: null, redemption: null, applied: null, error: null, notice: null};
  let pending = null;
  const listeners = new Set();
  const set = (patch) => {
    state = {...state, ...patch};
    for (const listener of listeners) listener(state);
  };

  async function load() {
    const id = customerId();
    if (!Number.isSafeInteger(id) || id <= 0) return set({status: Status.NO_CUSTOMER, view: null});
    set({status: Status.LOADING, error: null});
    try {
      const view = await api.getCustomer(id);
      set({status: Status.READY, view});
    } catch (error) {
      log('customer unavailable', error);
      const f = failureOf(error, 'load');
      set(f.kind === ErrorKind.UNAUTHORIZED ? {status: Status.NOT_ALLOWED} : {status: Status.ERROR, error: f});
    }
  }

  async function redeem(rewardId, points) {
    const id = customerId();
    if (state.status !== Status.READY || state.redeeming || !Number.isSafeInteger(id)) return;
    const same = pending && pending.customer === id && pending.rewardId === rewardId && pending.points === points;
    const key = same ? pending.key : newKey();
    pending = {customer: id, rewardId, points, key};
    set({redeeming: rewardId, error: null, notice: null, redemption: null, applied: null});
    let redemption;
    try {
      redemption = await api.redeem(id, rewardId, key, points);
    } catch (error) {
      log('redemption failed', error);
      const f = failureOf(error, 'redeem');
      if (!f.retryable) pending = null;
      if (f.kind === ErrorKind.UNAUTHORIZED) return set({redeeming: null, status: Status.NOT_ALLOWED});
      if (f.kind === ErrorKind.NOT_ENOUGH_POINTS || f.kind === ErrorKind.UNKNOWN_REWARD) {
        set({redeeming: null, notice: f.kind});
        return load();
      }
      return set({redeeming: null, error: f});
    }
    pending = null;
    const balance = Number(redemption.points_balance);
    const view = Number.isFinite(balance) ? {...state.view, points_balance: balance} : state.view;
    if (!redemption.code) {
      set({redeeming: null, redemption, view, applied: Applied.CREDIT});
      toast('credit', redemption);
      return;
    }
    let applied = Applied.IN_CART;
    try {
      await addCodeToCart(redemption.code);
    } catch (error) {
      log('code not added to the cart', error);
      applied = Applied.BY_HAND;
    }
    set({redeeming: null, redemption, view, applied});
    if (applied === Applied.IN_CART) toast('code', redemption);
  }

  async function retry() {
    if (state.error && state.error.during === 'redeem' && pending) return redeem(pending.rewardId, pending.points);
    return load();
  }

  return {
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    load,
    redeem,
    retry,
    dismiss: () => set({redemption: null, applied: null, error: null, notice: null}),
  };
}

