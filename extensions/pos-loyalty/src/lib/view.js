// From the till's state to what staff see: sentences translated and
// formatted, and the actions on offer. CustomerBlock.jsx only lays it out.

import {describeReward, formatMoney, formatPoints} from '../../../points-checkout/src/lib/format.js';
import {errorText} from '../../../points-checkout/src/lib/presenter.js';
import {Applied, ErrorKind, Status} from './till.js';

/**
 * @param {ReturnType<ReturnType<typeof import('./till.js').createTill>['getState']>} state
 * @param {{i18n: import('../../../points-checkout/src/lib/format.js').I18nLike}} context
 */
export function present(state, {i18n}) {
  const t = (key, options) => i18n.translate(key, options);
  const screen = {heading: t('heading'), busy: false, message: null, summary: null, rewards: [], code: null, actions: []};
  switch (state.status) {
    case Status.NO_CUSTOMER:
      screen.message = {tone: 'info', text: t('noCustomer')};
      return screen;
    case Status.LOADING:
      screen.busy = true;
      screen.message = {tone: 'info', text: t('loading')};
      return screen;
    case Status.NOT_ALLOWED:
      screen.message = {tone: 'warning', text: t('notAllowed')};
      return screen;
    case Status.ERROR:
      screen.message = {tone: 'critical', text: errorText(state.error, t)};
      screen.actions.push({id: 'retry', label: t('retryAction')});
      return screen;
    default:
      break;
  }
  const view = state.view;
  const balance = Number(view.points_balance) || 0;
  screen.summary = {
    balance: formatPoints(balance, i18n),
    pending: Number(view.points_pending) > 0 ? t('pending', {points: formatPoints(Number(view.points_pending), i18n)}) : null,
    tier: view.tier && view.tier.name ? view.tier.name : null,
  };
  if (state.error) {
    screen.message = {tone: 'critical', text: errorText(state.error, t)};
    if (state.error.retryable) screen.actions.push({id: 'retry', label: t('retryAction')});
  } else if (state.notice) {
    screen.message = {
      tone: 'warning',
      text: state.notice === ErrorKind.NOT_ENOUGH_POINTS ? t('notEnoughPoints') : t('rewardUnavailable'),
    };
  } else if (state.redemption) {
    const r = state.redemption;
    if (state.applied === Applied.CREDIT) {
      screen.message = {
        tone: 'success',
        text: t('creditAdded', {amount: formatMoney(r.store_credit.amount, r.store_credit.currency, i18n)}),
      };
    } else if (state.applied === Applied.IN_CART) {
      screen.message = {tone: 'success', text: t('codeInCart', {code: r.code})};
    } else {
      screen.message = {tone: 'warning', text: t('codeByHand', {code: r.code})};
      screen.code = r.code;
    }
  }
  const affordable = (Array.isArray(view.rewards) ? view.rewards : [])
    .filter((r) => r && typeof r.id === 'string' && Number(r.points_cost) <= balance)
    .sort((a, b) => Number(a.points_cost) - Number(b.points_cost));
  screen.rewards = affordable.map((reward) => {
    const described = describeReward({...reward, minimum_order: reward.minimum_order ?? null}, i18n);
    const cash = reward.kind === 'points_as_cash';
    return {
      id: reward.id,
      // Points as cash at the till: the minimum, in one tap.
      points: cash ? Number(reward.min_points) : undefined,
      label: `${reward.name}${valueOf(reward, described.value, t, i18n)} · ${described.cost}`,
      busy: state.redeeming === reward.id,
      disabled: Boolean(state.redeeming),
    };
  });
  if (affordable.length === 0) screen.message ??= {tone: 'info', text: t('nothingToRedeem')};
  return screen;
}

function valueOf(reward, value, t, i18n) {
  if (value) return ` (${value})`;
  if (reward.kind === 'store_credit' || reward.kind === 'points_as_cash') {
    return ` (${t('storeCredit', {amount: formatMoney(reward.value, reward.currency, i18n)})})`;
  }
  return '';
}

/** The toast POS shows after a redemption. */
export function toastText(kind, redemption, i18n) {
  if (kind === 'credit') {
    const c = redemption.store_credit;
    return i18n.translate('creditToast', {amount: formatMoney(c.amount, c.currency, i18n)});
  }
  return i18n.translate('codeToast', {code: redemption.code});
}
