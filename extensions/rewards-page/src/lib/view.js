// From the page's state to what the shopper sees: every sentence already
// translated and formatted, and the actions on offer. RewardsPage.jsx only
// lays this out, so tests read exactly what a shopper would.

import {
  describeReward,
  formatExpiry,
  formatMoney,
  formatPoints,
} from '../../../points-checkout/src/lib/format.js';
import {errorText} from '../../../points-checkout/src/lib/presenter.js';
import {ErrorKind} from './account.js';
import {Status} from './page.js';

/** Ledger kinds, as the shopper reads them. */
export const HISTORY_LABELS = {
  earn: 'historyEarn',
  clawback: 'historyClawback',
  cancel: 'historyCancel',
  redeem: 'historyRedeem',
  refund: 'historyRefund',
  adjustment: 'historyAdjustment',
  signup: 'historySignup',
  birthday: 'historyBirthday',
  tier_entry: 'historyTierEntry',
  referral: 'historyReferral',
  expiry: 'historyExpiry',
  nps: 'historyNps',
  winback: 'historyWinback',
  import: 'historyImport',
  anniversary: 'historyAnniversary',
  activity: 'historyActivity',
  activity_reversal: 'historyActivityReversal',
};

/**
 * @param {ReturnType<ReturnType<typeof import('./page.js').createRewardsPage>['getState']>} state
 * @param {{i18n: import('../../../points-checkout/src/lib/format.js').I18nLike}} context
 */
export function present(state, {i18n}) {
  const t = (key, options) => i18n.translate(key, options);
  const screen = {
    status: state.status,
    heading: t('heading'),
    busy: state.status === Status.LOADING,
    banner: null,
    summary: null,
    rewards: [],
    emptyMessage: null,
    redemption: null,
    history: null,
    referral: null,
    birthday: null,
    restock: null,
    actions: [],
  };
  if (state.status === Status.LOADING) return screen;
  if (state.status === Status.LOGGED_OUT) {
    screen.banner = {tone: 'info', text: t('loggedOut')};
    return screen;
  }
  if (state.status === Status.ERROR) {
    screen.banner = {tone: 'critical', text: errorText(state.error, t)};
    if (state.error.kind !== ErrorKind.NOT_CONFIGURED) {
      screen.actions.push({id: 'retry', label: t('retryAction')});
    }
    return screen;
  }

  const view = state.view;
  const balance = Number(view.points_balance) || 0;
  screen.summary = summarise(view, balance, i18n);

  if (state.error) {
    screen.banner = {tone: 'critical', text: errorText(state.error, t)};
    if (state.error.retryable) screen.actions.push({id: 'retry', label: t('retryAction')});
    screen.actions.push({id: 'dismiss', label: t('dismissAction')});
  } else if (state.notice) {
    screen.banner = {
      tone: 'warning',
      text: state.notice === ErrorKind.NOT_ENOUGH_POINTS ? t('notEnoughPoints') : t('rewardUnavailable'),
    };
  } else if (state.redemption) {
    screen.redemption = redeemed(state.redemption, t, i18n);
    screen.banner = {tone: 'success', text: screen.redemption.message};
    screen.actions.push({id: 'dismiss', label: t('dismissAction')});
  }

  const rewards = (Array.isArray(view.rewards) ? view.rewards : [])
    .filter((r) => r && typeof r.id === 'string')
    .sort((a, b) => Number(a.points_cost) - Number(b.points_cost));
  screen.rewards = rewards.map((reward) => row(reward, balance, state.redeeming, t, i18n));
  if (rewards.length === 0) screen.emptyMessage = t('noRewards');
  else if (!rewards.some((r) => Number(r.points_cost) <= balance)) {
    const cheapest = rewards[0];
    const missing = Number(cheapest.points_cost) - balance;
    screen.emptyMessage = t('pointsToReward', {
      count: missing,
      points: i18n.formatNumber(missing),
      reward: cheapest.name,
    });
  }

  screen.history =
    state.history === null
      ? {lines: [], message: t('historyUnavailable')}
      : {
          lines: state.history.map((entry) => historyLine(entry, t, i18n)),
          message: state.history.length === 0 ? t('historyEmpty') : null,
        };

  screen.referral = state.referral
    ? {link: state.referral.link, code: state.referral.code, intro: t('referralIntro'), copyLabel: t('copyLinkAction')}
    : null;

  screen.birthday = birthday(view.birthday, state.birthday, t, i18n);
  screen.restock = restock(view.restock, t, i18n);
  return screen;
}

/** "Time to restock?": the products the shopper was reminded to buy again. */
function restock(items, t, i18n) {
  const lines = (Array.isArray(items) ? items : [])
    .filter((p) => p && typeof p.title === 'string')
    // A date of the shop's calendar: read at noon UTC, it is the same day
    // wherever the shopper is.
    .map((p) => ({title: p.title, due: t('restockDue', {date: formatExpiry(`${p.due_on}T12:00:00Z`, i18n) ?? p.due_on})}));
  return lines.length ? {lines} : null;
}

