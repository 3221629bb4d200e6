// The Rewards page's state machine, free of Preact and of the `shopify`
// global: tests drive it with a fake API. It loads the balance, then the
// history and referral link (each may fail alone without sinking the
// page), redeems with one idempotency key per attempt (kept for a retry
// while the outcome is unknown, so points are never spent twice), and
// saves a birthday once.

import {AdvocateApiError, ErrorKind} from './account.js';
import {failureOf} from '../../../points-checkout/src/lib/api.js';
import {newIdempotencyKey} from '../../../points-checkout/src/lib/ids.js';

export const Status = Object.freeze({
  LOADING: 'loading',
  LOGGED_OUT: 'logged_out',
  READY: 'ready',
  ERROR: 'error',
});

/** Birthdays as the backend takes them. */
const BIRTHDAY = /^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

/**
 * @param {{api: ReturnType<typeof import('./account.js').createAccountApi>, newKey?: () => string, log?: (m: string, d?: unknown) => void}} options
 */
export function createRewardsPage({api, newKey = newIdempotencyKey, log = () => {}}) {
  let state = {
    status: Status.LOADING,
    view: null,
    history: null,
    referral: null,
    /** The redemption in flight: {rewardId, points}. */
    redeeming: null,
    /** The last redemption made (its code or credit), shown until dismissed. */
    redemption: null,
    /** What went wrong: {kind, during, rewardId?, retryable}. */
    error: null,
    /** A warning after a refusal that changed the page (balance, rewards). */
    notice: null,
    birthday: {saving: false, problem: null},
  };
  /** The key of a redemption whose outcome is unknown, to send again. */
  let pending = null;
  const listeners = new Set();

  function set(patch) {
    state = {...state, ...patch};
    for (const listener of listeners) listener(state);
  }

  async function loadExtras() {
    const [history, referral] = await Promise.allSettled([api.getHistory(), api.getReferral()]);
    if (history.status === 'rejected') log('history unavailable', history.reason);
    if (referral.status === 'rejected') log('referral link unavailable', referral.reason);
    set({
      history: history.status === 'fulfilled' ? history.value : null,
      referral: referral.status === 'fulfilled' ? referral.value : null,
    });
  }

  async function load() {
    set({status: Status.LOADING, error: null});
    let view;
    try {
      view = await api.getBalance();
    } catch (error) {
      log('balance unavailable', error);
      if (kindOf(error) === ErrorKind.UNAUTHORIZED) return set({status: Status.LOGGED_OUT});
      return set({status: Status.ERROR, error: failure(error, 'load')});
    }
    if (!view || view.logged_in !== true) return set({status: Status.LOGGED_OUT, view: null});
    set({status: Status.READY, view});
    await loadExtras();
  }

  /**
   * @param {string} rewardId
   * @param {number} [points] for a points-as-cash reward
   */
  async function redeem(rewardId, points) {
    if (state.status !== Status.READY || state.redeeming) return;
    const same = pending && pending.rewardId === rewardId && pending.points === points;
    const key = same ? pending.key : newKey();
    pending = {rewardId, points, key};
    set({redeeming: {rewardId, points}, error: null, notice: null, redemption: null});
    try {
      const redemption = await api.redeem(rewardId, key, points);
      pending = null;
      const balance = Number(redemption.points_balance);
      const view = Number.isFinite(balance) ? withBalance(state.view, balance) : state.view;
      set({redeeming: null, redemption, view});
      await loadExtras();
    } catch (error) {
      log('redemption failed', error);
      const f = failure(error, 'redeem', rewardId);
      if (!f.retryable) pending = null;
      if (f.kind === ErrorKind.UNAUTHORIZED) return set({redeeming: null, status: Status.LOGGED_OUT});
      if (f.kind === ErrorKind.NOT_ENOUGH_POINTS || f.kind === ErrorKind.UNKNOWN_REWARD) {
        // The page was out of date: show what is true now.
        set({redeeming: null, notice: f.kind});
        try {
          const view = await api.getBalance();
          if (view && view.logged_in === true) set({view});
        } catch (reload) {
          log('balance reload failed', reload);
        }
        return;
      }
      set({redeeming: null, error: f});
    }
  }

  /** Sends the redemption whose outcome is unknown again, with its key. */
  async function retry() {
    if (state.error && state.error.during === 'redeem' && pending) {
      return redeem(pending.rewardId, pending.points);
    }
    return load();
  }

  function dismiss() {
    set({redemption: null, error: null, notice: null});
  }

  /** @param {string} raw "MM-DD" */
  async function saveBirthday(raw) {
    const birthday = String(raw ?? '').trim();
    if (!BIRTHDAY.test(birthday)) return set({birthday: {saving: false, problem: 'invalid'}});
    set({birthday: {saving: true, problem: null}});
    try {
      const saved = await api.setBirthday(birthday);
      set({birthday: {saving: false, problem: null}, view: {...state.view, birthday: saved}});
    } catch (error) {
      log('birthday not saved', error);
      const status = error instanceof AdvocateApiError ? error.status : undefined;
      const problem = status === 409 ? 'already_set' : status === 422 ? 'invalid' : 'failed';
      set({birthday: {saving: false, problem}});
    }
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
    dismiss,
    saveBirthday,
  };
}

function withBalance(view, balance) {
  return {
    ...view,
    points_balance: balance,
    rewards: (view.rewards ?? []).map((r) => ({...r, affordable: Number(r.points_cost) <= balance})),
  };
}

function kindOf(error) {
  return error instanceof AdvocateApiError ? error.kind : ErrorKind.SERVER;
}

function failure(error, during, rewardId) {
  return {...failureOf(error, during), rewardId};
}
