// The block itself: Preact + Shopify's Polaris web components (`s-*`). All
// decisions live in ./lib (state machine, API calls, wording); this file
// only lays out what `present()` returns and forwards clicks.

import {render} from 'preact';
import {useEffect, useMemo, useState} from 'preact/hooks';

import {buildTimeAppUrl} from './lib/config.js';
import {connect, reloadOnCustomerChange} from './lib/host.js';
import {present} from './lib/presenter.js';

/** Renders the block for one extension target into the sandbox's body. */
export function renderPointsBlock(target) {
  render(<PointsBlock target={target} />, document.body);
}

function log(message, detail) {
  // Shows up in the browser console during `shopify app dev`; carries no
  // token and no personal data (only error kinds and Shopify's messages).
  console.warn(`[advocate] ${message}`, detail instanceof Error ? detail.message : detail ?? '');
}

export function PointsBlock({target}) {
  const connection = useMemo(
    () =>
      connect(shopify, {
        appUrl: buildTimeAppUrl(),
        fetch: (input, init) => fetch(input, init),
        target,
        log,
      }),
    [target],
  );
  const {controller} = connection;
  const [state, setState] = useState(controller.getState());

  useEffect(() => {
    const unsubscribe = controller.subscribe(setState);
    const stopWatching = reloadOnCustomerChange(shopify, controller);
    void controller.load();
    return () => {
      unsubscribe();
      stopWatching();
    };
  }, [controller]);

  const screen = present(state, {
    i18n: shopify.i18n,
    mode: connection.mode,
    loginUrl: connection.loginUrl,
  });
  const onAction = {
    retry: () => void controller.retry(),
    dismiss: () => void controller.dismiss(),
    apply: () => void controller.applyCode(),
  };

  return (
    <s-stack gap="base">
      <s-heading>{screen.heading}</s-heading>

      {screen.status === 'loading' ? (
        <s-skeleton-paragraph content={shopify.i18n.translate('loading')} />
      ) : null}

      {screen.banner ? <s-banner tone={screen.banner.tone}>{screen.banner.text}</s-banner> : null}

      {screen.summary ? <Summary summary={screen.summary} /> : null}

      {screen.code ? <CodeBox code={screen.code} /> : null}

      {screen.intro ? <s-text>{screen.intro}</s-text> : null}
      {screen.rewards.map((reward) => (
        <RewardRow
          key={reward.id}
          reward={reward}
          onRedeem={() => void controller.redeem(reward.id)}
        />
      ))}
      {screen.emptyMessage ? <s-text color="subdued">{screen.emptyMessage}</s-text> : null}

      {screen.actions.length > 0 ? (
        <s-stack direction="inline" gap="base">
          {screen.actions.map((action) =>
            action.href ? (
              <s-link key={action.id} href={action.href}>
                {action.label}
              </s-link>
            ) : (
              <s-button
                key={action.id}
                variant={action.id === 'dismiss' ? 'secondary' : 'primary'}
                loading={screen.busy}
                onClick={onAction[action.id]}
              >
                {action.label}
              </s-button>
            ),
          )}
        </s-stack>
      ) : null}
    </s-stack>
  );
}

function Summary({summary}) {
  return (
    <s-stack gap="small-200">
      <s-stack direction="inline" gap="small" alignItems="center">
        <s-text type="strong">{summary.balance}</s-text>
        {summary.tier ? <s-badge>{summary.tier}</s-badge> : null}
      </s-stack>
      {summary.pending ? <s-text color="subdued">{summary.pending}</s-text> : null}
      {summary.nextTier ? <s-text color="subdued">{summary.nextTier}</s-text> : null}
      {summary.closestReward ? <s-text>{summary.closestReward}</s-text> : null}
    </s-stack>
  );
}

function CodeBox({code}) {
  return (
    <s-stack gap="small-200">
      <s-stack direction="inline" gap="base" alignItems="center">
        <s-text type="strong">{code.code}</s-text>
        <s-button variant="secondary" commandFor="advocate-reward-code">
          {code.copyLabel}
        </s-button>
        <s-clipboard-item id="advocate-reward-code" text={code.code} />
      </s-stack>
      <s-text color="subdued">{code.hint}</s-text>
      {code.expiry ? <s-text color="subdued">{code.expiry}</s-text> : null}
      {code.pendingNote ? <s-text color="subdued">{code.pendingNote}</s-text> : null}
    </s-stack>
  );
}

function RewardRow({reward, onRedeem}) {
  const details = [reward.value, reward.minimumOrder].filter(Boolean).join(' · ');
  return (
    <s-stack direction="inline" gap="base" alignItems="center" justifyContent="space-between">
      <s-stack gap="none">
        <s-text type="strong">{reward.name}</s-text>
        {details ? <s-text color="subdued">{details}</s-text> : null}
      </s-stack>
      <s-button
        variant="secondary"
        loading={reward.busy}
        disabled={reward.disabled}
        onClick={onRedeem}
      >
        {reward.actionLabel}
      </s-button>
    </s-stack>
  );
}
