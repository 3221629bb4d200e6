// From a controller state to what the block shows: every sentence, already
// translated and formatted, and the actions on offer. The Preact component
// only lays this out, so tests can read exactly what a shopper would see.

import {ErrorKind} from './api.js';
import {CodeOutcome, Mode, Status} from './controller.js';
import {REWARDS_PAGE_URL} from './host.js';
import {describeReward, formatExpiry, formatMoney, formatPoints} from './format.js';

/**
 * @param {import('./controller.js').State} state
 * @param {{i18n: import('./format.js').I18nLike, mode: string, loginUrl?: string | null}} context
 */
export function present(state, {i18n, mode, loginUrl = null}) {
  const t = (key, options) => i18n.translate(key, options);
  const screen = {
    status: state.status,
    heading: t('heading'),
    busy: false,
    banner: null,
    summary: null,
    rewards: [],
    emptyMessage: null,
    code: null,
    actions: [],
  };

  switch (state.status) {
    case Status.LOADING:
      screen.busy = true;
      return screen;

    case Status.LOGGED_OUT:
      screen.banner = {tone: 'info', text: t('loggedOut')};
      if (loginUrl) screen.actions.push({id: 'login', label: t('logInAction'), href: loginUrl});
      return screen;

    case Status.ERROR: {
      const {error} = state;
      screen.banner = {tone: 'critical', text: errorText(error, t)};
      const fixable = error.kind !== ErrorKind.NOT_CONFIGURED;
      if (fixable && (error.retryable || error.during === 'load')) {
        screen.actions.push({id: 'retry', label: t('retryAction')});
      }
      if (state.view && error.during === 'redeem') {
        screen.actions.push({id: 'dismiss', label: t('backAction')});
      }
      return screen;
    }

    default:
      break;
  }

  const view = state.view;
  screen.summary = summarise(view, i18n);
  if (mode === Mode.PROFILE) {
    screen.actions.push({id: 'rewards', label: t('viewRewardsAction'), href: REWARDS_PAGE_URL});
    return screen;
  }

  if (state.status === Status.REDEEMED) {
    const r = state.redemption;
    const expiry = formatExpiry(r.expiresAt, i18n);
    const showCode = state.outcome !== CodeOutcome.FAILED;
    if (state.applying) {
      screen.busy = true;
      screen.banner = {tone: 'info', text: t('applyingCode', {code: r.code})};
    } else {
      screen.banner = redeemedBanner(state.outcome, r, t, i18n);
    }
    if (showCode && !state.applying && state.outcome !== CodeOutcome.APPLIED) {
      screen.code = {
        code: r.code,
        copyLabel: t('copyCodeAction'),
        hint:
          state.outcome === CodeOutcome.FOR_NEXT_ORDER
            ? t('codeHintNextOrder')
            : t('codeHintEnterManually'),
        expiry: expiry ? t('codeExpires', {date: expiry}) : null,
        pendingNote: r.codeStatus === 'pending' ? t('codePending') : null,
      };
    }
    if (state.outcome === CodeOutcome.REJECTED) {
      screen.actions.push({id: 'apply', label: t('applyAgainAction')});
    }
    if (!state.applying) screen.actions.push({id: 'dismiss', label: t('backAction')});
    return screen;
  }

  // ready or redeeming
  const redeeming = state.status === Status.REDEEMING;
  if (state.status === Status.READY && state.notice) {
    screen.banner = {
      tone: 'warning',
      text:
        state.notice.kind === ErrorKind.NOT_ENOUGH_POINTS
          ? t('notEnoughPoints')
          : t('rewardUnavailable'),
    };
  }
  const affordable = view.rewards.filter((r) => r.affordable);
  screen.rewards = affordable.map((reward) => ({
    ...describeReward(reward, i18n),
    busy: redeeming && state.rewardId === reward.id,
    disabled: redeeming,
  }));
  if (affordable.length === 0) screen.emptyMessage = emptyMessage(view, t, i18n);
  if (affordable.length > 0) {
    screen.intro = mode === Mode.CHECKOUT ? t('rewardsIntroCheckout') : t('rewardsIntroNextOrder');
  }
  return screen;
}

