// Customers: search and list with balance and tier; a customer's detail
// with the ledger and the earning actions they did (a review, a newsletter
// signup, ...), each of which can be reversed; a manual adjustment with a
// reason. An adjustment carries an idempotency key made when the form is
// shown, so a double click or a retry after a lost answer moves the points
// once.

import { api, download, newKey, ApiError } from "../api.js";
import { h, fill, appHref, errorBanner, loading, table, toast, busy } from "../ui.js";
import { money, count, when, signed, day } from "../format.js";
import { exponent, parseMinor } from "../earning.js";

function name(c) {
  const full = [c.first_name, c.last_name].filter(Boolean).join(" ");
  return full || c.email || `Customer ${c.customer_id}`;
}

export async function render(ctx) {
  const id = ctx.params().get("customer");
  return id ? detail(ctx, id) : list(ctx);
}

async function list(ctx) {
  const results = h("div", { id: "customer-results" });
  const search = h("s-search-field", { label: "Search customers", labelAccessibilityVisibility: "exclusive", placeholder: "Search by email, name or customer id", id: "customer-search", value: ctx.params().get("q") || "" });
  const go = h("s-button", { id: "customer-search-button" }, "Search");
  let pages = [0];

  async function load(after) {
    fill(results, loading("Searching"));
    const q = String(search.value || "").trim();
    try {
      const data = await api("GET", `/api/admin/customers?query=${encodeURIComponent(q)}&after=${after}&limit=25`);
      const customers = data.customers || [];
      const rows = customers.map((c) => {
        const open = h("s-link", { href: appHref({ screen: "customers", customer: c.customer_id }), "data-customer": c.customer_id }, name(c));
        return [open, c.email || "—", count(c.points_balance), count(c.points_pending), c.tier_id ? h("s-badge", { tone: "info" }, c.tier_id) : h("s-text", { color: "subdued" }, "None"),
          c.segment ? h("s-badge", {}, c.segment) : h("s-text", { color: "subdued" }, "—")];
      });
      const prev = h("s-button", { disabled: pages.length <= 1 }, "Previous");
      prev.addEventListener("click", () => { pages.pop(); load(pages[pages.length - 1]); });
      const next = h("s-button", { disabled: !data.next_after }, "Next");
      next.addEventListener("click", () => { pages.push(data.next_after); load(data.next_after); });
      fill(results, table(["Customer", "Email", "Points", "Pending", "Tier", "Segment"], rows,
        q ? `No customer matches “${q}”.` : "No customers yet. They appear as Shopify sends them."),
      (pages.length > 1 || data.next_after) ? h("s-stack", { direction: "inline", gap: "small-200" }, prev, next) : null);
    } catch (e) {
      fill(results, errorBanner(e, "The customers could not be loaded"));
    }
  }
  const start = () => { pages = [0]; load(0); };
  go.addEventListener("click", start);
  search.addEventListener("keydown", (e) => { if (e.key === "Enter") start(); });
  search.addEventListener("change", start);
  load(0);
  return h("s-page", { heading: "Customers" },
    h("s-section", {}, h("s-stack", { gap: "base" },
      h("s-stack", { direction: "inline", gap: "small-200", alignItems: "end" }, h("div", { class: "grow" }, search), go),
      results)),
    shopHistory(ctx),
    imports(),
    exports());
}

/** What a history import's state says, in words. */
function historyLine(i) {
  const mode = i.mode === "points" ? `with points for orders since ${day(i.points_since)}` : "for the dashboard, segments and tiers (no points)";
  switch (i.status) {
    case "done": return `Imported ${count(i.customers)} customers and ${count(i.orders)} orders ${mode}, ${when(i.finished_at)}.`;
    case "failed": return `The import stopped: ${i.error}. Start it again to go on.`;
    case "queued": return `Waiting to start (${mode}).`;
    default: {
      const left = i.remaining_secs != null ? `, about ${Math.max(1, Math.round(i.remaining_secs / 60))} min left` : "";
      return `Reading ${i.status}: ${count(i.customers)} customers and ${count(i.orders)} orders so far${left} (${mode}).`;
    }
  }
}

