// Dashboard: the program's key figures for a chosen period, with the trend
// and the tier distribution drawn rather than listed.

import { api } from "../api.js";
import { h, fill, errorBanner, loading, metric, table, toast, busy, periodSelect } from "../ui.js";
import { money, count, rate, rateDetail, day, when } from "../format.js";
import { lineChart, barChart } from "../charts.js";

export async function render(ctx) {
  const body = h("s-stack", { gap: "base", id: "dashboard-body" }, loading("Loading the figures"));
  const select = periodSelect(ctx, "30d", (key) => load(key));
  const refresh = h("s-button", { id: "refresh", slot: "secondary-actions" }, "Recompute now");
  refresh.addEventListener("click", () => busy(refresh, async () => {
    try {
      await api("POST", "/api/admin/analytics/refresh");
      toast("Figures recomputed");
      await load(select.value);
    } catch (e) {
      fill(body, errorBanner(e, "The figures could not be recomputed"));
    }
  }));

  async function load(key) {
    fill(body, loading("Loading the figures"));
    try {
      const [data, winback, reorder] = await Promise.all([
        api("GET", `/api/admin/analytics?period=${encodeURIComponent(key)}`),
        // The win-back or reorder figures failing leaves the rest of the dashboard.
        api("GET", `/api/admin/winback?period=${encodeURIComponent(key)}`).catch((error) => ({ error })),
        api("GET", `/api/admin/reorder?period=${encodeURIComponent(key)}`).catch((error) => ({ error })),
      ]);
      fill(body, ...figures(data),
        winback.error ? errorBanner(winback.error, "The win-back figures could not be loaded") : winbackSection(winback),
        reorder.error ? errorBanner(reorder.error, "The reorder figures could not be loaded") : reorderSection(reorder));
    } catch (e) {
      fill(body, errorBanner(e, "The figures could not be loaded"));
    }
  }
  load(select.value);

  return h("s-page", { heading: "Dashboard", inlineSize: "large" },
    refresh,
    h("s-section", {}, h("s-stack", { direction: "inline", gap: "base", alignItems: "end" }, h("div", { class: "period" }, select))),
    body);
}

function figures(a) {
  const cur = a.currency;
  const pts = a.points || {};
  const members = a.members || {};
  const clv = a.clv || {};
  const rev = a.revenue || {};
  const m = rev.members || {};
  const nm = rev.non_members || {};
  const period = a.period || {};
  const trend = Array.isArray(a.trend) ? a.trend : [];
  // A tier without a name: customers without a tier, or a tier since removed.
  const tiers = (Array.isArray(a.tiers) ? a.tiers : []).map((t) => ({ ...t, name: t.name || (t.id ? `${t.id} (removed)` : "No tier") }));
  const grid = (...items) => h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(190px, 1fr))", gap: "base", class: "metrics" }, ...items);
  return [
    h("s-text", { color: "subdued" }, `${day(period.from)} – ${day(period.to)} · computed ${when(a.computed_at ? Date.parse(a.computed_at) || a.computed_at : null)}`),
    h("s-section", { heading: "Members and points" },
      grid(
        metric("Members", count(members.total), `${count(members.new_in_period)} new in the period`, "members"),
        metric("Points issued", count(pts.issued), "in the period", "points-issued"),
        metric("Points redeemed", count(pts.redeemed), `${count(pts.expired)} expired`, "points-redeemed"),
        metric("Points outstanding", count(pts.outstanding), "all customers, now", "points-outstanding"),
        metric("Outstanding liability", money(pts.liability_minor, cur), "what the outstanding points are worth", "liability"),
      )),
    h("s-section", { heading: "Rates" },
      grid(
        metric("Redemption rate", rate(a.redemption_rate), rateDetail(a.redemption_rate, "points"), "redemption-rate"),
        metric("Repeat purchase rate", rate(a.repeat_purchase_rate), rateDetail(a.repeat_purchase_rate, "customers"), "repeat-rate"),
        metric("Customer retention rate", rate(a.retention_rate), rateDetail(a.retention_rate, "customers"), "retention-rate"),
      )),
    h("s-section", { heading: "Customer lifetime value" },
      grid(
        metric("Predicted lifetime value", money(clv.predicted_minor, cur),
          `${money(clv.average_order_value_minor, cur)} per order × ${clv.purchase_frequency ?? "—"} orders a year × ${clv.lifespan_years ?? "—"} years`, "clv"),
        metric("Observed value per customer", money(clv.observed_per_customer_minor, cur), "revenue so far ÷ customers", "observed-value"),
      )),
    h("s-section", { heading: "Members and non-members" },
      grid(
        metric("Member revenue", money(m.revenue_minor, cur), `${count(m.orders)} orders · ${money(m.aov_minor, cur)} average order`, "member-revenue"),
        metric("Non-member revenue", money(nm.revenue_minor, cur), `${count(nm.orders)} orders · ${money(nm.aov_minor, cur)} average order`, "non-member-revenue"),
        metric("Referral revenue", money(a.referrals?.revenue_minor, cur), `${count(a.referrals?.completed)} completed referrals`, "referral-revenue"),
      )),
    h("s-section", { heading: "Trend" },
      trend.length === 0
        ? h("s-paragraph", { color: "subdued" }, "No orders in this period yet.")
        : h("s-stack", { gap: "large" },
          h("s-heading", {}, "Revenue"),
          lineChart({
            title: "Revenue over time",
            labels: trend.map((t) => shortDay(t.start)),
            series: [
              { name: "All revenue", values: trend.map((t) => t.revenue_minor) },
              { name: "Member revenue", values: trend.map((t) => t.member_revenue_minor) },
            ],
            format: (v) => money(Math.round(v), cur),
          }),
          h("s-heading", {}, "Points"),
          lineChart({
            title: "Points over time",
            labels: trend.map((t) => shortDay(t.start)),
            series: [
              { name: "Issued", values: trend.map((t) => t.points_issued) },
              { name: "Redeemed", values: trend.map((t) => t.points_redeemed) },
            ],
            format: (v) => count(Math.round(v)),
          }))),
    h("s-section", { heading: "Tier distribution" },
      tiers.length === 0
        ? h("s-paragraph", { color: "subdued" }, "No tiers are configured.")
        : barChart(tiers.map((t) => ({ label: t.name, value: t.customers, text: `${count(t.customers)} customers` })), "Customers per tier"),
      tiers.length === 0 ? null : table(["Tier", "Customers"], tiers.map((t) => [t.name, count(t.customers)]))),
  ];
}