function summarise(view, i18n) {
  const t = (key, options) => i18n.translate(key, options);
  const summary = {
    balance: t('balance', {count: view.pointsBalance, points: i18n.formatNumber(view.pointsBalance)}),
    pending:
      view.pointsPending > 0
        ? t('pending', {count: view.pointsPending, points: i18n.formatNumber(view.pointsPending)})
        : null,
    tier: view.tier && view.tier.name ? t('tier', {tier: view.tier.name}) : null,
    nextTier: null,
    closestReward: closestReward(view, t, i18n),
  };
  const next = view.nextTier;
  if (next && next.name && next.missing) {
    if (Number.isFinite(Number(next.missing.points))) {
      const missing = Math.trunc(Number(next.missing.points));
      summary.nextTier = t('nextTierPoints', {
        count: missing,
        points: i18n.formatNumber(missing),
        tier: next.name,
      });
    } else if (next.missing.amount != null) {
      summary.nextTier = t('nextTierSpend', {
        tier: next.name,
        amount: formatMoney(next.missing.amount, next.missing.currency, i18n),
      });
    }
  }
  return summary;
}

/** "N more points and you can get {reward}." while the reward Advocate
 * names is out of reach (the balance may have moved since: a redemption). */
function closestReward(view, t, i18n) {
  const closest = view.offers && view.offers.closestReward;
  const missing = closest ? closest.pointsCost - view.pointsBalance : 0;
  if (missing <= 0) return null;
  return t('pointsToReward', {count: missing, points: i18n.formatNumber(missing), reward: closest.name});
}

function emptyMessage(view, t, i18n) {
  const cheapest = view.rewards[0];
  if (!cheapest) return view.pointsBalance > 0 ? t('noRewards') : t('emptyBalance');
  // Advocate sent its offers: the closest reward line (when the merchant
  // shows it) says how far the next reward is.
  if (view.offers) return view.pointsBalance > 0 ? null : t('emptyBalance');
  const missing = Math.max(cheapest.points_cost - view.pointsBalance, 0);
  const closer = t('pointsToReward', {
    count: missing,
    points: i18n.formatNumber(missing),
    reward: cheapest.name,
  });
  return view.pointsBalance > 0 ? closer : `${t('emptyBalance')} ${closer}`;
}

function redeemedBanner(outcome, r, t, i18n) {
  const spent = formatPoints(r.pointsSpent, i18n);
  switch (outcome) {
    case CodeOutcome.APPLIED:
      return {tone: 'success', text: t('codeApplied', {code: r.code, reward: r.rewardName, points: spent})};
    case CodeOutcome.REJECTED:
      return {tone: 'warning', text: t('codeRejected', {code: r.code})};
    case CodeOutcome.NOT_ALLOWED:
      return {tone: 'info', text: t('codeNotAllowed', {code: r.code})};
    case CodeOutcome.FAILED:
      return {tone: 'critical', text: t('codeFailed', {reward: r.rewardName})};
    case CodeOutcome.FOR_NEXT_ORDER:
    default:
      return {tone: 'success', text: t('codeForNextOrder', {reward: r.rewardName, points: spent})};
  }
}

/** The sentence for a failure (shared by every Advocate UI extension whose
 * locale has the same `error*` keys). */
export function errorText(error, t) {
  switch (error.kind) {
    case ErrorKind.NOT_CONFIGURED:
      return t('errorNotConfigured');
    case ErrorKind.RATE_LIMITED:
      return t('errorRateLimited');
    case ErrorKind.NETWORK:
      return error.during === 'redeem' ? t('errorRedeemNetwork') : t('errorNetwork');
    case ErrorKind.REJECTED:
      return t('errorRejected');
    default:
      return error.during === 'redeem' ? t('errorRedeemServer') : t('errorServer');
  }
}
