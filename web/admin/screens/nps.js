// NPS: the post-purchase survey's score for a period (promoters minus
// detractors, as a percentage), month by month, by segment and by tier at
// the time of the answer, and the shoppers' comments, newest first.

import { api } from "../api.js";
import { h, fill, appHref, errorBanner, loading, metric, table } from "../ui.js";
import { count, when } from "../format.js";
import { lineChart } from "../charts.js";

const PERIODS = [
  ["30d", "Last 30 days"],
  ["90d", "Last 90 days"],
  ["365d", "Last 365 days"],
];

const TONES = { promoter: "success", passive: "neutral", detractor: "critical" };

/** "42.9" -> "42.9", null -> "—"; the sign is the NPS's own. */
function score(s) {
  return s === null || s === undefined ? "—" : s;
}

function breakdown(groups, first, empty) {
  return table([first, "NPS", "Answers", "Promoters", "Passives", "Detractors"], groups.map((g) => [
    g.label, h("s-text", { type: "strong", "data-nps": g.key }, score(g.nps)), count(g.responses),
    count(g.promoters), count(g.passives), count(g.detractors),
  ]), empty);
}

export async function render(ctx) {
  const params = ctx.params();
  const period = PERIODS.some(([k]) => k === params.get("period")) ? params.get("period") : "90d";
  const page = Math.max(1, Number.parseInt(params.get("page") || "1", 10) || 1);
  const body = h("s-stack", { gap: "base", id: "nps-body" }, loading("Loading the answers"));
  const select = h("s-select", { label: "Period", value: period, id: "nps-period" },
    PERIODS.map(([value, label]) => h("s-option", { value }, label)));
  select.addEventListener("change", () => ctx.navigate({ screen: "nps", period: select.value }));

  try {
    const data = await api("GET", `/api/admin/nps?period=${encodeURIComponent(period)}&page=${page}`);
    fill(body, ...figures(data, ctx, period, page));
  } catch (e) {
    fill(body, errorBanner(e, "The answers could not be loaded"));
  }
  return h("s-page", { heading: "Net Promoter Score", inlineSize: "large" },
    h("s-section", {}, h("s-stack", { direction: "inline", gap: "base", alignItems: "end" }, h("div", { class: "period" }, select))),
    body);
}

function figures(d, ctx, period, page) {
  const o = d.overall || {};
  const months = d.months || [];
  const comments = d.comments || { items: [] };
  const grid = (...items) => h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(190px, 1fr))", gap: "base", class: "metrics" }, ...items);
  const off = d.enabled === false
    ? h("s-banner", { tone: "info", heading: "The survey is off", "data-role": "nps-off" },
      h("s-paragraph", {}, "Shoppers are not asked at the moment. Turn it on in the Program screen."))
    : null;
  const pager = h("s-stack", { direction: "inline", gap: "base" },
    page > 1 ? h("s-link", { href: appHref({ screen: "nps", period, page: page - 1 }), id: "comments-newer" }, "Newer comments") : null,
    comments.has_more ? h("s-link", { href: appHref({ screen: "nps", period, page: page + 1 }), id: "comments-older" }, "Older comments") : null);
  return [
    off,
    h("s-section", { heading: "Overall" },
      grid(
        metric("NPS", score(o.nps), o.responses ? `(${count(o.promoters)} − ${count(o.detractors)}) ÷ ${count(o.responses)} answers` : "No answers yet", "nps"),
        metric("Answers", count(o.responses), d.bonus_points > 0 ? `${count(d.bonus_points)} points for each answer` : "no points for answering", "nps-answers"),
        metric("Promoters (9–10)", count(o.promoters), "would recommend you", "nps-promoters"),
        metric("Passives (7–8)", count(o.passives), "satisfied, not enthusiastic", "nps-passives"),
        metric("Detractors (0–6)", count(o.detractors), "unhappy", "nps-detractors"),
      )),
    h("s-section", { heading: "Month by month" },
      months.length === 0
        ? h("s-paragraph", { color: "subdued" }, "No answers in this period yet.")
        : h("s-stack", { gap: "base" },
          lineChart({
            title: "Answers per month",
            labels: months.map((m) => m.label),
            series: [
              { name: "Promoters", values: months.map((m) => m.promoters) },
              { name: "Passives", values: months.map((m) => m.passives) },
              { name: "Detractors", values: months.map((m) => m.detractors) },
            ],
            format: (v) => count(Math.round(v)),
          }),
          breakdown(months, "Month", ""))),
    h("s-section", { heading: "By segment" },
      h("s-paragraph", { color: "subdued" }, "The customer's segment when they answered."),
      breakdown(d.by_segment || [], "Segment", "No answers in this period yet.")),
    h("s-section", { heading: "By tier" },
      h("s-paragraph", { color: "subdued" }, "The customer's VIP tier when they answered."),
      breakdown(d.by_tier || [], "Tier", "No answers in this period yet.")),
    h("s-section", { heading: "Comments" },
      h("s-stack", { gap: "base", id: "nps-comments" },
        table(["Answered", "Score", "Comment", "Order", "Customer"], comments.items.map((c) => [
          when(Date.parse(c.answered_at)),
          h("s-badge", { tone: TONES[c.category] || "neutral", "data-score": c.score }, `${c.score} · ${c.category}`),
          h("s-text", { "data-role": "comment" }, c.comment),
          c.order_name || String(c.order_id),
          h("s-link", { href: appHref({ screen: "customers", customer: c.customer_id }) }, c.customer_name || `Customer ${c.customer_id}`),
        ]), "No comments in this period."),
        pager)),
  ];
}
