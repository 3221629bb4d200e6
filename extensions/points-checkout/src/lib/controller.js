// The block's state machine, free of Preact and of the `shopify` global:
//
//   loading ──► logged_out
//      │    └─► ready ◄──────────────┐
//      │         │ redeem(reward)    │ dismiss()
//      │         ▼                   │
//      │      redeeming ──► redeemed ┘
//      │         │
//      └─────────┴──► error ── retry() ──► loading / redeeming
//
// Invariants:
// - One redemption at a time; a click while loading or redeeming is ignored.
// - Each redemption attempt has one Idempotency-Key, kept until the attempt
//   ends with an answer. A retry of an attempt whose outcome is unknown
//   (network failure, 5xx, 429) sends the same key, so the backend answers
//   the code it already issued instead of spending points twice.
// - A logged-out shopper is a state, not an error.
// - Nothing throws out of the controller: every failure becomes a state.

import {AdvocateApiError, ErrorKind} from './api.js';
import {newIdempotencyKey} from './ids.js';

export const Status = Object.freeze({
  LOADING: 'loading',
  LOGGED_OUT: 'logged_out',
  READY: 'ready',
  REDEEMING: 'redeeming',
  REDEEMED: 'redeemed',
  ERROR: 'error',
});

/** Where the block renders, which decides what happens to a new code. */
export const Mode = Object.freeze({
  /** `purchase.checkout.block.render`: the code is applied to this checkout. */
  CHECKOUT: 'checkout',
  /** Thank-you and order-status pages: the code is for the next order. */
  NEXT_ORDER: 'next_order',
  /** The customer account profile: a summary and a link to the Rewards page. */
  PROFILE: 'profile',
});

/** What became of a redeemed code. */
export const CodeOutcome = Object.freeze({
  /** Applied to this checkout by `applyDiscountCodeChange`. */
  APPLIED: 'applied',
  /** `applyDiscountCodeChange` answered an error: the shopper enters it. */
  REJECTED: 'rejected',
  /** This checkout does not allow extensions to change discount codes. */
  NOT_ALLOWED: 'not_allowed',
  /** Thank-you / order status: shown to copy for the next order. */
  FOR_NEXT_ORDER: 'for_next_order',
  /** Shopify refused the code for good; the backend gives the points back. */
  FAILED: 'failed',
});

/**
 * @param {{
 *   api: {getBalance(): Promise<any>, redeem(rewardId: string, key: string): Promise<any>},
 *   mode: string,
 *   applyDiscountCode?: (code: string) => Promise<{type: string, message?: string}>,
 *   canApplyDiscountCodes?: () => boolean,
 *   newKey?: () => string,
 *   log?: (message: string, detail?: unknown) => void,
 * }} options
 */