// Win-back: at-risk customers who got the offer against the holdout that
// got none; the lift is the difference of their rates.
function winbackSection(w) {
  const cur = w.currency;
  const offered = w.offered || {};
  const holdout = w.holdout || {};
  const none = w.no_offer || {};
  const episodes = (offered.episodes || 0) + (holdout.episodes || 0) + (none.episodes || 0);
  const lift = w.lift_points === null || w.lift_points === undefined ? "—" : `${w.lift_points.startsWith("-") ? "" : "+"}${w.lift_points} points`;
  const grid = (...items) => h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(190px, 1fr))", gap: "base", class: "metrics" }, ...items);
  return h("s-section", { heading: "Win-back", id: "winback" },
    h("s-stack", { gap: "base" },
      w.enabled ? null : h("s-paragraph", { color: "subdued" }, "Win-back offers are off: at-risk customers are measured but get nothing. Turn them on in Program."),
      episodes === 0
        ? h("s-paragraph", { color: "subdued" }, "No customer became at risk in this period.")
        : grid(
          metric("Win-back rate with the offer", rate(offered.win_back_rate), rateDetail(offered.win_back_rate, "at-risk customers came back"), "winback-rate"),
          metric("Win-back rate of the holdout", rate(holdout.win_back_rate), rateDetail(holdout.win_back_rate, "came back without an offer"), "winback-holdout-rate"),
          metric("Lift", lift, "offered rate minus holdout rate", "winback-lift"),
          metric("Recovered revenue", money(offered.recovered_revenue_minor, cur),
            `${money(offered.revenue_per_episode_minor, cur)} per customer offered · ${money(holdout.revenue_per_episode_minor, cur)} per holdout customer`, "winback-revenue"),
          metric("Offers issued", `${count(w.cost?.points_issued)} points`, `${count(w.cost?.codes_issued)} discount codes`, "winback-cost"),
        )));
}

// Reorder reminders: customers reminded against those held out; a reorder
// is the product bought within the attribution window after the reminder.
function reorderSection(r) {
  const cur = r.currency;
  const report = r.report || {};
  const reminded = report.reminded || {};
  const held = report.held_out || {};
  const total = (reminded.reminders || 0) + (held.reminders || 0);
  const grid = (...items) => h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(190px, 1fr))", gap: "base", class: "metrics" }, ...items);
  return h("s-section", { heading: "Reorder reminders", id: "reorder" },
    h("s-stack", { gap: "base" },
      r.enabled ? null : h("s-paragraph", { color: "subdued" }, "Reorder reminders are off: products are learned but no one is reminded. Turn them on in Program."),
      total === 0
        ? h("s-paragraph", { color: "subdued", "data-role": "reorder-empty" }, "No reminder came due in this period.")
        : grid(
          metric("Reordered after a reminder", rate(r.reminded_rate), rateDetail(r.reminded_rate, `reminders, within ${report.attribution_days} days`), "reorder-rate"),
          metric("Reordered without one (holdout)", rate(r.held_out_rate), rateDetail(r.held_out_rate, "held out"), "reorder-holdout-rate"),
          metric("Revenue of reminded reorders", money(reminded.revenue_minor, cur), `${money(held.revenue_minor, cur)} from the holdout's reorders`, "reorder-revenue"),
        )));
}

function shortDay(value) {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" }).format(d);
}
