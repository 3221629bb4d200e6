// The survey's state machine, free of Preact and of the `shopify` global:
//
//   loading ──► hidden (survey off, logged out, no order, not their order)
//      │    ├─► answered (this order was answered before: shown, not asked)
//      │    └─► asking ── submit() ──► submitting ──► thanked
//      │                                   │
//      └───────────────────────────────────┴──► error ── retry() ──► loading / submitting
//
// Invariants:
// - One answer per order: once the backend has one (201, or 409 for an
//   answer already there) the block never offers the question again.
// - A submission whose outcome is unknown (network, 5xx, 429) is retried
//   with the same answer; if it had gone through, the backend answers 409
//   and the block thanks the shopper with what the backend recorded.
// - Nothing throws out of the controller: every failure becomes a state.

import {ErrorKind, SurveyApiError} from './api.js';

export const Status = Object.freeze({
  LOADING: 'loading',
  HIDDEN: 'hidden',
  ASKING: 'asking',
  SUBMITTING: 'submitting',
  THANKED: 'thanked',
  ANSWERED: 'answered',
  ERROR: 'error',
});

/** The longest comment the backend keeps (after trimming). */
export const MAX_COMMENT = 1000;

/**
 * @param {{
 *   api: {getStatus(orderId: string | null): Promise<any>, answer(a: object): Promise<any>},
 *   orderId: () => string | null,
 *   log?: (message: string, detail?: unknown) => void,
 * }} options
 */
export function createSurvey({api, orderId, log = () => {}}) {
  let state = {status: Status.LOADING};
  const listeners = new Set();
  let loadSeq = 0;
  /** The answer whose submission has no known outcome yet. */
  let pending = null;

  function set(next) {
    state = next;
    for (const listener of listeners) listener(state);
  }

  async function load() {
    if (state.status === Status.SUBMITTING) return;
    const seq = ++loadSeq;
    const order = orderId();
    if (!order) {
      set({status: Status.HIDDEN, reason: 'no_order'});
      return;
    }
    set({status: Status.LOADING});
    let data;
    try {
      data = await api.getStatus(order);
    } catch (error) {
      if (seq !== loadSeq) return;
      log('loading the survey failed', error);
      set(failed(error, 'load'));
      return;
    }
    if (seq !== loadSeq) return;
    set(fromStatus(data));
  }

  function choose(score) {
    if (state.status !== Status.ASKING) return;
    if (!Number.isInteger(score) || score < 0 || score > 10) return;
    set({...state, score, notice: null});
  }

  function setComment(text) {
    if (state.status !== Status.ASKING) return;
    set({...state, comment: typeof text === 'string' ? text : ''});
  }

  async function submit() {
    const canStart =
      state.status === Status.ASKING || (state.status === Status.ERROR && state.during === 'submit');
    if (!canStart) return;
    if (state.status === Status.ASKING) {
      if (state.score === null) {
        set({...state, notice: 'chooseScore'});
        return;
      }
      const comment = state.comment.trim();
      if (comment.length > MAX_COMMENT) {
        set({...state, notice: 'commentTooLong'});
        return;
      }
      pending = {
        orderId: state.orderId,
        score: state.score,
        comment: comment === '' ? null : comment,
        bonusPoints: state.bonusPoints,
        asked: state,
      };
    }
    const attempt = pending;
    set({
      status: Status.SUBMITTING,
      orderId: attempt.orderId,
      score: attempt.score,
      comment: attempt.comment ?? '',
    });
    let data;
    try {
      data = await api.answer(attempt);
    } catch (error) {
      log('sending the answer failed', error);
      if (error instanceof SurveyApiError && error.kind === ErrorKind.ALREADY_ANSWERED) {
        pending = null;
        await settleAnswered(attempt);
        return;
      }
      if (error instanceof SurveyApiError && error.kind === ErrorKind.REJECTED) {
        pending = null;
        set({...attempt.asked, notice: 'rejected'});
        return;
      }
      if (error instanceof SurveyApiError && !error.retryable) {
        pending = null;
        set({status: Status.HIDDEN, reason: error.kind});
        return;
      }
      set(failed(error, 'submit'));
      return;
    }
    pending = null;
    set(thanked(attempt.score, data));
  }

  /** After a 409: our own earlier attempt went through, or another tab's. */
  async function settleAnswered(attempt) {
    let data = null;
    try {
      data = await api.getStatus(attempt.orderId);
    } catch (error) {
      log('reading the earlier answer failed', error);
    }
    const mine = data && data.answered === true && toInt(data.score) === attempt.score;
    if (mine) {
      set(thanked(attempt.score, data));
    } else {
      set({status: Status.ANSWERED, score: data && data.answered ? toInt(data.score) : null});
    }
  }

  function retry() {
    if (state.status !== Status.ERROR) return Promise.resolve();
    return state.during === 'submit' && pending ? submit() : load();
  }

  function fromStatus(data) {
    if (!data || data.enabled !== true) return {status: Status.HIDDEN, reason: 'disabled'};
    if (data.logged_in !== true) return {status: Status.HIDDEN, reason: 'logged_out'};
    if (data.answered === true) return {status: Status.ANSWERED, score: toInt(data.score)};
    return {
      status: Status.ASKING,
      orderId: orderId(),
      bonusPoints: toInt(data.bonus_points),
      score: null,
      comment: '',
      notice: null,
    };
  }

  return {
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    load,
    choose,
    setComment,
    submit,
    retry,
  };
}

/** Thanked for `score`, with the points as the backend recorded them. */
function thanked(score, data) {
  return {
    status: Status.THANKED,
    score,
    pointsCredited: toInt(data.points_credited),
    bonusPoints: toInt(data.bonus_points),
    waiting: data.credit_state === 'waiting',
  };
}

function failed(error, during) {
  const kind = error instanceof SurveyApiError ? error.kind : ErrorKind.SERVER;
  if (during === 'load' && error instanceof SurveyApiError && !error.retryable) {
    // Not their order, survey off, logged out, not configured: nothing to ask.
    return {status: Status.HIDDEN, reason: kind};
  }
  return {status: Status.ERROR, during, kind};
}

function toInt(value) {
  const n = Number(value);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}
