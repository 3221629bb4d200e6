// `pos.customer-details.block.render`: the customer's points, tier and
// rewards on POS's customer details screen, with a button per reward for
// staff. Preact + POS web components; all decisions live in ./lib.
import '@shopify/ui-extensions/preact';

import {render} from 'preact';
import {useEffect, useMemo, useState} from 'preact/hooks';

import {buildTimeAppUrl} from '../../points-checkout/src/lib/config.js';
import {createTill, createTillApi} from './lib/till.js';
import {present, toastText} from './lib/view.js';

export default async () => {
  render(<CustomerBlock />, document.body);
};

function log(message, detail) {
  // No token and no personal data: error kinds and messages only.
  console.warn(`[advocate] ${message}`, detail instanceof Error ? detail.message : detail ?? '');
}

function CustomerBlock() {
  const till = useMemo(
    () =>
      createTill({
        api: createTillApi({
          appUrl: buildTimeAppUrl(),
          fetch: (input, init) => fetch(input, init),
          getSessionToken: () => shopify.session.getSessionToken(),
        }),
        customerId: () => shopify.customer?.id,
        addCodeToCart: (code) => shopify.cart.addCartCodeDiscount(code),
        toast: (kind, redemption) => shopify.toast.show(toastText(kind, redemption, shopify.i18n)),
        log,
      }),
    [],
  );
  const [state, setState] = useState(till.getState());
  useEffect(() => {
    const unsubscribe = till.subscribe(setState);
    void till.load();
    return unsubscribe;
  }, [till]);

  const screen = present(state, {i18n: shopify.i18n});
  return (
    <s-pos-block heading={screen.heading}>
      <s-stack direction="block" gap="small">
        {screen.summary ? (
          <s-stack direction="inline" gap="small">
            <s-text type="strong">{screen.summary.balance}</s-text>
            {screen.summary.tier ? <s-badge>{screen.summary.tier}</s-badge> : null}
            {screen.summary.pending ? <s-text color="subdued">{screen.summary.pending}</s-text> : null}
          </s-stack>
        ) : null}
        {screen.message ? <s-text tone={screen.message.tone}>{screen.message.text}</s-text> : null}
        {screen.code ? <s-text type="strong">{screen.code}</s-text> : null}
        {screen.rewards.map((reward) => (
          <s-button
            key={reward.id}
            disabled={reward.disabled}
            loading={reward.busy}
            onClick={() => void till.redeem(reward.id, reward.points)}
          >
            {reward.label}
          </s-button>
        ))}
        {screen.actions.map((action) => (
          <s-button key={action.id} variant="secondary" onClick={() => void till.retry()}>
            {action.label}
          </s-button>
        ))}
      </s-stack>
    </s-pos-block>
  );
}
