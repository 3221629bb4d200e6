// Turning the backend's numbers into the shopper's words. Everything goes
// through the `i18n` object Shopify hands the extension (`shopify.i18n`:
// `translate`, `formatNumber`, `formatCurrency`, `formatDate`), so the
// buyer's locale decides separators, currency symbols and plurals. Money
// arrives as decimal strings in the shop's currency ("5.00"); it is turned
// into a number only to be displayed, never to compute with.

/**
 * "1,250 points" / "1 point" in the buyer's locale.
 * @param {number} points
 * @param {I18nLike} i18n
 */
export function formatPoints(points, i18n) {
  return i18n.translate('points', {count: points, points: i18n.formatNumber(points)});
}

/**
 * A decimal amount ("5.00") in the given currency, or the raw text when it
 * is not a number we can format.
 * @param {string | number | null | undefined} amount
 * @param {string | null | undefined} currency ISO 4217
 * @param {I18nLike} i18n
 */
export function formatMoney(amount, currency, i18n) {
  const value = typeof amount === 'number' ? amount : Number.parseFloat(String(amount ?? ''));
  if (!Number.isFinite(value)) return String(amount ?? '');
  if (!currency) return i18n.formatNumber(value, {minimumFractionDigits: 2});
  try {
    return i18n.formatCurrency(value, {currency});
  } catch {
    return `${i18n.formatNumber(value, {minimumFractionDigits: 2})} ${currency}`;
  }
}

/**
 * What a reward takes off: "$5.00 off", "10% off", "Free shipping".
 * @param {{kind: string, value?: unknown, currency?: string}} reward
 * @param {I18nLike} i18n
 */
export function formatRewardValue(reward, i18n) {
  switch (reward.kind) {
    case 'amount_off':
      return i18n.translate('rewardAmountOff', {
        amount: formatMoney(/** @type {string} */ (reward.value), reward.currency, i18n),
      });
    case 'percentage_off':
      return i18n.translate('rewardPercentageOff', {
        percent: i18n.formatNumber(Number(reward.value)),
      });
    case 'free_shipping':
      return i18n.translate('rewardFreeShipping');
    default:
      return '';
  }
}

/**
 * Everything a reward row shows.
 * @param {Reward} reward
 * @param {I18nLike} i18n
 */
export function describeReward(reward, i18n) {
  return {
    id: reward.id,
    name: reward.name,
    value: formatRewardValue(reward, i18n),
    cost: formatPoints(reward.points_cost, i18n),
    minimumOrder: reward.minimum_order
      ? i18n.translate('rewardMinimumOrder', {
          amount: formatMoney(reward.minimum_order, reward.currency, i18n),
        })
      : null,
    actionLabel: i18n.translate('redeemAction', {cost: formatPoints(reward.points_cost, i18n)}),
  };
}

/**
 * The code's expiry as a date in the buyer's locale, or null.
 * @param {string | null | undefined} iso RFC 3339
 * @param {I18nLike} i18n
 */
export function formatExpiry(iso, i18n) {
  if (!iso) return null;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return null;
  return i18n.formatDate(date, {year: 'numeric', month: 'long', day: 'numeric'});
}

/**
 * @typedef {{
 *   translate: (key: string, options?: Record<string, unknown>) => string,
 *   formatNumber: (n: number, options?: Intl.NumberFormatOptions) => string,
 *   formatCurrency: (n: number, options?: Intl.NumberFormatOptions) => string,
 *   formatDate: (d: Date, options?: Intl.DateTimeFormatOptions) => string,
 * }} I18nLike
 * @typedef {{
 *   id: string, name: string, kind: string, value?: unknown, points_cost: number,
 *   affordable: boolean, minimum_order?: string | null, currency?: string,
 * }} Reward
 */
