// Segments: how the shop's buying customers divide into behaviour
// segments (recency, frequency, spend), what each brought in over the
// period, and how customers moved between them.

import { api } from "../api.js";
import { h, fill, errorBanner, loading, metric, table, toast, busy, periodSelect } from "../ui.js";
import { money, count, rate, day, when } from "../format.js";
import { barChart, lineChart } from "../charts.js";

export async function render(ctx) {
  const body = h("s-stack", { gap: "base", id: "segments-body" }, loading("Loading the segments"));
  const select = periodSelect(ctx, "90d", (key) => load(key));
  const recompute = h("s-button", { id: "recompute", slot: "secondary-actions" }, "Recompute now");
  recompute.addEventListener("click", () => busy(recompute, async () => {
    try {
      const data = await api("POST", `/api/admin/segments/recompute?period=${encodeURIComponent(select.value)}`);
      const done = data.recomputed || {};
      toast(done.baseline
        ? `Segments computed: ${count(done.customers ?? 0)} customers placed`
        : `Segments recomputed: ${count(done.changed ?? 0)} customers moved`);
      fill(body, ...figures(data));
    } catch (e) {
      fill(body, errorBanner(e, "The segments could not be recomputed"));
    }
  }));

  async function load(key) {
    fill(body, loading("Loading the segments"));
    try {
      fill(body, ...figures(await api("GET", `/api/admin/segments?period=${encodeURIComponent(key)}`)));
    } catch (e) {
      fill(body, errorBanner(e, "The segments could not be loaded"));
    }
  }
  load(select.value);

  return h("s-page", { heading: "Segments", inlineSize: "large" },
    recompute,
    h("s-section", {}, h("s-stack", { direction: "inline", gap: "base", alignItems: "end" }, h("div", { class: "period" }, select))),
    body);
}

function figures(s) {
  const cur = s.currency;
  const rows = Array.isArray(s.segments) ? s.segments : [];
  const moves = Array.isArray(s.movements) ? s.movements : [];
  const notice = !s.enabled
    ? h("s-banner", { tone: "warning", heading: "Segments are off" },
      h("s-paragraph", {}, "Turn them on in Program → Segments; the figures below are from the last computation."))
    : null;
  if (!s.computed_at) {
    return [notice, h("s-paragraph", { color: "subdued", "data-role": "empty" },
      "Not computed yet: segments are computed daily once customers have orders, or now with “Recompute now”.")];
  }
  const source = s.thresholds_source === "merchant" ? "your thresholds" : "thresholds from your orders (quintiles)";
  const weeks = s.weeks || 0;
  const start = s.from;
  const weekLabel = (i) => day(start + i * 7 * 86400000);
  const entered = rows.filter((r) => (r.weekly_entries || []).some((n) => n > 0));
  return [
    notice,
    h("s-text", { color: "subdued" },
      `${day(s.from)} – ${day(s.to)} · computed ${when(s.computed_at)} · ${source}`),
    h("s-section", { heading: "Segment sizes" },
      h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(190px, 1fr))", gap: "base", class: "metrics" },
        metric("Segmented customers", count(s.customers), "customers with a counted order", "segmented"),
        ...rows.filter((r) => r.customers > 0).map((r) =>
          metric(r.label, count(r.customers), `${rate(r.share)} · ${money(r.revenue_minor, cur)} in the period`, `segment-${r.slug}`))),
      barChart(rows.map((r) => ({ label: r.label, value: r.customers, text: `${count(r.customers)} customers` })), "Customers per segment")),
    h("s-section", { heading: "Revenue by segment" },
      table(["Segment", "Customers", "Share", "Orders", "Revenue", "Average order"],
        rows.map((r) => [r.label, count(r.customers), rate(r.share), count(r.orders), money(r.revenue_minor, cur), money(r.average_order_minor, cur)]))),
    h("s-section", { heading: "Movements" },
      table(["From", "To", "Customers"],
        moves.map((m) => [m.from_label, m.to_label, count(m.customers)]),
        "Nobody moved between segments in this period.")),
    h("s-section", { heading: "Weekly entries" },
      entered.length === 0
        ? h("s-paragraph", { color: "subdued", "data-role": "empty" }, "Nobody entered a segment in this period (a shop's first computation is not counted).")
        : lineChart({
          title: "Customers entering each segment per week",
          labels: Array.from({ length: weeks }, (_, i) => weekLabel(i)),
          series: entered.map((r) => ({ name: r.label, values: r.weekly_entries })),
          format: (v) => count(Math.round(v)),
        })),
  ];
}
