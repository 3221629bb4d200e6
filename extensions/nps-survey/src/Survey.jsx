// The block itself: Preact + Polaris web components (`s-*`). Decisions live
// in ./lib (state machine, API, wording); this file lays out what
// `present()` returns and forwards the shopper's input.

import {render} from 'preact';
import {useEffect, useMemo, useState} from 'preact/hooks';

import {buildTimeAppUrl} from './lib/config.js';
import {connect, reloadOnOrderChange} from './lib/host.js';
import {present} from './lib/presenter.js';

/** Renders the survey for one extension target into the sandbox's body. */
export function renderSurvey(target) {
  render(<Survey target={target} />, document.body);
}

function log(message, detail) {
  // Error kinds and status lines only: no token, no comment text.
  console.warn(`[advocate] ${message}`, detail instanceof Error ? detail.message : detail ?? '');
}

export function Survey({target}) {
  const survey = useMemo(
    () => connect(shopify, {appUrl: buildTimeAppUrl(), fetch: (input, init) => fetch(input, init), log}),
    [target],
  );
  const [state, setState] = useState(survey.getState());

  useEffect(() => {
    const unsubscribe = survey.subscribe(setState);
    const stopWatching = reloadOnOrderChange(shopify, survey);
    void survey.load();
    return () => {
      unsubscribe();
      stopWatching();
    };
  }, [survey]);

  const screen = present(state, {i18n: shopify.i18n});
  if (!screen.visible) return null;
  const onAction = {
    submit: () => void survey.submit(),
    retry: () => void survey.retry(),
  };

  return (
    <s-stack gap="base">
      <s-heading>{screen.heading}</s-heading>
      {screen.busy && screen.choices.length === 0 ? (
        <s-skeleton-paragraph />
      ) : null}
      {screen.banner ? <s-banner tone={screen.banner.tone}>{screen.banner.text}</s-banner> : null}
      {screen.question ? <s-text>{screen.question}</s-text> : null}
      {screen.choices.length > 0 ? (
        <s-stack gap="small-200">
          <s-stack direction="inline" gap="small-200">
            {screen.choices.map((choice) => (
              <s-button
                key={choice.score}
                variant={choice.selected ? 'primary' : 'secondary'}
                disabled={choice.disabled}
                accessibilityLabel={`${choice.label} / 10`}
                onClick={() => survey.choose(choice.score)}
              >
                {choice.label}
              </s-button>
            ))}
          </s-stack>
          <s-stack direction="inline" justifyContent="space-between">
            <s-text color="subdued">{screen.scale.low}</s-text>
            <s-text color="subdued">{screen.scale.high}</s-text>
          </s-stack>
        </s-stack>
      ) : null}
      {screen.comment ? (
        <s-text-area
          label={screen.comment.label}
          value={screen.comment.value}
          maxLength={screen.comment.maxLength}
          disabled={screen.comment.disabled}
          onInput={(event) => survey.setComment(event.currentTarget.value)}
        />
      ) : null}
      {screen.bonus ? <s-text color="subdued">{screen.bonus}</s-text> : null}
      {screen.actions.map((action) => (
        <s-button key={action.id} variant="primary" loading={screen.busy} onClick={onAction[action.id]}>
          {action.label}
        </s-button>
      ))}
    </s-stack>
  );
}
