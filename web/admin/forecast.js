// The what-if forecast on the Program screen: once the draft differs from
// the saved program, what it would have done over the shop's last 90 or
// 365 days of orders, beside the settings in force
// (`POST /api/admin/program/forecast`, which saves nothing). Hidden again
// once the draft is saved or edited back.

import { api, ApiError } from "./api.js";
import { h, fill, table } from "./ui.js";
import { money, count } from "./format.js";

const WAIT_MS = 400;

/**
 * `forecastPanel({ currency, draft, saved })`: `draft()` and `saved()`
 * give the settings being edited and those in force. Returns the panel's
 * element and `changed()`, to call after every edit, and `saved(settings)`
 * after a save.
 */
export function forecastPanel({ currency, draft, saved: initial }) {
  let saved = JSON.stringify(initial);
  let days = "365";
  let timer = null;
  let asked = 0;
  const body = h("div", { id: "forecast-body" });
  const period = h("s-select", { label: "Orders of the last", value: days, id: "forecast-days" },
    h("s-option", { value: "90" }, "90 days"),
    h("s-option", { value: "365" }, "365 days"));
  period.addEventListener("change", () => { days = period.value || "365"; run(); });
  // A plain element carries `hidden`: Polaris' own elements style their
  // display themselves.
  const panel = h("div", { id: "forecast", hidden: true },
    h("s-section", { heading: "Forecast of this change" },
      h("s-stack", { gap: "base" },
        h("s-paragraph", { color: "subdued" },
          "What these settings would have done with your real orders, next to the settings in force. Nothing is saved until you press Save."),
        h("div", { class: "period" }, period),
        body)));

  function show(visible) {
    if (visible) panel.removeAttribute("hidden");
    else panel.setAttribute("hidden", "");
  }

  async function run() {
    const settings = draft();
    if (JSON.stringify(settings) === saved) {
      asked += 1;
      show(false);
      fill(body);
      return;
    }
    show(true);
    const mine = ++asked;
    fill(body, h("s-spinner", { accessibilityLabel: "Forecasting" }));
    try {
      const f = await api("POST", "/api/admin/program/forecast", { settings, days: Number(days) });
      if (mine === asked) fill(body, ...figures(f, currency));
    } catch (e) {
      if (mine !== asked) return;
      const text = e instanceof ApiError && e.status === 422
        ? "Fix the values marked in red when you save to see a forecast."
        : `The forecast could not be computed: ${e.message || e}`;
      fill(body, h("s-paragraph", { color: "subdued", "data-role": "forecast-unavailable" }, text));
    }
  }

  return {
    element: panel,
    changed() {
      clearTimeout(timer);
      timer = setTimeout(run, WAIT_MS);
    },
    saved(settings) {
      saved = JSON.stringify(settings);
      clearTimeout(timer);
      run();
    },
  };
}

function change(a, b, format = count) {
  const d = b - a;
  if (d === 0) return "no change";
  return `${d > 0 ? "+" : "−"}${format(Math.abs(d))}`;
}

function figures(f, currency) {
  const c = f.current;
  const p = f.proposed;
  const cash = (v) => money(v, currency);
  const rows = [
    ["Points from orders", c.order_points, p.order_points],
    ["Tier entry points", c.entry_points, p.entry_points],
    ["Points issued", c.points_issued, p.points_issued],
    ["Points redeemed (at your rate)", c.points_redeemed, p.points_redeemed],
    ["Points outstanding", c.points_outstanding, p.points_outstanding],
    ["Points for a median order", c.median_points_per_order, p.median_points_per_order],
    ["Customers who moved up a tier", c.customers_moved_up, p.customers_moved_up],
  ].map(([label, a, b]) => [label, count(a), count(b), change(a, b)]);
  const moneyRows = [
    ["Outstanding points' worth", c.liability_minor, p.liability_minor],
    ["Entry points' worth", c.entry_cost_minor, p.entry_cost_minor],
  ].map(([label, a, b]) => [label, cash(a), cash(b), a === null || b === null ? "—" : change(a, b, cash)]);
  if (c.cashback_minor || p.cashback_minor) {
    moneyRows.push(["Cashback as store credit", cash(c.cashback_minor), cash(p.cashback_minor), change(c.cashback_minor, p.cashback_minor, cash)]);
  }
  const tierNames = new Map();
  for (const t of [...c.tiers, ...p.tiers]) tierNames.set(t.id ?? "", t.name ?? "No tier");
  const tierCount = (s, id) => s.tiers.find((t) => (t.id ?? "") === id)?.customers ?? 0;
  const tierRows = [...tierNames].map(([id, name]) => {
    const a = tierCount(c, id);
    const b = tierCount(p, id);
    return [name, count(a), count(b), change(a, b)];
  });
  const rate = f.redemption_rate.issued > 0
    ? `${count(f.redemption_rate.redeemed)} of ${count(f.redemption_rate.issued)} points issued in the period were redeemed`
    : "no points were redeemed in the period";
  return [
    h("s-text", { color: "subdued", "data-role": "forecast-period" },
      `${count(f.customers)} customers' orders, ${f.from.slice(0, 10)} – ${f.to.slice(0, 10)}; ${rate}.`),
    h("div", { "data-role": "forecast-table" },
      table(["", "In force", "Proposed", "Change"], [...rows, ...moneyRows])),
    h("s-heading", {}, "Customers per tier at the end of the period"),
    table(["Tier", "In force", "Proposed", "Change"], tierRows),
    h("s-text", { "data-role": "forecast-moves" },
      `${count(f.tier_moves.up)} customers would end in a higher tier and ${count(f.tier_moves.down)} in a lower one.`),
  ];
}
