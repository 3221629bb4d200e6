// The survey end to end without a browser: the `shopify` global and `fetch`
// are fakes, everything else is the real code (host → API → state machine →
// presenter), down to the sentences shown.

import assert from 'node:assert/strict';
import {describe, it} from 'node:test';

import {ORDER_STATUS_TARGET, connect, reloadOnOrderChange} from '../src/lib/host.js';
import {present} from '../src/lib/presenter.js';
import {Status} from '../src/lib/survey.js';
import {APP_URL, ORDER_GID, answeredBody, fakeFetch, fakeShopify, openStatus, settle} from './fakes.js';

function setUp({shopify = fakeShopify(), fetch}) {
  const logs = [];
  const survey = connect(shopify, {appUrl: APP_URL, fetch, log: (m, d) => logs.push({m, d})});
  const screen = () => present(survey.getState(), {i18n: shopify.i18n});
  return {survey, screen, shopify, fetch, logs};
}

describe('a shopper with an order to answer about', () => {
  it('is asked, chooses a score, comments, and is thanked with the points', async () => {
    const fetch = fakeFetch({status: 200, body: openStatus()}, {status: 201, body: answeredBody()});
    const {survey, screen} = setUp({fetch});
    await survey.load();
    let s = screen();
    assert.equal(s.visible, true);
    assert.equal(s.question, 'How likely are you to recommend us to a friend?');
    assert.deepEqual(s.choices.map((c) => c.label), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    assert.equal(s.bonus, 'Answer and earn 25 points.');
    survey.choose(9);
    survey.setComment('  Fast delivery  ');
    s = screen();
    assert.equal(s.choices[9].selected, true);
    assert.equal(s.choices.filter((c) => c.selected).length, 1);
    await survey.submit();
    assert.deepEqual(JSON.parse(fetch.calls[1].body), {order_id: ORDER_GID, score: 9, comment: 'Fast delivery'});
    s = screen();
    assert.equal(survey.getState().status, Status.THANKED);
    assert.deepEqual(s.banner, {
      tone: 'success',
      text: 'Thank you for your feedback! 25 points were added to your balance.',
    });
    assert.equal(s.choices.length, 0, 'the question is not offered again');
    assert.equal(s.actions.length, 0);
  });

  it('must choose a score before sending, and sends no empty comment', async () => {
    const fetch = fakeFetch(
      {status: 200, body: openStatus()},
      {status: 201, body: answeredBody({score: 3, category: 'detractor'})},
    );
    const {survey, screen} = setUp({fetch});
    await survey.load();
    await survey.submit();
    assert.equal(fetch.calls.length, 1, 'nothing sent without a score');
    assert.deepEqual(screen().banner, {tone: 'warning', text: 'Choose a number from 0 to 10 first.'});
    survey.choose(11);
    assert.equal(survey.getState().score, null, 'out of range is ignored');
    survey.choose(3);
    survey.setComment('   ');
    await survey.submit();
    assert.equal(JSON.parse(fetch.calls[1].body).comment, null);
  });

  it('refuses a comment over 1,000 characters without sending it', async () => {
    const fetch = fakeFetch({status: 200, body: openStatus()});
    const {survey, screen} = setUp({fetch});
    await survey.load();
    survey.choose(7);
    survey.setComment('x'.repeat(1001));
    await survey.submit();
    assert.equal(fetch.calls.length, 1);
    assert.match(screen().banner.text, /too long/);
  });

  it('is told the points come with the order when the answer beat the webhook', async () => {
    const fetch = fakeFetch(
      {status: 200, body: openStatus()},
      {status: 201, body: answeredBody({points_credited: 0, credit_state: 'waiting'})},
    );
    const {survey, screen} = setUp({fetch});
    await survey.load();
    survey.choose(10);
    await survey.submit();
    assert.equal(
      screen().banner.text,
      'Thank you for your feedback! 25 points will be added to your balance once your order is confirmed.',
    );
  });

  it('is thanked without points when the shop offers none', async () => {
    const fetch = fakeFetch(
      {status: 200, body: openStatus({bonus_points: 0})},
      {status: 201, body: answeredBody({bonus_points: 0, points_credited: 0, credit_state: 'none'})},
    );
    const {survey, screen} = setUp({fetch});
    await survey.load();
    assert.equal(screen().bonus, undefined);
    survey.choose(8);
    await survey.submit();
    assert.equal(screen().banner.text, 'Thank you for your feedback!');
  });
});

describe('an order answered before', () => {
  it('is shown as answered, with its score, and not asked again', async () => {
    const fetch = fakeFetch({status: 200, body: openStatus({answered: true, score: 6})});
    const {survey, screen} = setUp({fetch, shopify: fakeShopify({target: ORDER_STATUS_TARGET, orderId: 'gid://shopify/Order/5000000000123'})});
    await survey.load();
    assert.equal(fetch.calls[0].url, `${APP_URL}/api/checkout/nps?order_id=${encodeURIComponent('gid://shopify/Order/5000000000123')}`);
    const s = screen();
    assert.equal(s.banner.text, 'You gave this order 6 out of 10. Thank you!');
    assert.equal(s.choices.length, 0);
    await survey.submit();
    assert.equal(fetch.calls.length, 1);
  });

  it('answered in another tab meanwhile: the 409 shows the first answer', async () => {
    const fetch = fakeFetch(
      {status: 200, body: openStatus()},
      {status: 409, body: {error: 'conflict', message: 'this order was already answered'}},
      {status: 200, body: openStatus({answered: true, score: 2})},
    );
    const {survey, screen} = setUp({fetch});
    await survey.load();
    survey.choose(10);
    await survey.submit();
    assert.equal(survey.getState().status, Status.ANSWERED);
    assert.equal(screen().banner.text, 'You gave this order 2 out of 10. Thank you!');
  });
});

describe('failures', () => {
  it('a lost answer is retried with the same answer; a 409 for it means it went through', async () => {
    const fetch = fakeFetch(
      {status: 200, body: openStatus()},
      new TypeError('Failed to fetch'),
      {status: 409, body: {error: 'conflict', message: 'this order was already answered'}},
      {status: 200, body: openStatus({answered: true, score: 9, points_credited: 25, credit_state: 'credited'})},
    );
    const {survey, screen} = setUp({fetch});
    await survey.load();
    survey.choose(9);
    survey.setComment('ok');
    await survey.submit();
    assert.equal(survey.getState().status, Status.ERROR);
    assert.deepEqual(screen().actions, [{id: 'retry', label: 'Try again'}]);
    assert.match(screen().banner.text, /connection/);
    await survey.retry();
    assert.equal(fetch.calls[1].body, fetch.calls[2].body, 'the same answer is sent again');
    assert.equal(survey.getState().status, Status.THANKED);
    assert.match(screen().banner.text, /25 points were added/);
  });

  it('a load that fails can be retried', async () => {
    const fetch = fakeFetch({status: 503, body: {error: 'unavailable'}}, {status: 200, body: openStatus()});
    const {survey, screen} = setUp({fetch});
    await survey.load();
    assert.equal(screen().banner.text, 'Our survey is unavailable right now. Please try again.');
    await survey.retry();
    assert.equal(survey.getState().status, Status.ASKING);
  });

  for (const [what, step] of [
    ['the survey is off', {status: 200, body: {enabled: false}}],
    ['nobody is logged in', {status: 200, body: {enabled: true, logged_in: false, bonus_points: 25}}],
    ['the order is someone else’s', {status: 403, body: {error: 'forbidden'}}],
  ]) {
    it(`shows nothing when ${what}`, async () => {
      const {survey, screen} = setUp({fetch: fakeFetch(step)});
      await survey.load();
      assert.equal(screen().visible, false);
    });
  }

  it('shows nothing and sends nothing when not configured', async () => {
    const shopify = fakeShopify();
    const fetch = fakeFetch();
    const survey = connect(shopify, {appUrl: undefined, fetch});
    await survey.load();
    assert.equal(present(survey.getState(), {i18n: shopify.i18n}).visible, false);
    assert.equal(fetch.calls.length, 0);
  });

  it('a refused answer goes back to the question with a message', async () => {
    const fetch = fakeFetch(
      {status: 200, body: openStatus()},
      {status: 422, body: {error: 'unprocessable', message: 'score must be a whole number from 0 to 10'}},
    );
    const {survey, screen} = setUp({fetch});
    await survey.load();
    survey.choose(4);
    await survey.submit();
    assert.equal(survey.getState().status, Status.ASKING);
    assert.equal(survey.getState().score, 4, 'the choice is kept');
    assert.match(screen().banner.text, /couldn't accept/);
  });
});

describe('the order id', () => {
  it('is waited for on the thank-you page, then the survey loads', async () => {
    const shopify = fakeShopify({orderId: null});
    const fetch = fakeFetch({status: 200, body: openStatus()});
    const {survey} = setUp({shopify, fetch});
    const stop = reloadOnOrderChange(shopify, survey);
    await survey.load();
    assert.equal(survey.getState().status, Status.HIDDEN);
    assert.equal(fetch.calls.length, 0);
    shopify.orderConfirmation.set({order: {id: ORDER_GID}});
    await settle();
    assert.equal(survey.getState().status, Status.ASKING);
    assert.equal(fetch.calls.length, 1);
    stop();
  });
});
