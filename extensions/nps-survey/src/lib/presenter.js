// From a survey state to what the block shows: every sentence translated,
// the eleven choices, the actions. The Preact component only lays it out.

import {ErrorKind} from './api.js';
import {MAX_COMMENT, Status} from './survey.js';

/**
 * @param {object} state a `createSurvey` state
 * @param {{i18n: {translate(key: string, options?: object): string, formatNumber(n: number): string}}} context
 */
export function present(state, {i18n}) {
  const t = (key, options) => i18n.translate(key, options);
  const points = (n) => t('points', {count: n, points: i18n.formatNumber(n)});
  const screen = {
    visible: true,
    heading: t('heading'),
    busy: false,
    banner: null,
    question: null,
    choices: [],
    comment: null,
    actions: [],
  };
  switch (state.status) {
    case Status.HIDDEN:
      return {...screen, visible: false};
    case Status.LOADING:
      return {...screen, busy: true};
    case Status.ERROR:
      screen.banner = {
        tone: 'critical',
        text: t(state.kind === ErrorKind.NETWORK ? 'errorNetwork' : 'errorServer'),
      };
      screen.actions.push({id: 'retry', label: t('retryAction')});
      return screen;
    case Status.ANSWERED:
      screen.banner = {
        tone: 'info',
        text:
          state.score === null ? t('alreadyAnswered') : t('alreadyAnsweredScore', {score: state.score}),
      };
      return screen;
    case Status.THANKED: {
      let text = t('thanks');
      if (state.pointsCredited > 0) text = t('thanksPoints', {points: points(state.pointsCredited)});
      else if (state.waiting && state.bonusPoints > 0) {
        text = t('thanksPointsSoon', {points: points(state.bonusPoints)});
      }
      screen.banner = {tone: 'success', text};
      return screen;
    }
    default:
      break;
  }
  // asking or submitting
  const submitting = state.status === Status.SUBMITTING;
  screen.question = t('question');
  screen.scale = {low: t('scaleLow'), high: t('scaleHigh')};
  screen.choices = Array.from({length: 11}, (_, score) => ({
    score,
    label: String(score),
    selected: state.score === score,
    disabled: submitting,
  }));
  screen.comment = {
    label: t('commentLabel'),
    value: state.comment ?? '',
    maxLength: MAX_COMMENT,
    disabled: submitting,
  };
  if (!submitting && state.bonusPoints > 0) {
    screen.bonus = t('bonus', {points: points(state.bonusPoints)});
  }
  if (!submitting && state.notice) {
    screen.banner = {tone: 'warning', text: t(state.notice)};
  }
  screen.busy = submitting;
  screen.actions.push({id: 'submit', label: t('submitAction')});
  return screen;
}
