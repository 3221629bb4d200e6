/* Advocate's "Ways to earn" in the loyalty panel: follow the shop or share it on a social network,
   from the balance answer's `social`. loyalty-widget.js (at its 10 kB budget) calls the parts in
   lwParts on every paint with the balance answer and its dispatcher; tested in tests/. */
((api) => {
  if (typeof module == 'object' && module.exports) return (module.exports = api);
  (self.lwParts ||= []).push((root, data, go) => api.mount(root, data, go, api.post, self.AdvocateLoyalty, location.origin));
})((() => {
// Where a share goes; a network without one is not offered for sharing.
const SHARE = {
  facebook: 'https://www.facebook.com/sharer/sharer.php?u=',
  x: 'https://twitter.com/intent/tweet?url=',
  linkedin: 'https://www.linkedin.com/sharing/share-offsite/?url=',
  pinterest: 'https://pinterest.com/pin/create/button/?url=',
};

// POST through the app proxy, as the widget sends: {status, body}; status 0: network failure.
const post = (url, body) => fetch(url, {
  method: 'POST', credentials: 'same-origin', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' },
}).then((r) => r.json().catch(() => ({})).then((b) => ({ status: r.status, body: b }))).catch(() => ({ status: 0 }));

// The rows, from `social` ({follow: [{network, url, points, done}], share: [{network, points, done}]}).
// `home`: the shop's home page, the URL shared. A follow URL that is not https is left out.
function present(data, t, loc, home, w) {
  const so = (data && data.social) || {};
  const row = (kind, x, href) => ({
    key: kind + ':' + x.network, kind, network: x.network, href, done: !!x.done,
    label: w.fill(t['earn_' + kind], { network: t['network_' + x.network] || x.network }),
    note: x.done ? t.earn_done : x.points > 0 ? w.fill(t.earn_points, { points: w.points(x.points, t, loc) }) : '',
    action: t[kind],
  });
  return [
    ...(so.follow || []).filter((x) => /^https:\/\/[^\s]+$/.test(x.url || '')).map((x) => row('follow', x, x.url)),
    ...(so.share || []).filter((x) => SHARE[x.network]).map((x) => row('share', x, SHARE[x.network] + encodeURIComponent(home))),
  ];
}

// The answer to POST /activities/social -> events for the widget's reducer. `data`: the balance
// answer as it stands (the widget paints after every change, so the last paint's is current).
function settle(data, kind, network, r, t, loc, w) {
  const st = r.status, b = r.body || {}, so = data.social || {};
  if (st == 401) return [{ type: 'loaded', status: 401 }];
  if (st != 200 && st != 201) {
    return [{ type: 'msg', key: st == 422 ? 'earn_unavailable' : st == 429 ? 'rate_limited' : st ? 'error' : 'network' }];
  }
  // Done either way (once per network); the balance as Advocate answers it.
  const social = { ...so, [kind]: (so[kind] || []).map((x) => (x.network == network ? { ...x, done: true } : x)) };
  const body = { ...data, social, ...(typeof b.points_balance == 'number' && { points_balance: b.points_balance }) };
  return [
    { type: 'loaded', status: 200, body },
    b.awarded ? { type: 'msg', key: 'earned', tone: 'ok', vars: { points: w.points(b.points || 0, t, loc) } }
      : { type: 'msg', key: 'earn_already', tone: 'info' },
  ];
}

function mount(root, data, go, req, w, home) {
  const $ = (n) => root.querySelector('[data-lw="' + n + '"]'), ul = $('earn');
  if (!ul) return;
  const t = JSON.parse($('i18n').textContent), loc = root.dataset.locale, rows = present(data, t, loc, home, w);
  root.lwEarnData = data;
  $('earnbox').hidden = !rows.length;
  const f = document.activeElement, fkey = ul.contains(f) && f.dataset.lwEarn;
  const el = (tag, className, textContent) => Object.assign(document.createElement(tag), { className, textContent });
  ul.replaceChildren(...rows.map((x, i) => {
    const li = el('li', 'lw-reward'), name = el('span', 'lw-strong', x.label), note = el('span', 'lw-note', x.note);
    const a = el('a', 'lw-btn' + (x.done ? ' lw-btn-ghost' : ''), x.action);
    name.id = root.id + '-e' + i;
    note.id = name.id + 'n';
    Object.assign(a, { href: x.href, target: '_blank', rel: 'noopener' });
    a.dataset.lwEarn = x.key;
    a.setAttribute('aria-describedby', name.id + ' ' + note.id);
    a.append(el('span', 'lw-visually-hidden', ' ' + t.new_tab));
    li.append(name, note, a);
    return li;
  }));
  // Repainted after every change: the focus stays on its row.
  if (fkey) ul.querySelector('[data-lw-earn="' + fkey + '"]')?.focus();
  if (root.lwEarnBusy) return;
  const busy = (root.lwEarnBusy = {});
  // The link opens the network in a new tab by itself; the points are asked for alongside, once at a time per row.
  ul.addEventListener('click', (ev) => {
    const a = ev.target.closest('[data-lw-earn]'), key = a && a.dataset.lwEarn;
    const x = key && present(root.lwEarnData, t, loc, home, w).find((r) => r.key == key);
    if (!x || x.done || busy[key]) return;
    busy[key] = 1;
    req(w.proxyBase(root.dataset.proxy) + '/activities/social', { action: 'social_' + x.kind, network: x.network }).then((r) => {
      busy[key] = 0;
      settle(root.lwEarnData, x.kind, x.network, r, t, loc, w).forEach(go);
    });
  });
}

return { SHARE, post, present, settle, mount };
})());
