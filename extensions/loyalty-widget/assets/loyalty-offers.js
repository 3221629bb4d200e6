/* Advocate's personal offers in the loyalty panel: how far the closest reward is, products
   bought together with the shopper's past orders, and what is time to restock. loyalty-widget.js (at its 10 kB budget) calls
   the parts in lwParts on every paint with the balance answer; the pure part is tested in tests/. */
((api) => {
  if (typeof module == 'object' && module.exports) return (module.exports = api);
  (self.lwParts ||= []).push((root, data) => api.paint(root, api.present(data, JSON.parse(root.querySelector('[data-lw="i18n"]').textContent),
    root.dataset.locale, root.dataset.search, self.AdvocateLoyalty)));
})((() => {
// What the offers show, from the balance answer's `offers`. The distance is counted from the
// balance, so it follows a redemption. Order lines carry no product handle, so a product links
// to the storefront search for its title (`search`: routes.search_url, language prefix included).
function present(data, t, loc, search, w) {
  const o = (data && data.offers) || {}, cr = o.closest_reward, near = cr ? cr.points_cost - (data.points_balance || 0) : 0;
  return {
    near: near > 0 ? w.fill(t.near, { points: w.points(near, t, loc), reward: cr.name }) : '',
    products: (o.products || []).map((p) => link(p.title, search)),
    // Products the shopper was reminded to buy again (`restock` of the answer).
    restock: ((data && data.restock) || []).map((p) => link(p.title, search)),
  };
}

function link(title, search) {
  return { title, href: (search || '/search') + '?type=product&q=' + encodeURIComponent(title) };
}

function fillList(list, items) {
  list.replaceChildren(...items.map((p) => {
    const li = document.createElement('li'), a = li.appendChild(document.createElement('a'));
    Object.assign(a, { className: 'lw-link', href: p.href, textContent: p.title });
    return li;
  }));
}

function paint(root, v) {
  const $ = (n) => root.querySelector('[data-lw="' + n + '"]');
  $('near').hidden = !($('near').textContent = v.near);
  $('offers').hidden = !v.products.length;
  fillList($('products'), v.products);
  const box = $('restockbox');
  if (box) {
    box.hidden = !v.restock.length;
    fillList($('restock'), v.restock);
  }
}

return { present, paint };
})());
