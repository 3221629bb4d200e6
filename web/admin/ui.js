// Building Polaris web components from code, and the messages every
// screen shows. No HTML strings: text always goes in as text.

/**
 * `h("s-button", {variant: "primary", onclick: fn}, "Save")`. Keys starting
 * with `on` add listeners; `value`, `checked` and keys in `props` set
 * properties; `true` sets an empty attribute, `false`/null/undefined none.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "value" || key === "checked") {
      if (value !== undefined && value !== null && value !== false) el.setAttribute(key, key === "checked" ? "" : String(value));
      el[key] = key === "checked" ? Boolean(value) : String(value ?? "");
    } else if (value === true) {
      el.setAttribute(key, "");
    } else if (value !== false && value !== null && value !== undefined) {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A critical banner saying what went wrong, in words. */
export function errorBanner(error, heading = "Something went wrong") {
  const message = error && error.message ? error.message : String(error);
  return h("s-banner", { tone: "critical", heading, "data-role": "error" }, h("s-paragraph", {}, message));
}

/** A spinner with a label while something loads. */
export function loading(label = "Loading") {
  return h("s-stack", { direction: "inline", gap: "small-200", alignItems: "center" },
    h("s-spinner", { accessibilityLabel: label, size: "base" }), h("s-text", { color: "subdued" }, `${label}…`));
}

/** A small toast, through App Bridge (or its sandbox stand-in). */
export function toast(message, isError = false) {
  try {
    window.shopify?.toast?.show(message, { isError });
  } catch {
    // A toast is a courtesy; the screen shows the outcome itself.
  }
}

/** A table from headers and rows of cells (each a node or text). */
export function table(headers, rows, empty = "Nothing yet.") {
  if (rows.length === 0) return h("s-paragraph", { color: "subdued", "data-role": "empty" }, empty);
  return h("s-table", {},
    h("s-table-header-row", {}, headers.map((text, i) =>
      h("s-table-header", i === 0 ? { listSlot: "primary" } : {}, text))),
    h("s-table-body", {}, rows.map((cells) =>
      h("s-table-row", {}, cells.map((cell) => h("s-table-cell", {}, cell))))));
}

/** A key figure: label, value, and a line of detail. */
export function metric(label, value, detail, role) {
  return h("s-box", { class: "metric", padding: "base", background: "base", borderRadius: "base", border: "base", "data-metric": role || label },
    h("s-stack", { gap: "small-300" },
      h("s-text", { color: "subdued" }, label),
      h("s-heading", {}, value),
      detail ? h("s-text", { color: "subdued" }, detail) : null));
}

/** Runs `work` with the button in its loading state; errors go to `onError`. */
export async function busy(button, work) {
  button.loading = true;
  button.setAttribute("loading", "");
  try {
    return await work();
  } finally {
    button.loading = false;
    button.removeAttribute("loading");
  }
}

/**
 * A link to a screen of this page that keeps the shop, host and embedded
 * parameters: App Bridge may load it in a fresh frame (the title bar's
 * breadcrumb, the admin nav), and the page needs to know its shop.
 */
export function appHref(params) {
  const here = new URL(window.location.href).searchParams;
  const next = new URLSearchParams();
  for (const key of ["shop", "host", "embedded"]) if (here.has(key)) next.set(key, here.get(key));
  for (const [key, value] of Object.entries(params)) if (value !== null && value !== undefined && value !== "") next.set(key, String(value));
  return `/?${next}`;
}

/** The periods the figures screens offer. */
export const PERIODS = [
  ["30d", "Last 30 days"],
  ["90d", "Last 90 days"],
  ["365d", "Last 365 days"],
];

/**
 * A period select, starting from the URL's `period` (else `fallback`),
 * that keeps its choice in the URL and calls `onChange(period)`.
 */
export function periodSelect(ctx, fallback, onChange) {
  const wanted = ctx.params().get("period");
  const period = PERIODS.some(([k]) => k === wanted) ? wanted : fallback;
  const select = h("s-select", { label: "Period", value: period, id: "period" },
    PERIODS.map(([value, label]) => h("s-option", { value }, label)));
  select.addEventListener("change", () => {
    const url = new URL(window.location.href);
    url.searchParams.set("period", select.value);
    window.history.replaceState({}, "", url);
    onChange(select.value);
  });
  return select;
}
