// Hand-drawn SVG charts: a trend line chart and horizontal bars. Values are
// only turned into pixels here; labels come formatted from the caller.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const COLORS = ["#005bd3", "#29845a", "#b98900", "#8051ff", "#e51c00"];

/**
 * A line chart. `labels`: x labels; `series`: [{name, values}], values as
 * numbers or numeric strings; `format`: a value's label on the axis.
 */
export function lineChart({ labels, series, format = String, title }) {
  const width = 640;
  const height = 220;
  const pad = { left: 72, right: 16, top: 16, bottom: 32 };
  const all = series.flatMap((s) => s.values.map(Number));
  const max = Math.max(1, ...all);
  const n = Math.max(1, labels.length - 1);
  const x = (i) => pad.left + ((width - pad.left - pad.right) * i) / n;
  const y = (v) => pad.top + (height - pad.top - pad.bottom) * (1 - Number(v) / max);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title || "trend", class: "chart" });
  for (const fraction of [0, 0.5, 1]) {
    const yy = y(max * fraction);
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: yy, y2: yy, class: "grid" }));
    chart.append(svg("text", { x: pad.left - 8, y: yy + 4, "text-anchor": "end", class: "axis" }, format(max * fraction)));
  }
  const step = Math.max(1, Math.ceil(labels.length / 6));
  labels.forEach((label, i) => {
    if (i % step === 0 || i === labels.length - 1) {
      chart.append(svg("text", { x: x(i), y: height - 10, "text-anchor": "middle", class: "axis" }, label));
    }
  });
  series.forEach((s, k) => {
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", { points, fill: "none", stroke: COLORS[k % COLORS.length], "stroke-width": 2.5, "stroke-linejoin": "round" },
      svg("title", {}, s.name)));
    if (s.values.length === 1) {
      chart.append(svg("circle", { cx: x(0), cy: y(s.values[0]), r: 3, fill: COLORS[k % COLORS.length] }));
    }
  });
  const legend = document.createElement("div");
  legend.className = "legend";
  series.forEach((s, k) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = COLORS[k % COLORS.length];
    item.append(swatch, s.name);
    legend.append(item);
  });
  const box = document.createElement("div");
  box.className = "chart-box";
  box.append(chart, legend);
  return box;
}

/** Horizontal bars: [{label, value, text}] with `text` the value's label. */
export function barChart(bars, title) {
  const width = 640;
  const row = 30;
  const labelWidth = 120;
  const height = Math.max(row, bars.length * row) + 8;
  const max = Math.max(1, ...bars.map((b) => Number(b.value)));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title || "bars", class: "chart bars" });
  bars.forEach((b, i) => {
    const top = 4 + i * row;
    const w = ((width - labelWidth - 150) * Number(b.value)) / max;
    chart.append(svg("text", { x: labelWidth - 8, y: top + 18, "text-anchor": "end", class: "label" }, b.label));
    chart.append(svg("rect", { x: labelWidth, y: top + 4, width: Math.max(2, w), height: row - 10, rx: 4, fill: COLORS[i % COLORS.length] }));
    chart.append(svg("text", { x: labelWidth + Math.max(2, w) + 8, y: top + 18, class: "value" }, b.text));
  });
  return chart;
}