function summarise(view, balance, i18n) {
  const t = (key, options) => i18n.translate(key, options);
  const pending = Number(view.points_pending) || 0;
  const summary = {
    balance: t('balance', {count: balance, points: i18n.formatNumber(balance)}),
    pending: pending > 0 ? t('pending', {count: pending, points: i18n.formatNumber(pending)}) : null,
    tier: view.tier && view.tier.name ? t('tier', {tier: view.tier.name}) : null,
    nextTier: null,
  };
  const next = view.next_tier;
  if (next && next.name && next.missing) {
    if (Number.isFinite(Number(next.missing.points))) {
      const missing = Math.trunc(Number(next.missing.points));
      summary.nextTier = t('nextTierPoints', {count: missing, points: i18n.formatNumber(missing), tier: next.name});
    } else if (next.missing.amount != null) {
      summary.nextTier = t('nextTierSpend', {
        tier: next.name,
        amount: formatMoney(next.missing.amount, next.missing.currency, i18n),
      });
    }
  }
  return summary;
}

function row(reward, balance, redeeming, t, i18n) {
  const base = describeReward({...reward, minimum_order: reward.minimum_order ?? null}, i18n);
  const cost = Number(reward.points_cost);
  const described = {
    ...base,
    value: base.value || extraValue(reward, t, i18n),
    affordable: cost <= balance,
    busy: Boolean(redeeming && redeeming.rewardId === reward.id),
    disabled: Boolean(redeeming) || cost > balance,
    choice: null,
  };
  if (reward.kind === 'points_as_cash') {
    const max = Math.min(Number(reward.max_points), balance - (balance % Number(reward.points_step)));
    described.choice = {
      min: Number(reward.min_points),
      max: Math.max(max, Number(reward.min_points)),
      step: Number(reward.points_step),
      label: t('pointsToUse'),
    };
    described.actionLabel = t('redeemChosenAction');
  }
  return described;
}

/** What the reward kinds checkout does not offer are worth. */
function extraValue(reward, t, i18n) {
  switch (reward.kind) {
    case 'store_credit':
      return t('rewardStoreCredit', {amount: formatMoney(reward.value, reward.currency, i18n)});
    case 'points_as_cash':
      return t('rewardPointsAsCash', {
        amount: formatMoney(reward.value, reward.currency, i18n),
        points: formatPoints(Number(reward.points_step), i18n),
      });
    case 'free_product':
      return t('rewardFreeProduct');
    default:
      return '';
  }
}

function redeemed(r, t, i18n) {
  const spent = formatPoints(Number(r.points_spent) || 0, i18n);
  const name = r.reward_name ?? '';
  if (r.store_credit) {
    const amount = formatMoney(r.store_credit.amount, r.store_credit.currency, i18n);
    const expiry = formatExpiry(r.store_credit.expires_at, i18n);
    return {
      message: t('creditAdded', {amount, points: spent}),
      code: null,
      expiry: expiry ? t('creditExpires', {date: expiry}) : null,
      copyLabel: null,
    };
  }
  const expiry = formatExpiry(r.expires_at, i18n);
  return {
    message: t('codeReady', {reward: name, points: spent}),
    code: r.code,
    expiry: expiry ? t('codeExpires', {date: expiry}) : null,
    copyLabel: t('copyCodeAction'),
  };
}

function historyLine(entry, t, i18n) {
  const points = Number(entry.points) || 0;
  const date = formatExpiry(entry.occurred_at, i18n);
  const until = formatExpiry(entry.pending_until, i18n);
  const amount = i18n.formatNumber(Math.abs(points));
  return {
    label: t(HISTORY_LABELS[entry.kind] ?? 'historyOther'),
    points: points >= 0 ? t('pointsGained', {count: Math.abs(points), points: amount}) : t('pointsLost', {count: Math.abs(points), points: amount}),
    tone: points >= 0 ? 'success' : 'subdued',
    date: date ?? '',
    pending: until ? t('historyPending', {date: until}) : null,
  };
}

function birthday(value, form, t, i18n) {
  if (typeof value === 'string' && /^\d{2}-\d{2}$/.test(value)) {
    const [month, day] = value.split('-').map(Number);
    const date = i18n.formatDate(new Date(Date.UTC(2000, month - 1, day)), {month: 'long', day: 'numeric'});
    return {set: true, text: t('birthdaySet', {date}), saving: false, problem: null};
  }
  const problems = {invalid: 'birthdayInvalid', already_set: 'birthdayAlreadySet', failed: 'birthdayFailed'};
  return {
    set: false,
    text: t('birthdayIntro'),
    label: t('birthdayLabel'),
    saveLabel: t('saveAction'),
    saving: form.saving,
    problem: form.problem ? t(problems[form.problem]) : null,
  };
}
