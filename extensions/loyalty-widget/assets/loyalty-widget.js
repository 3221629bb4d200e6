/* Advocate loyalty widget: pure parts (tests/), then the DOM; under 10 kB. */
((api) => {
  if (typeof module == 'object' && module.exports) return (module.exports = api);
  const run = () => api.boot(document);
  self.AdvocateLoyalty = api;
  document.readyState == 'loading' ? document.addEventListener('DOMContentLoaded', run) : run();
  document.addEventListener('shopify:section:load', run);
})((() => {
const fill = (s, v) => String(s || '').replace(/\[(\w+)\]/g, (m, k) => (v && k in v ? v[k] : m));
const safe = (f, d) => { try { return f(); } catch { return d; } };
const points = (n, t, loc) =>
  fill(t['points_' + safe(() => new Intl.PluralRules(loc).select(n))] || t.points_other, { count: safe(() => n.toLocaleString(loc), n) });
const money = (a, cur, loc) => safe(() => (+a).toLocaleString(loc, { style: 'currency', currency: cur }), a + ' ' + cur);
const progress = (next, t, loc) => {
  const m = next && next.missing || {};
  return !next ? t.top_tier : 'points' in m
    ? fill(t.next_points, { points: points(m.points, t, loc), tier: next.name })
    : fill(t.next_spend, { amount: money(m.amount, m.currency, loc), tier: next.name });
};
// "3/7" -> "03-07"; null unless a real day.
const parseBirthday = (s) => {
  const m = /^\s*(\d\d?)\s*[-/.]\s*(\d\d?)\s*$/.exec(s || ''), mo = m && +m[1], d = m && +m[2];
  return mo && mo < 13 && new Date(2000, mo - 1, d).getDate() == d ? m[1].padStart(2, 0) + '-' + m[2].padStart(2, 0) : null;
};
// Only a same-origin path.
const proxyBase = (s) => (s = String(s || '').trim().replace(/\/+$/, '')) && /^(\/[\w-]+)+$/.test(s) ? s : '/apps/loyalty';
const newKey = () => safe(() => crypto.randomUUID()) || Date.now() + '-' + Math.random();

const initial = (loggedIn) => ({ view: loggedIn ? 'idle' : 'out', data: {}, keys: {}, msg: null });
const say = (key, tone, vars) => ({ key, tone: tone || 'error', vars });
const fail = (st) => say(st == 429 ? 'rate_limited' : st ? 'error' : 'network');

// (state, event) -> state. Answers {status, body}; 0: network failure.
function reduce(s, e) {
  const st = e.status, b = e.body || {}, to = (o) => ({ ...s, ...o }), ok = st == 200 || st == 201;
  switch (e.type) {
    case 'load': return to({ view: 'loading', msg: null });
    case 'loaded':
      if (st == 401 || (st == 200 && !b.logged_in)) return to({ view: 'out' });
      return to(st == 200 ? { view: 'ready', data: b } : { view: 'error', msg: fail(st) });
    case 'referral': return st == 200 ? to({ referral: b }) : s;
    case 'confirm': return to({ confirm: e.id, msg: null });
    case 'redeem': return to({ busy: e.id, confirm: null, keys: { ...s.keys, [e.id]: s.keys[e.id] || e.key }, msg: say('redeeming', 'info') });
    case 'redeemed': {
      const keys = { ...s.keys };
      // Unknown outcome (0, 429, 5xx): keep the key.
      if (st && st != 429 && st < 500) delete keys[e.id];
      if (st == 401) return to({ view: 'out', busy: null, keys });
      const sc = ok && b.store_credit, no = b.code_status == 'failed';
      return to({ busy: null, keys, msg: sc ? say(no ? 'credit_failed' : 'credited', !no && 'ok', sc)
        : ok ? say('redeemed', 'ok', b) : st == 409 ? say('not_enough') : fail(st),
        ...(ok && { data: { ...s.data, points_balance: b.points_balance }, code: !sc && b }) });
    }
    case 'bday': return to({ bdayBusy: true, msg: null });
    case 'bday_done':
      if (st == 401) return to({ view: 'out', bdayBusy: false });
      return to({ bdayBusy: false, bdayLocked: st == 409, ...(ok && { data: { ...s.data, birthday: b.birthday } }),
        msg: ok ? say('birthday_saved', 'ok') : st == 409 ? say('birthday_locked') : st == 422 || st == 400 ? say('birthday_invalid') : fail(st) });
    case 'msg': return to({ msg: say(e.key, e.tone, e.vars) });
  }
  return s;
}

// What the markup shows, by data-lw.
function present(s, t, loc) {
  const d = s.data, bal = d.points_balance || 0, P = (n) => points(n, t, loc), c = s.code || {}, v = s.view;
  const text = {
    balance: P(bal),
    pending: d.points_pending > 0 ? fill(t.pending, { points: P(d.points_pending) }) : '',
    tier: d.tier ? d.tier.name : t.no_tier,
    progress: progress(d.next_tier, t, loc),
    code: c.code ? fill(t.redeemed, c) : '',
    codenote: c.code_status == 'failed' ? t.code_failed : c.code_status == 'pending' ? t.code_pending
      : c.expires_at ? fill(t.expires, { date: safe(() => new Date(c.expires_at).toLocaleDateString(loc, { dateStyle: 'medium' })) }) : '',
    bday: d.birthday ? fill(t.birthday_set, { date: d.birthday }) : s.bdayLocked ? t.birthday_locked : '',
  };
  return {
    text,
    show: { out: v == 'out', skel: v == 'idle' || v == 'loading', in: v == 'ready', err: v == 'error',
      codebox: !!c.code, refbox: !!s.referral, bform: !text.bday },
    rewards: (d.rewards || []).map((r) => ({
      id: r.id, name: r.name,
      detail: [P(r.points_cost), r.minimum_order && fill(t.min_order, { amount: money(r.minimum_order, r.currency, loc) }),
        r.points_cost > bal && fill(t.need_more, { points: P(r.points_cost - bal) })].filter(Boolean).join(' · '),
      disabled: r.points_cost > bal || !!s.busy,
      label: s.busy == r.id ? t.redeeming : s.confirm == r.id ? fill(t.confirm, { points: P(r.points_cost) }) : t.redeem,
    })),
    referral: s.referral ? s.referral.link : '',
    msg: s.msg ? fill(t[s.msg.key] || t.error, s.msg.vars) : '',
    tone: s.msg ? s.msg.tone : '',
  };
}

// Via the app proxy.
const call = (url, body, key) => fetch(url, {
  method: body && 'POST', credentials: 'same-origin', body: body && JSON.stringify(body),
  headers: { 'Content-Type': 'application/json', ...(key && { 'Idempotency-Key': key }) },
}).then((r) => r.json().catch(() => ({})).then((body) => ({ status: r.status, body })));

function mount(root) {
  if (root.lwLoad) return;
  const $ = (n) => root.querySelector('[data-lw="' + n + '"]'), t = JSON.parse($('i18n').textContent);
  const loc = root.dataset.locale, base = proxyBase(root.dataset.proxy);
  const el = (tag, className, textContent) => Object.assign(document.createElement(tag), { className, textContent });
  let s = initial(root.dataset.loggedIn == 'true'), shown = null;
  const go = (e) => { s = reduce(s, e); paint(); };
  const req = (p, body, key) => call(base + p, body, key).catch(() => ({ status: 0 }));
  const send = (p, body, e, key) => req(p, body, key).then((r) => go({ ...r, ...e }));

  function paint() {
    const v = present(s, t, loc), m = $('msg');
    for (const k in v.show) if ($(k)) $(k).hidden = !v.show[k];
    if ($('in')) {
      root.setAttribute('aria-busy', v.show.skel);
      for (const k in v.text) $(k).hidden = !($(k).textContent = v.text[k]);
      const ul = $('rewards'), f = document.activeElement, fid = ul.contains(f) && f.dataset.id;
      ul.textContent = '';
      v.rewards.forEach((r, i) => {
        const b = el('button', 'lw-btn', r.label), d = el('span', 'lw-note', r.detail);
        ul.appendChild(el('li', 'lw-reward')).append(el('span', 'lw-strong', r.name), d, b);
        b.dataset.id = r.id;
        b.setAttribute('aria-disabled', r.disabled);
        b.setAttribute('aria-describedby', (d.id = root.id + '-r' + i));
        if (r.id == fid) b.focus();
      });
      if (!v.rewards.length) ul.append(el('li', 'lw-note', t.no_rewards));
      $('ref').value = v.referral;
      self.lwParts?.forEach((f) => f(root, s.data, go));
    }
    if (s.msg != shown) {
      // Emptied first: a repeat is announced.
      shown = s.msg;
      m.textContent = '';
      m.className = 'lw-msg lw-' + v.tone;
      setTimeout(() => (m.textContent = v.msg), 50);
    }
  }

  function load() {
    if (s.view != 'idle' && s.view != 'error') return;
    go({ type: 'load' });
    // Together: no layout shift.
    Promise.all([req('/balance'), req('/referral')]).then(([b, r]) => { go({ ...r, type: 'referral' }); go({ ...b, type: 'loaded' }); });
  }

  root.addEventListener('click', (ev) => {
    const b = ev.target.closest('button'), id = b && b.dataset.id, c = b && b.dataset.lwCopy;
    if (!b || b.getAttribute('aria-disabled') == 'true') return;
    if ('lwRetry' in b.dataset) return load();
    if (c) return Promise.resolve().then(() => navigator.clipboard.writeText(c == 'ref' ? s.referral.link : s.code.code)).then(
      () => go({ type: 'msg', key: 'copied', tone: 'ok' }),
      () => go({ type: 'msg', key: 'copy_failed' }));
    if (!id) return;
    if (s.confirm != id) return go({ type: 'confirm', id });
    go({ type: 'redeem', id, key: newKey() });
    send('/redeem', { reward_id: id, idempotency_key: s.keys[id] }, { type: 'redeemed', id }, s.keys[id]);
  });
  const form = $('bform');
  if (form) form.addEventListener('submit', (ev) => {
    const f = form.elements, v = parseBirthday(f.month.value + '-' + f.day.value);
    ev.preventDefault();
    if (s.bdayBusy) return;
    if (!v) return go({ type: 'msg', key: 'birthday_invalid' });
    go({ type: 'bday' });
    send('/birthday', { birthday: v }, { type: 'bday_done' });
  });
  root.lwLoad = load;
  paint();
  if ('lwAuto' in root.dataset) load();
}

// Idempotent: the editor re-runs it.
function boot(doc) {
  doc.querySelectorAll('[data-lw-root]').forEach(mount);
  doc.querySelectorAll('[data-lw-launcher]').forEach((w) => {
    const btn = w.querySelector('[data-lw-toggle]'), p = w.querySelector('.lw-panel');
    const set = (open, back) => {
      p.hidden = !open;
      btn.setAttribute('aria-expanded', open);
      if (open) p.querySelector('h2').focus(), p.querySelector('[data-lw-root]').lwLoad();
      else if (back) btn.focus();
    };
    if (w.lwOn) return;
    w.lwOn = 1;
    btn.addEventListener('click', () => set(p.hidden));
    w.querySelector('[data-lw-close]').addEventListener('click', () => set(false, true));
    w.addEventListener('keydown', (e) => e.key == 'Escape' && !p.hidden && set(false, true));
  });
}

return { fill, points, money, progress, parseBirthday, proxyBase, newKey, initial, reduce, present, boot };
})());