export function createPointsController({
  api,
  mode,
  applyDiscountCode,
  canApplyDiscountCodes = () => true,
  newKey = () => newIdempotencyKey(),
  log = () => {},
}) {
  /** @type {State} */
  let state = {status: Status.LOADING};
  const listeners = new Set();
  /** The redemption attempt whose outcome is not known yet. */
  let pendingAttempt = null;
  /** Bumped by each load so an older answer cannot overwrite a newer one. */
  let loadSeq = 0;

  function set(next) {
    state = next;
    for (const listener of listeners) listener(state);
  }

  async function load({quiet = false} = {}) {
    if (state.status === Status.REDEEMING) return;
    const seq = ++loadSeq;
    if (!quiet || !state.view) set({status: Status.LOADING});
    try {
      const data = await api.getBalance();
      if (seq !== loadSeq) return;
      if (!data || data.logged_in !== true) {
        set({status: Status.LOGGED_OUT});
        return;
      }
      const notice = quiet && state.status === Status.READY ? state.notice : undefined;
      set({status: Status.READY, view: normaliseView(data), notice});
    } catch (error) {
      if (seq !== loadSeq) return;
      log('loading the points balance failed', error);
      if (quiet && state.view) return; // keep what the shopper sees
      set({status: Status.ERROR, view: state.view, error: toFailure(error, 'load')});
    }
  }

  async function redeem(rewardId) {
    const canStart =
      state.status === Status.READY ||
      (state.status === Status.ERROR && state.error.during === 'redeem');
    if (!canStart) return;
    const view = state.view;
    if (!view) return;
    const reward = view.rewards.find((r) => r.id === rewardId);
    if (!reward) return;
    if (!pendingAttempt || pendingAttempt.rewardId !== rewardId) {
      pendingAttempt = {rewardId, key: newKey()};
    }
    const attempt = pendingAttempt;
    set({status: Status.REDEEMING, view, rewardId});
    let redemption;
    try {
      redemption = await api.redeem(rewardId, attempt.key);
    } catch (error) {
      log('redeeming a reward failed', error);
      const failure = toFailure(error, 'redeem', rewardId);
      if (!(error instanceof AdvocateApiError) || !error.retryable) pendingAttempt = null;
      switch (failure.kind) {
        case ErrorKind.UNAUTHORIZED:
          set({status: Status.LOGGED_OUT});
          return;
        case ErrorKind.NOT_ENOUGH_POINTS:
        case ErrorKind.UNKNOWN_REWARD:
          set({status: Status.READY, view, notice: {kind: failure.kind, rewardId}});
          void load({quiet: true}); // the balance or the rewards changed elsewhere
          return;
        default:
          set({status: Status.ERROR, view, error: failure});
          return;
      }
    }
    pendingAttempt = null;
    const nextView = withBalance(view, redemption.points_balance);
    const redeemed = {
      code: redemption.code,
      codeStatus: redemption.code_status ?? 'pending',
      rewardId,
      rewardName: redemption.reward_name ?? reward.name,
      pointsSpent: redemption.points_spent ?? reward.points_cost,
      expiresAt: redemption.expires_at ?? null,
    };
    if (redeemed.codeStatus === 'failed') {
      set({status: Status.REDEEMED, view: nextView, redemption: redeemed, outcome: CodeOutcome.FAILED});
      return;
    }
    if (mode !== Mode.CHECKOUT) {
      set({
        status: Status.REDEEMED,
        view: nextView,
        redemption: redeemed,
        outcome: CodeOutcome.FOR_NEXT_ORDER,
      });
      return;
    }
    await applyCode(redeemed, nextView);
  }

  /** Applies a redeemed code to this checkout (again, after a rejection). */
  async function applyCode(redeemed = state.redemption, view = state.view) {
    if (!redeemed || mode !== Mode.CHECKOUT || state.applying) return;
    let allowed = false;
    try {
      allowed = Boolean(applyDiscountCode) && canApplyDiscountCodes();
    } catch (error) {
      log('reading the checkout instructions failed', error);
    }
    if (!allowed) {
      set({status: Status.REDEEMED, view, redemption: redeemed, outcome: CodeOutcome.NOT_ALLOWED});
      return;
    }
    set({status: Status.REDEEMED, view, redemption: redeemed, outcome: null, applying: true});
    let result;
    try {
      result = await applyDiscountCode(redeemed.code);
    } catch (error) {
      result = {type: 'error', message: error instanceof Error ? error.message : String(error)};
    }
    if (result && result.type === 'success') {
      set({status: Status.REDEEMED, view, redemption: redeemed, outcome: CodeOutcome.APPLIED});
    } else {
      // Shopify's message is for developers, not shoppers: log it, show ours.
      log('applyDiscountCodeChange refused the code', result && result.message);
      set({status: Status.REDEEMED, view, redemption: redeemed, outcome: CodeOutcome.REJECTED});
    }
  }

  /** Retries whatever failed: the load, or the same redemption attempt. */
  function retry() {
    if (state.status !== Status.ERROR) return Promise.resolve();
    const {error} = state;
    if (error.during === 'redeem' && error.rewardId && state.view) return redeem(error.rewardId);
    return load();
  }

  /** Back to the rewards after a redemption or a failed one. */
  function dismiss() {
    if (state.status === Status.REDEEMED) {
      set({status: Status.READY, view: state.view});
      return Promise.resolve();
    }
    if (state.status === Status.ERROR && state.view) {
      // The failed attempt may have gone through: look at the balance again.
      // The attempt is kept, so choosing the same reward again sends the
      // same key and gets back the code already issued, if any.
      set({status: Status.READY, view: state.view});
      return load({quiet: true});
    }
    if (state.status === Status.READY && state.notice) {
      set({status: Status.READY, view: state.view});
    }
    return Promise.resolve();
  }

  return {
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    load,
    redeem,
    applyCode: () => applyCode(),
    retry,
    dismiss,
  };
}

