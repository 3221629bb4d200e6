// The Advocate backend as the Rewards page sees it: `/api/account/*`,
// authenticated with the customer account session token (the extension
// kind: no `iss`, the customer in `sub`). The request itself, its timeout
// and its error kinds are the ones every Advocate UI extension shares.

import {AdvocateApiError, ErrorKind, createTransport} from '../../../points-checkout/src/lib/api.js';

export {AdvocateApiError, ErrorKind};

/**
 * @param {{appUrl: string | null | undefined, fetch: typeof fetch, getSessionToken: () => Promise<string>}} options
 */
export function createAccountApi(options) {
  const request = createTransport(options);
  return {
    /** The shopper's loyalty view, or `{logged_in: false}`. */
    async getBalance() {
      const {data} = await request('GET', '/api/account/balance');
      return data;
    },

    /** The latest points movements, newest first. */
    async getHistory() {
      const {status, data} = await request('GET', '/api/account/history');
      if (!Array.isArray(data.entries)) {
        throw new AdvocateApiError(ErrorKind.SERVER, 'history answer has no entries', {status});
      }
      return data.entries;
    },

    /** `{code, link}`: made on first use. */
    async getReferral() {
      const {status, data} = await request('GET', '/api/account/referral');
      if (typeof data.link !== 'string' || typeof data.code !== 'string') {
        throw new AdvocateApiError(ErrorKind.SERVER, 'referral answer has no link', {status});
      }
      return data;
    },

    /**
     * Spends points on a reward: a code, or store credit. The same key
     * answers the same redemption (200), so a retry cannot spend twice.
     * @param {string} rewardId
     * @param {string} idempotencyKey
     * @param {number} [points] for a points-as-cash reward
     */
    async redeem(rewardId, idempotencyKey, points) {
      const body = points === undefined ? {reward_id: rewardId} : {reward_id: rewardId, points};
      const {status, data} = await request('POST', '/api/account/redeem', {
        body,
        headers: {'Idempotency-Key': idempotencyKey},
      });
      const hasCode = typeof data.code === 'string' && data.code !== '';
      const hasCredit = data.store_credit && typeof data.store_credit.amount === 'string';
      if (!hasCode && !hasCredit) {
        throw new AdvocateApiError(ErrorKind.SERVER, 'redeem answer has neither code nor credit', {status});
      }
      return {...data, replayed: status === 200 || data.replayed === true};
    },

    /**
     * Sets the shopper's birthday ("MM-DD"), once.
     * @param {string} birthday
     */
    async setBirthday(birthday) {
      const {data} = await request('POST', '/api/account/birthday', {body: {birthday}});
      return data.birthday ?? null;
    },
  };
}