/** The shop's past: customers and orders read from Shopify once, so the
 * dashboard, segments and tiers start from the real history; optionally
 * points for orders since a day, with a preview of what they cost. */
function shopHistory(ctx) {
  const state = h("div", { id: "history-state" });
  const mode = h("s-select", { label: "What to import", value: "history", id: "history-mode" },
    h("s-option", { value: "history" }, "History for the dashboard, segments and tiers (no points)"),
    h("s-option", { value: "points" }, "History, and points for orders since a day"));
  const since = h("s-text-field", { label: "Points for orders since", details: "YYYY-MM-DD (UTC)", id: "history-since", value: isoDay(365), maxLength: 10 });
  const preview = h("s-button", { id: "history-preview" }, "Preview the points");
  const go = h("s-button", { id: "history-start", variant: "primary" }, "Import the history");
  const previewBox = h("div", { id: "history-preview-result" });
  let polling = null;

  function show(i) {
    if (!i) {
      fill(state, h("s-text", { color: "subdued" }, "Not imported yet."));
      return;
    }
    const open = ["queued", "customers", "orders"].includes(i.status);
    const bar = open ? h("progress", { max: "100", value: String(i.percent ?? 0), id: "history-progress", "aria-label": "History import progress" }) : null;
    fill(state, h("s-stack", { gap: "small-200", "data-history": i.status },
      h("s-text", {}, historyLine(i)), bar));
    go.disabled = open;
    clearTimeout(polling);
    if (open) polling = setTimeout(load, 1500);
  }
  async function load() {
    if (!state.isConnected && polling) return;
    try {
      show((await api("GET", "/api/admin/history")).import);
    } catch (e) {
      fill(state, errorBanner(e, "The history import could not be read"));
    }
  }
  const body = () => mode.value === "points" ? { mode: "points", points_since: String(since.value || "").trim() } : { mode: "history" };
  preview.addEventListener("click", () => busy(preview, async () => {
    fill(previewBox);
    try {
      const p = await api("GET", `/api/admin/history/preview?points_since=${encodeURIComponent(String(since.value || "").trim())}`);
      fill(previewBox, h("s-text", { "data-preview": p.points },
        `${count(p.orders)} orders since ${p.points_since} would earn ${count(p.points)} points, worth up to ${money(p.worth_minor, p.currency || ctx.currency)} if all were spent on your best fixed-amount reward. Orders count once their history is imported.`));
    } catch (e) {
      fill(previewBox, errorBanner(e, "The preview could not be computed"));
    }
  }));
  go.addEventListener("click", () => busy(go, async () => {
    try {
      show((await api("POST", "/api/admin/history", body())).import);
      toast("History import started");
    } catch (e) {
      fill(previewBox, errorBanner(e, "The import could not start"));
    }
  }));
  load();
  return h("s-section", { heading: "Your shop's history", id: "history" },
    h("s-stack", { gap: "base" },
      h("s-text", { color: "subdued" }, "Advocate reads your customers and past orders from Shopify once, after install, so the dashboard, segments and VIP tiers start from your real history. Orders from before you installed Advocate earn no points, unless you choose points for orders since a day: preview what that issues first. Importing again changes nothing already counted."),
      state,
      h("s-grid", { gridTemplateColumns: "minmax(220px, 2fr) minmax(140px, 1fr)", gap: "base", alignItems: "end" }, mode, since),
      h("s-stack", { direction: "inline", gap: "small-200" }, preview, go),
      previewBox));
}

const FIELDS = [
  ["customer_id", "Shopify customer id"],
  ["email", "Email"],
  ["points", "Points balance"],
  ["tier", "VIP tier"],
  ["referral_code", "Referral code or link"],
  ["birthday", "Birthday"],
];