/**
 * The balance answer, checked and tidied: numbers default to 0, rewards
 * without an id or cost are dropped, and so are store credit rewards (the
 * checkout applies codes; store credit is redeemed on the storefront and
 * spent here as a payment), affordable ones come first, cheapest first.
 * @returns {View}
 */
export function normaliseView(data) {
  const balance = toInt(data.points_balance);
  const rewards = (Array.isArray(data.rewards) ? data.rewards : [])
    .filter((r) => r && typeof r.id === 'string' && Number.isFinite(Number(r.points_cost)))
    .filter((r) => r.kind !== 'store_credit')
    .map((r) => ({
      id: r.id,
      name: typeof r.name === 'string' ? r.name : r.id,
      kind: r.kind,
      value: r.value,
      points_cost: toInt(r.points_cost),
      affordable: typeof r.affordable === 'boolean' ? r.affordable : toInt(r.points_cost) <= balance,
      minimum_order: r.minimum_order ?? null,
      currency: r.currency,
    }))
    .sort((a, b) => a.points_cost - b.points_cost);
  return {
    pointsBalance: balance,
    pointsPending: toInt(data.points_pending),
    tier: data.tier && typeof data.tier === 'object' ? data.tier : null,
    nextTier: data.next_tier && typeof data.next_tier === 'object' ? data.next_tier : null,
    rewards,
    offers: data.offers && typeof data.offers === 'object' ? {closestReward: closestOf(data.offers)} : null,
  };
}

/** The reward the shopper is closest to, as Advocate names it (null when
 * the merchant turned it off or there are no rewards). */
function closestOf(offers) {
  const c = offers.closest_reward;
  if (!c || typeof c.id !== 'string' || !Number.isFinite(Number(c.points_cost))) return null;
  return {id: c.id, name: typeof c.name === 'string' ? c.name : c.id, pointsCost: toInt(c.points_cost)};
}

/** The view after a redemption: the new balance decides what is affordable. */
function withBalance(view, balance) {
  if (!Number.isFinite(Number(balance))) return view;
  const pointsBalance = toInt(balance);
  return {
    ...view,
    pointsBalance,
    rewards: view.rewards.map((r) => ({...r, affordable: r.points_cost <= pointsBalance})),
  };
}

function toInt(value) {
  const n = Number(value);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

function toFailure(error, during, rewardId) {
  if (error instanceof AdvocateApiError) {
    return {
      kind: error.kind,
      during,
      rewardId,
      retryable: error.retryable,
      retryAfterSeconds: error.retryAfterSeconds,
    };
  }
  return {kind: ErrorKind.SERVER, during, rewardId, retryable: true};
}

/**
 * @typedef {{
 *   pointsBalance: number, pointsPending: number,
 *   tier: {id: string, name: string, perk_percent?: number} | null,
 *   nextTier: {id: string, name: string, missing?: {points?: number, amount?: string, currency?: string}} | null,
 *   rewards: import('./format.js').Reward[],
 *   offers: {closestReward: {id: string, name: string, pointsCost: number} | null} | null,
 * }} View
 * @typedef {{status: string, view?: View, [key: string]: any}} State
 */
