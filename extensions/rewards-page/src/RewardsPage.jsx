// `customer-account.page.render`: the Rewards page. Preact + Shopify's
// Polaris web components (`s-*`). All decisions live in ./lib (state
// machine, API calls, wording); this file lays out what `present()` returns
// and forwards clicks and input.
import '@shopify/ui-extensions/preact';

import {render} from 'preact';
import {useEffect, useMemo, useState} from 'preact/hooks';

import {buildTimeAppUrl} from '../../points-checkout/src/lib/config.js';
import {createAccountApi} from './lib/account.js';
import {createRewardsPage} from './lib/page.js';
import {present} from './lib/view.js';

export default async () => {
  render(<RewardsPage />, document.body);
};

function log(message, detail) {
  // No token and no personal data: error kinds and messages only.
  console.warn(`[advocate] ${message}`, detail instanceof Error ? detail.message : detail ?? '');
}

function RewardsPage() {
  const page = useMemo(
    () =>
      createRewardsPage({
        api: createAccountApi({
          appUrl: buildTimeAppUrl(),
          fetch: (input, init) => fetch(input, init),
          getSessionToken: () => shopify.sessionToken.get(),
        }),
        log,
      }),
    [],
  );
  const [state, setState] = useState(page.getState());
  useEffect(() => {
    const unsubscribe = page.subscribe(setState);
    void page.load();
    return unsubscribe;
  }, [page]);

  const screen = present(state, {i18n: shopify.i18n});
  const onAction = {retry: () => void page.retry(), dismiss: () => page.dismiss()};

  return (
    <s-page heading={screen.heading}>
      {screen.busy ? <s-skeleton-paragraph content={shopify.i18n.translate('loading')} /> : null}
      {screen.banner ? <s-banner tone={screen.banner.tone}>{screen.banner.text}</s-banner> : null}
      {screen.redemption ? <Redemption redemption={screen.redemption} /> : null}
      {screen.actions.length > 0 ? (
        <s-stack direction="inline" gap="base">
          {screen.actions.map((action) => (
            <s-button
              key={action.id}
              variant={action.id === 'dismiss' ? 'secondary' : 'primary'}
              onClick={onAction[action.id]}
            >
              {action.label}
            </s-button>
          ))}
        </s-stack>
      ) : null}

      {screen.summary ? (
        <s-section>
          <s-stack gap="small-200">
            <s-stack direction="inline" gap="small" alignItems="center">
              <s-text type="strong">{screen.summary.balance}</s-text>
              {screen.summary.tier ? <s-badge>{screen.summary.tier}</s-badge> : null}
            </s-stack>
            {screen.summary.pending ? <s-text color="subdued">{screen.summary.pending}</s-text> : null}
            {screen.summary.nextTier ? <s-text color="subdued">{screen.summary.nextTier}</s-text> : null}
          </s-stack>
        </s-section>
      ) : null}

      {screen.summary ? (
        <s-section heading={shopify.i18n.translate('rewardsHeading')}>
          <s-stack gap="base">
            {screen.rewards.map((reward) => (
              <RewardRow key={reward.id} reward={reward} onRedeem={(points) => void page.redeem(reward.id, points)} />
            ))}
            {screen.emptyMessage ? <s-text color="subdued">{screen.emptyMessage}</s-text> : null}
          </s-stack>
        </s-section>
      ) : null}

      {screen.history ? (
        <s-section heading={shopify.i18n.translate('historyHeading')}>
          <s-stack gap="small">
            {screen.history.lines.map((line, i) => (
              <s-stack key={i} direction="inline" gap="base" justifyContent="space-between">
                <s-stack gap="none">
                  <s-text>{line.label}</s-text>
                  <s-text color="subdued">{[line.date, line.pending].filter(Boolean).join(' · ')}</s-text>
                </s-stack>
                <s-text tone={line.tone === 'success' ? 'success' : undefined}>{line.points}</s-text>
              </s-stack>
            ))}
            {screen.history.message ? <s-text color="subdued">{screen.history.message}</s-text> : null}
          </s-stack>
        </s-section>
      ) : null}

      {screen.referral ? (
        <s-section heading={shopify.i18n.translate('referralHeading')}>
          <s-stack gap="small">
            <s-text>{screen.referral.intro}</s-text>
            <s-stack direction="inline" gap="base" alignItems="center">
              <s-text type="strong">{screen.referral.link}</s-text>
              <s-button variant="secondary" commandFor="advocate-referral-link">
                {screen.referral.copyLabel}
              </s-button>
              <s-clipboard-item id="advocate-referral-link" text={screen.referral.link} />
            </s-stack>
          </s-stack>
        </s-section>
      ) : null}

      {screen.restock ? (
        <s-section heading={shopify.i18n.translate('restockHeading')}>
          <s-stack gap="small">
            {screen.restock.lines.map((line, i) => (
              <s-stack key={i} direction="inline" gap="base" justifyContent="space-between">
                <s-text>{line.title}</s-text>
                <s-text color="subdued">{line.due}</s-text>
              </s-stack>
            ))}
          </s-stack>
        </s-section>
      ) : null}

      {screen.birthday ? <Birthday birthday={screen.birthday} onSave={(value) => void page.saveBirthday(value)} /> : null}
    </s-page>
  );
}

function Redemption({redemption}) {
  return (
    <s-stack gap="small-200">
      {redemption.code ? (
        <s-stack direction="inline" gap="base" alignItems="center">
          <s-text type="strong">{redemption.code}</s-text>
          <s-button variant="secondary" commandFor="advocate-reward-code">
            {redemption.copyLabel}
          </s-button>
          <s-clipboard-item id="advocate-reward-code" text={redemption.code} />
        </s-stack>
      ) : null}
      {redemption.expiry ? <s-text color="subdued">{redemption.expiry}</s-text> : null}
    </s-stack>
  );
}

function RewardRow({reward, onRedeem}) {
  const [points, setPoints] = useState(reward.choice ? reward.choice.min : undefined);
  const details = [reward.value, reward.minimumOrder].filter(Boolean).join(' · ');
  return (
    <s-stack direction="inline" gap="base" alignItems="center" justifyContent="space-between">
      <s-stack gap="none">
        <s-text type="strong">{reward.name}</s-text>
        {details ? <s-text color="subdued">{details}</s-text> : null}
      </s-stack>
      {reward.choice ? (
        <s-number-field
          label={reward.choice.label}
          value={String(points)}
          min={reward.choice.min}
          max={reward.choice.max}
          step={reward.choice.step}
          onInput={(event) => setPoints(Number.parseInt(event.currentTarget.value, 10))}
        />
      ) : null}
      <s-button
        variant="secondary"
        loading={reward.busy}
        disabled={reward.disabled}
        onClick={() => onRedeem(reward.choice ? points : undefined)}
      >
        {reward.actionLabel}
      </s-button>
    </s-stack>
  );
}

function Birthday({birthday, onSave}) {
  const [value, setValue] = useState('');
  return (
    <s-section heading={shopify.i18n.translate('birthdayHeading')}>
      <s-stack gap="small">
        <s-text>{birthday.text}</s-text>
        {birthday.set ? null : (
          <s-stack direction="inline" gap="base" alignItems="end">
            <s-text-field
              label={birthday.label}
              value={value}
              error={birthday.problem ?? undefined}
              onInput={(event) => setValue(event.currentTarget.value)}
            />
            <s-button loading={birthday.saving} onClick={() => onSave(value)}>
              {birthday.saveLabel}
            </s-button>
          </s-stack>
        )}
      </s-stack>
    </s-section>
  );
}