/** Members from another loyalty app: a CSV file, its columns mapped, a dry
 * run that lists every row it cannot use, then the import (once per file). */
function imports() {
  const picker = h("input", { type: "file", accept: ".csv,text/csv", id: "import-file", "aria-label": "CSV file of members" });
  const mappingBox = h("div", { id: "import-mapping" });
  const result = h("div", { id: "import-result" });
  let file = null;
  let selects = {};

  const query = () => {
    const params = new URLSearchParams();
    for (const [field] of FIELDS) params.set(field, String(selects[field].value || ""));
    return params.toString();
  };
  const send = (path) => api("POST", `${path}?${query()}`, file, { contentType: "text/csv" });

  function report(r) {
    const problems = r.problems.map((p) => [String(p.line), p.reason]);
    const changes = r.changes.map((c) => [String(c.line), String(c.customer_id), signed(c.points), `${count(c.balance_before)} → ${count(c.balance_after)}`, c.tier || "—", c.referral_code || "—", c.birthday || "—"]);
    const headline = r.already_imported
      ? `This file was imported before: ${count(r.usable)} of ${count(r.rows)} rows, ${count(r.points)} points. Importing it again changes nothing.`
      : `${r.dry_run ? "Would import" : "Imported"} ${count(r.usable)} of ${count(r.rows)} rows: ${count(r.points)} points. ${count(r.problems_total)} rows cannot be used.`;
    return h("s-stack", { gap: "base", "data-import": r.dry_run ? "dry-run" : "import" },
      h("s-banner", { tone: r.problems_total ? "warning" : "success", heading: r.dry_run ? "Dry run" : "Import" }, h("s-paragraph", {}, headline)),
      r.changes_total ? h("s-stack", { gap: "small-200" },
        h("s-heading", {}, r.changes_total > r.changes.length ? `Changes (the first ${r.changes.length} of ${count(r.changes_total)})` : "Changes"),
        table(["Line", "Customer", "Points", "Balance", "Tier", "Referral code", "Birthday"], changes)) : null,
      r.problems_total ? h("s-stack", { gap: "small-200", id: "import-problems" },
        h("s-heading", {}, r.problems_total > r.problems.length ? `Rows it cannot use (the first ${r.problems.length} of ${count(r.problems_total)})` : "Rows it cannot use"),
        table(["Line", "Why"], problems)) : null);
  }

  const check = h("s-button", { id: "import-dry-run" }, "Check (dry run)");
  const run = h("s-button", { id: "import-run", variant: "primary", disabled: true }, "Import");
  check.addEventListener("click", () => busy(check, async () => {
    fill(result, loading("Checking"));
    try {
      const r = await send("/api/admin/imports/members/dry-run");
      fill(result, report(r));
      run.disabled = r.already_imported || r.usable === 0;
    } catch (e) {
      run.disabled = true;
      fill(result, errorBanner(e, "The file could not be checked"));
    }
  }));
  run.addEventListener("click", () => busy(run, async () => {
    try {
      const r = await send("/api/admin/imports/members");
      fill(result, report(r));
      run.disabled = true;
      toast(r.already_imported ? "Already imported" : "Members imported");
    } catch (e) {
      fill(result, errorBanner(e, "The file could not be imported"));
    }
  }));

  picker.addEventListener("change", async () => {
    fill(result);
    run.disabled = true;
    const chosen = picker.files && picker.files[0];
    if (!chosen) { fill(mappingBox); return; }
    fill(mappingBox, loading("Reading the file"));
    try {
      file = await chosen.text();
      const seen = await api("POST", "/api/admin/imports/members/inspect", file, { contentType: "text/csv" });
      const format = seen.formats.find((f) => f.id === seen.format);
      selects = {};
      for (const [field, label] of FIELDS) {
        selects[field] = h("s-select", { label, value: seen.mapping[field] || "", "data-field": field },
          h("s-option", { value: "" }, "Not imported"),
          seen.columns.filter(Boolean).map((c) => h("s-option", { value: c }, c)));
      }
      fill(mappingBox, h("s-stack", { gap: "base" },
        h("s-text", { "data-format": seen.format }, `${count(seen.rows)} rows. Columns read as: ${format ? format.name : seen.format}. Check the mapping, then run a dry run.`),
        seen.imported ? h("s-banner", { tone: "info", heading: "Imported before" }, h("s-paragraph", {}, "This file was imported before; importing it again changes nothing.")) : null,
        h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(200px, 1fr))", gap: "base" }, FIELDS.map(([field]) => selects[field])),
        h("s-stack", { direction: "inline", gap: "small-200" }, check, run)));
    } catch (e) {
      fill(mappingBox, errorBanner(e, "The file could not be read"));
    }
  });

  return h("s-section", { heading: "Import from another loyalty app", id: "imports" },
    h("s-stack", { gap: "base" },
      h("s-text", { color: "subdued" }, "A CSV of point balances (and optionally VIP tier, referral code and birthday), matched to your customers by Shopify customer id or email. Files exported from Smile.io, Rivo, Yotpo, Growave, BON and Joy are recognised; any CSV works with a mapping. Balances are added to what customers hold, once per file."),
      picker, mappingBox, result));
}

/** ISO date (YYYY-MM-DD) of `daysAgo` days before today, in UTC. */
function isoDay(daysAgo) {
  return new Date(Date.now() - daysAgo * 86400000).toISOString().slice(0, 10);
}

/** The members and the ledger of a period as CSV files (spreadsheets, a
 * warehouse, another app). */
function exports() {
  const result = h("div", { id: "export-result" });
  const members = h("s-button", { id: "export-members" }, "Download members (CSV)");
  const from = h("s-text-field", { label: "Ledger from", details: "YYYY-MM-DD (UTC)", id: "export-from", value: isoDay(29), maxLength: 10 });
  const to = h("s-text-field", { label: "Ledger to", details: "Included", id: "export-to", value: isoDay(0), maxLength: 10 });
  const ledger = h("s-button", { id: "export-ledger" }, "Download ledger (CSV)");
  const saved = (what, bytes) => {
    fill(result, h("s-text", { color: "subdued", "data-export": what }, `${what} saved (${count(bytes)} bytes).`));
    toast(`${what} downloaded`);
  };
  members.addEventListener("click", () => busy(members, async () => {
    fill(result);
    try {
      saved("Members", await download("/api/admin/exports/members.csv", "advocate-members.csv"));
    } catch (e) {
      fill(result, errorBanner(e, "The members could not be exported"));
    }
  }));
  ledger.addEventListener("click", () => busy(ledger, async () => {
    fill(result);
    const f = String(from.value || "").trim();
    const t = String(to.value || "").trim();
    try {
      saved("Ledger", await download(`/api/admin/exports/ledger.csv?from=${encodeURIComponent(f)}&to=${encodeURIComponent(t)}`, "advocate-ledger.csv"));
    } catch (e) {
      fill(result, errorBanner(e, "The ledger could not be exported"));
    }
  }));
  return h("s-section", { heading: "Export", id: "exports" },
    h("s-stack", { gap: "base" },
      h("s-text", { color: "subdued" }, "Members: balance, pending points, tier, segment and referral code. Ledger: every points movement of the period, with how the dashboard counts it."),
      h("s-stack", { direction: "inline" }, members),
      h("s-grid", { gridTemplateColumns: "minmax(140px, 200px) minmax(140px, 200px) auto", gap: "base", alignItems: "end" }, from, to, h("div", {}, ledger)),
      result));
}

async function detail(ctx, id) {
  const data = await api("GET", `/api/admin/customers/${encodeURIComponent(id)}`);
  const c = data.customer;
  const cur = ctx.currency;
  const back = h("s-link", { href: appHref({ screen: "customers" }), slot: "breadcrumb-actions" }, "Customers");
  const summary = h("s-section", { heading: "Points", id: "customer-points" },
    h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(160px, 1fr))", gap: "base" },
      figure("Balance", count(data.points_balance), "balance"),
      figure("Pending", count(data.points_pending), "pending"),
      figure("Tier", data.tier ? data.tier.name : "None", "tier"),
      figure("Next tier", data.next_tier ? `${data.next_tier.name}: ${missing(data.next_tier.missing, cur)} to go` : "—", "next-tier"),
      figure("Segment", c.segment || "None", "segment")));
  const profile = h("s-section", { heading: "Profile" },
    h("s-stack", { gap: "small-200" },
      line("Email", c.email), line("Phone", c.phone), line("Customer id", String(c.customer_id)),
      line("Birthday", c.birthday), line("Referral code", data.referral_code), line("Customer since", c.shopify_created_at ? day(c.shopify_created_at) : null),
      c.redacted_at ? h("s-badge", { tone: "warning" }, "Personal data erased") : null));
  const ledger = (data.ledger || []).slice().reverse();
  const ledgerSection = h("s-section", { heading: "Ledger", id: "ledger" },
    table(["When", "Points", "Kind", "Reason", "By"], ledger.map((e) => [
      when(e.occurred_at),
      h("s-text", { tone: e.points < 0 ? "critical" : "success" }, signed(e.points)),
      e.kind,
      e.reason,
      e.actor || "system",
    ]), "No points have moved yet."));
  const orders = h("s-section", { heading: "Orders" },
    table(["Order", "Placed", "Total", "Refunded", "Points", "Status"], (data.orders || []).slice().reverse().map((o) => [
      o.name || String(o.order_id),
      when(o.processed_at),
      money(o.total_minor, o.currency || cur),
      o.refunded_minor ? money(o.refunded_minor, o.currency || cur) : "—",
      count(o.points_net),
      o.cancelled_at ? h("s-badge", { tone: "critical" }, "Cancelled") : h("s-badge", {}, [o.financial_status, o.award_state].filter(Boolean).join(" · ") || "—"),
    ]), "No orders yet."));
  return h("s-page", { heading: name(c) },
    back,
    summary,
    adjustment(ctx, c.customer_id),
    activities(ctx, c.customer_id),
    ledgerSection,
    orders,
    profile);
}

const ACTION_WORDS = {
  newsletter: "Newsletter signup",
  review: "Product review",
  social_follow: "Social follow",
  social_share: "Social share",
  custom: "Custom action",
};

/** What an activity was about: the product reviewed, the network, or nothing. */
function activitySubject(a) {
  if (a.subject === null || a.subject === undefined || a.subject === "") return h("s-text", { color: "subdued" }, "—");
  if (a.action === "review") return `Product ${a.subject}`;
  return a.subject;
}

function activityStatus(a) {
  if (a.status !== "reversed") return h("s-badge", { tone: "success", "data-status": a.status }, a.status === "awarded" ? "Awarded" : a.status);
  const detail = [`${count(a.clawed_back)} taken back`, a.unrecovered ? `${count(a.unrecovered)} could not be (balance too low)` : null].filter(Boolean).join(", ");
  return h("s-stack", { gap: "small-300", alignItems: "start" },
    h("s-badge", { tone: "warning", "data-status": a.status }, "Reversed"),
    h("s-text", { color: "subdued" }, `${a.reversed_at ? `${when(a.reversed_at)}: ` : ""}${detail}`));
}

/** The earning actions the customer did, newest first, each reversible
 * while it stands: its points are taken back, never below zero. */
function activities(ctx, customerId) {
  const box = h("div", { id: "activities" }, loading());
  function reverseButton(a) {
    const b = h("s-button", { tone: "critical", "data-reverse": a.id }, "Reverse");
    b.addEventListener("click", () => busy(b, async () => {
      try {
        const answer = await api("POST", `/api/admin/activities/${a.id}/reverse`);
        const r = answer.activity || {};
        toast(r.unrecovered ? `Reversed: ${count(r.unrecovered)} points could not be taken back` : "Activity reversed");
        // The balance and the ledger change with it.
        ctx.navigate({ screen: "customers", customer: customerId });
      } catch (e) {
        b.parentElement?.append(errorBanner(e, "The activity was not reversed"));
      }
    }));
    return b;
  }
  (async () => {
    try {
      const data = await api("GET", `/api/admin/customers/${encodeURIComponent(customerId)}/activities`);
      fill(box, table(["When", "Action", "Subject", "Points", "Status", ""], (data.activities || []).map((a) => [
        when(a.occurred_at),
        h("s-text", { "data-activity": a.id }, a.action === "custom" && a.name ? `${ACTION_WORDS.custom}: ${a.name}` : ACTION_WORDS[a.action] || a.action),
        activitySubject(a),
        h("s-text", { tone: a.status === "reversed" ? undefined : "success" }, signed(a.points)),
        activityStatus(a),
        a.status === "awarded" ? reverseButton(a) : "",
      ]), "No earning actions yet: reviews, newsletter signups, social follows and shares, and your custom actions appear here."));
    } catch (e) {
      fill(box, errorBanner(e, "The activities could not be loaded"));
    }
  })();
  return h("s-section", { heading: "Activities", id: "customer-activities" }, box);
}

function adjustment(ctx, customerId) {
  let key = newKey();
  const points = h("s-number-field", { label: "Points", details: "Negative to deduct", step: 1, id: "adjust-points" });
  const reason = h("s-text-field", { label: "Reason", details: "Shown in the ledger", id: "adjust-reason", maxLength: 500 });
  const result = h("div", { id: "adjust-result" });
  const submit = h("s-button", { variant: "primary", id: "adjust-submit" }, "Adjust points");
  for (const f of [points, reason]) f.addEventListener("input", () => { points.removeAttribute("error"); reason.removeAttribute("error"); key = newKey(); });
  submit.addEventListener("click", () => busy(submit, async () => {
    fill(result);
    const raw = String(points.value ?? "").trim();
    const text = String(reason.value ?? "").trim();
    let bad = false;
    if (!/^-?\d+$/.test(raw) || Number(raw) === 0) { points.setAttribute("error", "Enter a whole number of points, not zero"); bad = true; }
    if (!text) { reason.setAttribute("error", "Say why: the reason is kept in the ledger"); bad = true; }
    if (bad) return;
    try {
      await api("POST", `/api/admin/customers/${customerId}/adjustments`, { points: Number(raw), reason: text }, { idempotencyKey: key });
      toast("Points adjusted");
      ctx.navigate({ screen: "customers", customer: customerId });
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) {
        for (const fe of e.errors) (fe.field === "points" ? points : reason).setAttribute("error", fe.message);
      }
      fill(result, errorBanner(e, "The points were not adjusted"));
    }
  }));
  return h("s-section", { heading: "Adjust points", id: "adjust" },
    h("s-stack", { gap: "base" },
      h("s-grid", { gridTemplateColumns: "minmax(120px, 200px) 1fr", gap: "base" }, points, reason),
      h("s-stack", { direction: "inline" }, submit),
      result));
}

function figure(label, value, role) {
  return h("s-box", { padding: "base", border: "base", borderRadius: "base", class: "metric", "data-metric": role },
    h("s-stack", { gap: "small-300" }, h("s-text", { color: "subdued" }, label), h("s-heading", {}, value)));
}

function line(label, value) {
  return h("s-stack", { direction: "inline", gap: "small-200" },
    h("s-text", { color: "subdued" }, `${label}:`), h("s-text", {}, value || "—"));
}

function missing(m, cur) {
  if (!m) return "—";
  if (m.points !== undefined) return `${count(m.points)} points`;
  if (m.amount !== undefined) {
    const currency = m.currency || cur;
    const minor = parseMinor(m.amount, exponent(currency));
    return minor === null ? `${m.amount} ${currency}` : money(minor, currency);
  }
  return "—";
}
