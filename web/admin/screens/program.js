// Program: every setting of the loyalty engine (src/loyalty/settings.rs),
// checked here before saving and by the server on save; the server's field
// errors (by path, e.g. `tiers.levels[1].threshold`) are shown beside the
// fields. A live preview uses the engine's own earning rule (earning.js).

import { api, ApiError } from "../api.js";
import { h, fill, errorBanner, toast, busy } from "../ui.js";
import { exponent, parseMinor, pointsFor, formatMinor } from "../earning.js";
import { money, count } from "../format.js";
import { forecastPanel } from "../forecast.js";

const clone = (v) => JSON.parse(JSON.stringify(v));
/** Reorder products listed before "Show all". */
const PRODUCTS_SHOWN = 10;

/** Reads a dotted path with indexes (`rewards[1].name`). */
function getPath(obj, path) {
  return pathParts(path).reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
}

function setPath(obj, path, value) {
  const parts = pathParts(path);
  let o = obj;
  for (const k of parts.slice(0, -1)) o = o[k];
  o[parts[parts.length - 1]] = value;
}

function pathParts(path) {
  return path.replace(/\[(\d+)\]/g, ".$1").split(".").map((k) => (/^\d+$/.test(k) ? Number(k) : k));
}

export async function render(ctx) {
  const loaded = await api("GET", "/api/admin/program");
  const state = {
    version: loaded.version,
    currency: loaded.currency || ctx.currency,
    draft: clone(loaded.settings),
    fields: new Map(),
  };
  const exp = exponent(state.currency);
  const message = h("div", { id: "program-message" });
  const sections = h("s-stack", { gap: "base" });
  const save = h("s-button", { variant: "primary", id: "save-program", slot: "primary-action" }, "Save");
  const previewBox = h("div", { id: "preview" });
  const preview = { amount: "100.00", tier: "" };
  const forecast = forecastPanel({ currency: state.currency, draft: () => state.draft, saved: loaded.settings });

  function field(kind, path, label, extra = {}) {
    const value = getPath(state.draft, path);
    let el;
    if (kind === "checkbox") {
      el = h("s-checkbox", { label, checked: Boolean(value), "data-path": path, ...extra });
      el.addEventListener("change", () => { setPath(state.draft, path, Boolean(el.checked)); changed(el); });
    } else if (kind === "select") {
      el = h("s-select", { label, value: value ?? "", "data-path": path },
        extra.options.map(([v, text]) => h("s-option", { value: v }, text)));
      el.addEventListener("change", () => { setPath(state.draft, path, el.value); el.removeAttribute("error"); (extra.rerender || changed)(); forecast.changed(); });
    } else if (kind === "integer") {
      el = h("s-number-field", { label, value: value ?? "", step: 1, "data-path": path, details: extra.details, min: extra.min, max: extra.max });
      el.addEventListener("input", () => {
        const raw = String(el.value ?? "").trim();
        setPath(state.draft, path, /^-?\d+$/.test(raw) ? Number(raw) : raw);
        changed(el);
      });
    } else {
      el = h("s-text-field", { label, value: value ?? "", "data-path": path, details: extra.details, placeholder: extra.placeholder });
      el.addEventListener("input", () => {
        const raw = String(el.value ?? "");
        setPath(state.draft, path, extra.optional && raw.trim() === "" ? null : raw);
        changed(el);
      });
    }
    state.fields.set(path, el);
    return el;
  }

  /** After an edit: the edited field's error goes, the preview follows. */
  function changed(el) {
    if (el && el.removeAttribute) el.removeAttribute("error");
    renderPreview();
    forecast.changed();
  }

  function clearErrors() {
    for (const el of state.fields.values()) el.removeAttribute("error");
    fill(message);
  }

  const amountField = (path, label, extra = {}) => field("text", path, label, { details: `In ${state.currency}`, ...extra });

  /** The kind select and its value field. `storeCredit`: store credit is
   *  offered (rewards only; referral and win-back rewards are codes). */
  function rewardValueFields(base, value, rerender, storeCredit = false) {
    const options = [["amount_off", "Amount off"], ["percentage_off", "Percentage off"], ["free_shipping", "Free shipping"]];
    if (storeCredit) options.push(["free_product", "Free product"]);
    if (storeCredit) options.push(["store_credit", "Store credit"], ["points_as_cash", "Points as cash (store credit)"]);
    const kind = field("select", `${base}.kind`, "Kind", {
      options,
      rerender: () => {
        const v = getPath(state.draft, base);
        delete v.amount; delete v.percent; delete v.min_points; delete v.max_points; delete v.variant_id;
        if (v.kind === "free_product") v.variant_id = 0;
        if (v.kind === "amount_off" || v.kind === "store_credit") v.amount = formatMinor(5n * 10n ** BigInt(exp), exp);
        if (v.kind === "points_as_cash") Object.assign(v, { amount: formatMinor(10n ** BigInt(exp), exp), points_cost: 100, min_points: 500, max_points: 5000 });
        if (v.kind === "percentage_off") v.percent = 10;
        rerender();
      },
    });
    const out = [kind];
    if (value.kind === "amount_off") out.push(amountField(`${base}.amount`, "Amount off"));
    if (value.kind === "store_credit") out.push(amountField(`${base}.amount`, "Store credit", { details: `In ${state.currency}, credited to the customer's store credit account` }));
    if (value.kind === "free_product") {
      out.push(field("integer", `${base}.variant_id`, "Product variant id", { min: 1, details: "One unit of it free: a code worth its price, off it only" }));
      // App Bridge's resource picker, where the admin offers it.
      if (window.shopify?.resourcePicker) {
        const pick = h("s-button", {}, "Choose product");
        pick.addEventListener("click", async () => {
          const picked = await window.shopify.resourcePicker({ type: "variant", multiple: false });
          const id = Number(String(picked?.[0]?.id ?? "").split("/").pop());
          if (id > 0) { getPath(state.draft, base).variant_id = id; rerender(); }
        });
        out.push(h("s-stack", { direction: "inline" }, pick));
      }
    }
    if (value.kind === "points_as_cash") out.push(amountField(`${base}.amount`, "Store credit per points cost", { details: `In ${state.currency}: the shopper chooses how many points, in steps of the points cost` }),
      field("integer", `${base}.min_points`, "At least (points)", { min: 1 }), field("integer", `${base}.max_points`, "At most (points)", { min: 1 }));
    if (value.kind === "percentage_off") out.push(field("integer", `${base}.percent`, "Percent off", { min: 1, max: 100 }));
    return out;
  }

  const row = (...items) => h("s-grid", { gridTemplateColumns: "repeat(auto-fit, minmax(160px, 1fr))", gap: "base" }, ...items);

  function earningSection() {
    return h("s-section", { heading: "Earning", id: "section-earning" },
      h("s-stack", { gap: "base" },
        row(field("integer", "earning.points", "Points", { min: 1, max: 10000 }),
          amountField("earning.per_amount", "For every")),
        h("s-stack", { gap: "small-200" },
          field("checkbox", "earning.include_tax", "Count tax"),
          field("checkbox", "earning.include_shipping", "Count shipping"),
          field("checkbox", "earning.before_discounts", "Earn on the price before discounts"),
          field("checkbox", "earning.include_test_orders", "Test orders earn")),
        h("s-heading", {}, "Channels that earn"),
        h("s-stack", { gap: "small-200" },
          field("checkbox", "earning.channels.online", "Online store and other channels"),
          field("checkbox", "earning.channels.pos", "Point of sale"),
          field("checkbox", "earning.channels.draft_orders", "Draft orders")),
        row(field("select", "earning.award_on", "Award points when the order is", { options: [["paid", "Paid"], ["fulfilled", "Fulfilled"]] }),
          field("integer", "earning.pending_days", "Return window (days before points can be spent)", { min: 0, max: 365 })),
        row(field("integer", "earning.signup_points", "Points for creating an account", { min: 0 }),
          field("integer", "earning.birthday_points", "Points on the customer's birthday", { min: 0 })),
        row(field("integer", "earning.anniversary_points", "Points on each anniversary of joining (0: none)", { min: 0 }))),
      h("s-divider", {}),
      h("s-heading", {}, "Preview"),
      previewBox);
  }

  function renderPreview() {
    const tiers = state.draft.tiers?.levels || [];
    const amount = h("s-text-field", { label: "Order amount", value: preview.amount, details: `Eligible amount in ${state.currency}`, id: "preview-amount" });
    amount.addEventListener("input", () => { preview.amount = String(amount.value ?? ""); renderSentence(); });
    const tier = h("s-select", { label: "Customer's tier", value: preview.tier, id: "preview-tier" },
      h("s-option", { value: "" }, "No tier"),
      tiers.map((t) => h("s-option", { value: t.id }, t.name || t.id)));
    tier.addEventListener("change", () => { preview.tier = tier.value; renderSentence(); });
    const sentence = h("s-paragraph", { id: "preview-sentence" });
    function renderSentence() {
      fill(sentence, previewSentence(state.draft, preview, state.currency, exp));
    }
    renderSentence();
    fill(previewBox, h("s-stack", { gap: "base" }, row(amount, tier), sentence));
  }

  /** The actions besides orders that earn points: a newsletter signup, a
   * product review, a social follow or share, and the shop's own actions
   * (recorded through the REST API). 0 points: the action is off. */
  function actionsSection() {
    const box = h("s-section", { heading: "Earning actions", id: "section-actions" });
    const a = normalizedActions(state.draft);
    const pointsField = (path, label) => field("integer", path, label, { min: 0, max: 100000, details: "0: the action is off" });

    /** How often an action earns: `{per, max}`, at most `max` times per period. */
    const limitFields = (base) => [
      field("select", `${base}.per`, "How often", { options: LIMIT_PERIODS }),
      field("integer", `${base}.max`, "At most (times)", { min: 1, max: 100, details: "1 to 100" }),
    ];

    function draw() {
      for (const key of [...state.fields.keys()]) if (key.startsWith("actions.")) state.fields.delete(key);
      const follow = a.social_follow;
      const share = a.social_share;
      // A server error on the list, or on one of its items, shows on a box.
      const placeShareErrors = () => {
        for (const key of [...state.fields.keys()]) if (key.startsWith("actions.social_share.networks")) state.fields.delete(key);
        share.networks.forEach((n, i) => state.fields.set(`actions.social_share.networks[${i}]`, shareBoxes[SHARE_NETWORKS.findIndex(([k]) => k === n)] || shareBoxes[0]));
        state.fields.set("actions.social_share.networks", shareBoxes[0]);
      };
      const shareBoxes = SHARE_NETWORKS.map(([network, label]) => {
        const el = h("s-checkbox", { label, checked: share.networks.includes(network), "data-share": network });
        el.addEventListener("change", () => {
          const chosen = new Set(share.networks);
          if (el.checked) chosen.add(network); else chosen.delete(network);
          share.networks = SHARE_NETWORKS.map(([n]) => n).filter((n) => chosen.has(n));
          for (const b of shareBoxes) b.removeAttribute("error");
          placeShareErrors();
          changed();
        });
        return el;
      });
      placeShareErrors();

      fill(box, h("s-stack", { gap: "base" },
        h("s-paragraph", { color: "subdued" }, "Points for what customers do besides ordering. Set the points to 0 to turn an action off. Reviews and custom actions are recorded by your review app or your own systems through the REST API (an API key with the write_activities scope); social follows and shares are claimed by shoppers in the loyalty widget."),
        h("s-heading", {}, "Newsletter signup"),
        row(pointsField("actions.newsletter.points", "Points for subscribing to email marketing")),
        h("s-paragraph", { color: "subdued" }, "Once per customer, when they subscribe; customers already subscribed when Advocate first saw them earn nothing."),
        h("s-heading", {}, "Product reviews"),
        row(pointsField("actions.review.points", "Points per review"), ...limitFields("actions.review.limit")),
        h("s-paragraph", { color: "subdued" }, "One review per product per customer earns; the limit caps how many reviews earn in a period."),
        h("s-heading", {}, "Social follows"),
        row(pointsField("actions.social_follow.points", "Points per network followed")),
        follow.networks.length === 0 ? h("s-paragraph", { color: "subdued" }, "No networks to follow yet.") : null,
        follow.networks.map((n, i) => {
          const remove = h("s-button", { tone: "critical", variant: "tertiary", "data-remove-follow": i }, "Remove");
          remove.addEventListener("click", () => { follow.networks.splice(i, 1); draw(); changed(); });
          return h("s-grid", { gridTemplateColumns: "minmax(140px, 1fr) minmax(220px, 3fr) auto", gap: "base", alignItems: "end", "data-follow": i },
            field("select", `actions.social_follow.networks[${i}].network`, "Network", { options: NETWORKS }),
            field("text", `actions.social_follow.networks[${i}].url`, "Profile URL", { placeholder: "https://instagram.com/yourshop" }),
            h("div", {}, remove));
        }),
        addButton("Add network to follow", () => {
          const used = new Set(follow.networks.map((n) => n.network));
          const next = (NETWORKS.find(([n]) => !used.has(n)) || NETWORKS[0])[0];
          follow.networks.push({ network: next, url: "https://" });
          draw(); changed();
        }, "add-follow"),
        h("s-heading", {}, "Social shares"),
        row(pointsField("actions.social_share.points", "Points per network shared on")),
        h("s-stack", { gap: "small-200", id: "share-networks" }, h("s-text", {}, "Networks shoppers can share on (once each)"), shareBoxes),
        h("s-heading", {}, "Custom actions"),
        a.custom.length === 0 ? h("s-paragraph", { color: "subdued" }, "None yet: add one for anything your own systems record, e.g. a style quiz.") : null,
        a.custom.map((c, i) => {
          const remove = h("s-button", { tone: "critical", variant: "tertiary" }, "Remove");
          remove.addEventListener("click", () => { a.custom.splice(i, 1); draw(); changed(); });
          return h("s-box", { padding: "base", border: "base", borderRadius: "base", class: "item", "data-custom": i },
            h("s-stack", { gap: "base" },
              row(field("text", `actions.custom[${i}].name`, "Name", { details: "a-z, 0-9 and _, up to 40: the API refers to it" }),
                field("text", `actions.custom[${i}].label`, "Label", { details: "Shown to customers, up to 80 characters" }),
                pointsField(`actions.custom[${i}].points`, "Points")),
              row(...limitFields(`actions.custom[${i}].limit`)),
              h("s-stack", { direction: "inline" }, remove)));
        }),
        addButton("Add custom action", () => {
          const names = new Set(a.custom.map((c) => c.name));
          let n = a.custom.length + 1;
          while (names.has(`action_${n}`)) n++;
          a.custom.push({ name: `action_${n}`, label: `Action ${n}`, points: 50, limit: { per: "ever", max: 1 } });
          draw(); changed();
        }, "add-custom")));
    }
    draw();
    return box;
  }

  function rewardsSection() {
    const box = h("s-section", { heading: "Rewards", id: "section-rewards" });
    function draw() {
      for (const key of [...state.fields.keys()]) if (key.startsWith("rewards[")) state.fields.delete(key);
      const rewards = state.draft.rewards;
      fill(box, h("s-stack", { gap: "base" },
        rewards.length === 0 ? h("s-paragraph", { color: "subdued" }, "No rewards: customers collect points but cannot spend them.") : null,
        rewards.map((r, i) => {
          const remove = h("s-button", { tone: "critical", variant: "tertiary" }, "Remove");
          remove.addEventListener("click", () => { rewards.splice(i, 1); draw(); changed(); });
          return h("s-box", { padding: "base", border: "base", borderRadius: "base", class: "item" },
            h("s-stack", { gap: "base" },
              row(field("text", `rewards[${i}].name`, "Name"), field("text", `rewards[${i}].id`, "Id", { details: "Stable: redemptions refer to it" }),
                field("integer", `rewards[${i}].points_cost`, "Points cost", { min: 1 })),
              r.kind === "store_credit" || r.kind === "points_as_cash"
                ? row(...rewardValueFields(`rewards[${i}]`, r, () => { draw(); changed(); }, true))
                : row(...rewardValueFields(`rewards[${i}]`, r, () => { draw(); changed(); }, true),
                  amountField(`rewards[${i}].minimum_order`, "Minimum order", { optional: true, placeholder: "None" }),
                  field("integer", `rewards[${i}].valid_days`, "Code valid for (days)", { min: 1, max: 3650 })),
              h("s-stack", { direction: "inline" }, remove)));
        }),
        h("s-heading", {}, "Store credit"),
        h("s-paragraph", { color: "subdued" }, "Store credit rewards go to the customer's Shopify store credit account: spent at checkout on every plan, nothing to enter. Customers need new customer accounts to spend it."),
        row(field("checkbox", "store_credit.notify", "Shopify emails the customer when credit is issued"),
          field("integer", "store_credit.expires_days", "Credit expires after (days, 0 for never)", { min: 0, max: 3650 })),
        row(field("text", "store_credit.cashback_percent", "Cashback instead of points (%)", {
          placeholder: "Off: orders earn points",
          details: "A share of each order credited as store credit when it is paid; refunds take back their share (never below zero).",
        })),
        addButton("Add reward", () => {
          const n = rewards.length + 1;
          rewards.push({ id: `reward-${n}`, name: `Reward ${n}`, kind: "amount_off", amount: formatMinor(5n * 10n ** BigInt(exp), exp), points_cost: 500, minimum_order: null, valid_days: 90 });
          draw(); changed();
        })));
    }
    draw();
    return box;
  }

  function tiersSection() {
    const box = h("s-section", { heading: "VIP tiers", id: "section-tiers" });
    function draw() {
      for (const key of [...state.fields.keys()]) if (key.startsWith("tiers.")) state.fields.delete(key);
      const t = state.draft.tiers;
      const spend = t.basis === "spend";
      fill(box, h("s-stack", { gap: "base" },
        row(field("select", "tiers.basis", "Tiers are reached by", { options: [["spend", "Money spent"], ["points_earned", "Points earned"]], rerender: () => { draw(); changed(); } }),
          field("select", "tiers.window", "Counted over", { options: [["lifetime", "The customer's lifetime"], ["rolling_12_months", "The last 12 months"]] })),
        t.levels.map((level, i) => {
          const remove = h("s-button", { tone: "critical", variant: "tertiary" }, "Remove");
          remove.addEventListener("click", () => { t.levels.splice(i, 1); draw(); changed(); });
          return h("s-box", { padding: "base", border: "base", borderRadius: "base", class: "item" },
            h("s-stack", { gap: "base" },
              row(field("text", `tiers.levels[${i}].name`, "Name"), field("text", `tiers.levels[${i}].id`, "Id", { details: "Stable: members stay when it is renamed" }),
                spend ? amountField(`tiers.levels[${i}].threshold`, "Spend to reach it")
                  : field("text", `tiers.levels[${i}].threshold`, "Points to reach it")),
              row(field("integer", `tiers.levels[${i}].multiplier_percent`, "Earning multiplier (%)", { min: 100, max: 1000, details: "150 earns 1.5 times the points" }),
                field("integer", `tiers.levels[${i}].entry_points`, "Points on reaching it", { min: 0 }),
                field("integer", `tiers.levels[${i}].perk_percent`, "Discount at checkout (%)", { min: 0, max: 100 }),
                field("integer", `tiers.levels[${i}].shipping_perk_percent`, "Shipping discount (%)", { min: 0, max: 100, details: "100 is free shipping" }),
                field("text", `tiers.levels[${i}].tag`, "Customer tag")),
              h("s-stack", { direction: "inline" }, remove)));
        }),
        addButton("Add tier", () => {
          const n = t.levels.length + 1;
          t.levels.push({ id: `tier-${n}`, name: `Tier ${n}`, threshold: spend ? formatMinor(BigInt(n) * 1000n * 10n ** BigInt(exp), exp) : String(n * 1000), multiplier_percent: 100, entry_points: 0, tag: `advocate-tier:tier-${n}`, perk_percent: 0, shipping_perk_percent: 0 });
          draw(); changed();
        })));
      renderPreview();
    }
    draw();
    return box;
  }

  function expirySection() {
    return h("s-section", { heading: "Expiry", id: "section-expiry" },
      h("s-stack", { gap: "base" },
        field("checkbox", "expiry.enabled", "Points expire after a stretch without activity"),
        row(field("integer", "expiry.inactive_months", "Months without activity", { min: 1, max: 120 }),
          field("integer", "expiry.warning_days", "Warn this many days before", { min: 0, max: 365 }))));
  }

  function npsSection() {
    return h("s-section", { heading: "Post-purchase survey (NPS)", id: "section-nps" },
      h("s-stack", { gap: "base" },
        field("checkbox", "nps.enabled", "Ask shoppers how likely they are to recommend the shop, on the thank-you and order-status pages"),
        row(field("integer", "nps.bonus_points", "Points for answering (once per order, 0 for none)", { min: 0 }))));
  }

  function referralsSection() {
    const box = h("s-section", { heading: "Referrals", id: "section-referrals" });
    function draw() {
      for (const key of [...state.fields.keys()]) if (key.startsWith("referrals.")) state.fields.delete(key);
      const r = state.draft.referrals;
      fill(box, h("s-stack", { gap: "base" },
        field("checkbox", "referrals.enabled", "Referrals are on"),
        h("s-heading", {}, "The friend's welcome discount"),
        row(...rewardValueFields("referrals.friend_reward", r.friend_reward, () => { draw(); changed(); }),
          field("integer", "referrals.friend_code_valid_days", "Code valid for (days)", { min: 1, max: 3650 }),
          amountField("referrals.minimum_order", "The friend's order must reach", { optional: true, placeholder: "No minimum" })),
        h("s-heading", {}, "The advocate's reward"),
        ...pointsOrCodeFields(r, "advocate_reward", "referrals.advocate_reward",
          "Once the friend's order is past the return window, the advocate gets", 500, draw),
        h("s-heading", {}, "Fraud limits"),
        row(field("integer", "referrals.cap_per_advocate", "Most referrals rewarded per advocate", { min: 0 }),
          field("integer", "referrals.burst_limit", "Hold for review above this many referrals", { min: 1 }),
          field("integer", "referrals.burst_window_hours", "…within this many hours", { min: 1, max: 720 }))));
    }
    draw();
    return box;
  }

  function segmentsSection() {
    const box = h("s-section", { heading: "Segments", id: "section-segments" });
    function draw() {
      for (const key of [...state.fields.keys()]) if (key.startsWith("segments.")) state.fields.delete(key);
      const sg = state.draft.segments;
      const own = h("s-checkbox", {
        label: "Use my own thresholds",
        checked: Boolean(sg.thresholds),
        details: "Off: the cut-offs are the quintiles of your own customers, recomputed daily.",
        id: "segments-own-thresholds",
      });
      own.addEventListener("change", () => {
        sg.thresholds = own.checked
          ? { recency_days: [14, 30, 90, 180], frequency: [1, 2, 3, 5], monetary_minor: [1, 2, 5, 10].map((n) => n * 5000 * 10 ** Math.max(0, exp - 2)) }
          : null;
        draw();
        changed();
      });
      const cuts = (key, label, details) => h("s-stack", { gap: "small-200" },
        h("s-text", {}, label),
        row(...[0, 1, 2, 3].map((i) => field("integer", `segments.thresholds.${key}[${i}]`, `Cut-off ${i + 1}`, { min: 0, details: i === 0 ? details : undefined }))));
      fill(box, h("s-stack", { gap: "base" },
        h("s-paragraph", { color: "subdued" },
          "Customers are scored 1–5 on how recently they ordered, how often and how much, and named: champions, loyal, promising, new, needs attention, at risk, hibernating, lost. Each gets the tag below followed by the segment (e.g. advocate-segment:at-risk)."),
        row(field("checkbox", "segments.enabled", "Segments are on"),
          field("text", "segments.tag_prefix", "Tag prefix")),
        own,
        sg.thresholds ? h("s-stack", { gap: "base", id: "segments-thresholds" },
          cuts("recency_days", "Days since the last order", "Four ascending numbers"),
          cuts("frequency", "Orders", "Four ascending numbers"),
          cuts("monetary_minor", `Spend, in minor units of ${state.currency}`, "Four ascending numbers")) : null));
    }
    draw();
    return box;
  }

  /** The kind select and its fields for a points-or-code reward at
   * `owner[key]` (`path`): points, or a discount code with its validity. */
  function pointsOrCodeFields(owner, key, path, label, defaultPoints, draw) {
    const reward = owner[key] || {};
    return [
      row(field("select", `${path}.kind`, label, {
        options: [["points", "Points"], ["discount", "A discount code"]],
        rerender: () => {
          const kind = owner[key].kind;
          owner[key] = kind === "points"
            ? { kind, points: defaultPoints }
            : { kind, value: { kind: "amount_off", amount: formatMinor(10n * 10n ** BigInt(exp), exp) }, valid_days: 90 };
          draw(); changed();
        },
      })),
      reward.kind === "points"
        ? row(field("integer", `${path}.points`, "Points", { min: 1 }))
        : row(...rewardValueFields(`${path}.value`, reward.value || {}, () => { draw(); changed(); }),
          field("integer", `${path}.valid_days`, "Code valid for (days)", { min: 1, max: 3650 })),
    ];
  }

  function winbackSection() {
    const box = h("s-section", { heading: "Win-back", id: "section-winback" });
    function draw() {
      for (const key of [...state.fields.keys()]) if (key.startsWith("winback.")) state.fields.delete(key);
      const w = state.draft.winback;
      fill(box, h("s-stack", { gap: "base" },
        h("s-paragraph", { color: "subdued" }, "A customer whose next order is overdue by their own rhythm (or the shop's, after one order) is at risk. Each time a customer becomes at risk they get the offer once; a share of them gets nothing, so the dashboard can show whether the offer brings customers back."),
        field("checkbox", "winback.enabled", "Send at-risk customers a win-back offer"),
        row(field("integer", "winback.grace_percent", "At risk once the usual interval has passed by (%)", { min: 100, max: 1000, details: "150: one and a half times the usual gap between orders" }),
          field("integer", "winback.holdout_percent", "Holdout: at-risk customers who get no offer (%)", { min: 0, max: 50 }),
          field("integer", "winback.attribution_days", "An order within this many days counts as a return", { min: 1, max: 365 })),
        h("s-heading", {}, "The offer"),
        ...pointsOrCodeFields(w, "offer", "winback.offer", "An at-risk customer gets", 250, draw)));
    }
    draw();
    return box;
  }

  // Reorder reminders: the settings (saved with the program), then the
  // products as learned, each with the merchant's own interval or switch
  // (saved at once, on its own).
  function reorderSection() {
    const box = h("s-section", { heading: "Reorder reminders", id: "section-reorder" });
    const products = h("div", { id: "reorder-products" }, h("s-spinner", { accessibilityLabel: "Loading the products" }));
    function draw() {
      for (const key of [...state.fields.keys()]) if (key.startsWith("reorder.")) state.fields.delete(key);
      const r = state.draft.reorder;
      const withCode = h("s-checkbox", { label: "Send a single-use discount code with each reminder", checked: Boolean(r.code), id: "reorder-with-code" });
      withCode.addEventListener("change", () => {
        r.code = withCode.checked ? { value: { kind: "percentage_off", percent: 10 }, valid_days: 14 } : null;
        draw(); changed();
      });
      fill(box, h("s-stack", { gap: "base" },
        h("s-paragraph", { color: "subdued" }, "Advocate learns from this shop's orders how often customers buy each product again. When a customer's next purchase comes due, the Loyalty reorder due trigger starts your Shopify Flow workflow once, and the storefront widget asks \"Time to restock?\". A share of reminders is held out, so the dashboard can show what the reminders bring."),
        field("checkbox", "reorder.enabled", "Remind customers when a product they buy again is due"),
        row(field("integer", "reorder.min_customers", "Customers who bought it again before its interval is learned", { min: 2, max: 1000 }),
          field("integer", "reorder.holdout_percent", "Holdout: reminders not sent (%)", { min: 0, max: 50 }),
          field("integer", "reorder.attribution_days", "A reorder within this many days counts", { min: 1, max: 90 })),
        withCode,
        r.code ? row(...rewardValueFields("reorder.code.value", r.code.value || {}, () => { draw(); changed(); }),
          field("integer", "reorder.code.valid_days", "Code valid for (days)", { min: 1, max: 3650 })) : null,
        h("s-heading", {}, "Products"),
        products));
    }
    draw();
    loadProducts();
    return box;

    async function loadProducts(request = api("GET", "/api/admin/reorder")) {
      try {
        drawProducts(await request);
      } catch (e) {
        fill(products, errorBanner(e, "The products could not be loaded"));
      }
    }

    function drawProducts(view, showAll = false) {
      const learn = h("s-button", { id: "reorder-learn" }, "Learn from the orders now");
      // A refusal (another round of the shop is running: 409) keeps the
      // list and says why.
      learn.addEventListener("click", () => busy(learn, async () => {
        try {
          drawProducts(await api("POST", "/api/admin/reorder/learn"));
        } catch (e) {
          toast(e instanceof ApiError && e.status === 409 ? capital(e.message) : "The products could not be learned", true);
        }
      }));
      const list = view.products || [];
      const shown = showAll ? list : list.slice(0, PRODUCTS_SHOWN);
      const more = list.length > shown.length ? h("s-button", { variant: "tertiary", id: "reorder-all" }, `Show all ${count(list.length)} products`) : null;
      more?.addEventListener("click", () => drawProducts(view, true));
      fill(products, h("s-stack", { gap: "base" },
        list.length === 0
          ? h("s-paragraph", { color: "subdued", "data-role": "reorder-none" }, "No product has been bought again yet. Advocate learns once a day; after importing the shop's history, learn now.")
          : h("s-stack", { gap: "small-300" }, shown.map(productRow)),
        h("s-stack", { direction: "inline", gap: "base" }, learn, more)));
    }

    function productRow(p) {
      const learned = p.learned_days === null
        ? `${count(p.repeat_customers)} bought it again: too few to learn`
        : `Every ${count(p.learned_days)} days (${count(p.repeat_customers)} customers)`;
      const days = h("s-number-field", { label: "Your interval (days)", labelAccessibilityVisibility: "exclusive", value: p.override_days ?? "", min: 1, max: 365, step: 1, placeholder: p.learned_days === null ? "days" : `${p.learned_days} (learned)`, "data-role": "reorder-days" });
      const on = h("s-checkbox", { label: "Remind", checked: p.enabled, "data-role": "reorder-on" });
      const save = h("s-button", { "data-role": "reorder-save" }, "Save");
      save.addEventListener("click", () => busy(save, async () => {
        days.removeAttribute("error");
        const raw = String(days.value ?? "").trim();
        if (raw !== "" && !/^\d+$/.test(raw)) return days.setAttribute("error", "Must be a whole number of days");
        try {
          drawProducts(await api("PUT", `/api/admin/reorder/products/${p.product_id}`, { override_days: raw === "" ? null : Number(raw), enabled: Boolean(on.checked) }));
          toast(`${p.title} saved`);
        } catch (e) {
          if (e instanceof ApiError && e.status === 422) return days.setAttribute("error", capital(e.errors[0]?.message || e.message));
          toast(`${p.title} was not saved`, true);
        }
      }));
      return h("s-grid", { gridTemplateColumns: "minmax(180px, 2fr) minmax(140px, 1fr) auto auto", gap: "base", alignItems: "center", "data-role": "reorder-product", "data-product": p.product_id },
        h("s-stack", { gap: "none" },
          h("s-text", { type: "strong" }, p.title),
          h("s-text", { color: "subdued", "data-role": "reorder-learned" }, learned),
          h("s-text", { color: "subdued", "data-role": "reorder-interval" }, p.interval_days === null ? "No reminders for it" : `Reminders ${count(p.interval_days)} days after each purchase`)),
        days, on, save);
    }
  }

  function offersSection() {
    return h("s-section", { heading: "Offers", id: "section-offers" },
      h("s-stack", { gap: "base" },
        h("s-paragraph", { color: "subdued" }, "Shown to logged-in customers in the loyalty widget and at checkout."),
        h("s-stack", { gap: "small-200" },
          field("checkbox", "offers.closest_reward", "Show the reward the customer is closest to"),
          field("checkbox", "offers.co_purchase", "Suggest products bought together with the customer's past orders")),
        row(field("integer", "offers.co_purchase_limit", "Products suggested at most", { min: 1, max: 12, details: "Counted from this shop's own orders" }))));
  }

  function addButton(label, onClick, id) {
    const b = h("s-button", { id }, label);
    b.addEventListener("click", onClick);
    return h("s-stack", { direction: "inline" }, b);
  }

  function showErrors(errors) {
    const unplaced = [];
    for (const e of errors) {
      const el = state.fields.get(e.field);
      if (el) el.setAttribute("error", capital(e.message));
      else unplaced.push(`${e.field}: ${e.message}`);
    }
    fill(message, h("s-banner", { tone: "critical", heading: "The settings were not saved", "data-role": "error" },
      h("s-paragraph", {}, `${errors.length} ${errors.length === 1 ? "value needs" : "values need"} fixing: see the fields marked in red.`),
      unplaced.length ? h("s-unordered-list", {}, unplaced.map((u) => h("s-list-item", {}, u))) : null));
    const first = errors.map((e) => state.fields.get(e.field)).find(Boolean);
    first?.scrollIntoView?.({ block: "center" });
  }

  function localProblems() {
    const problems = [];
    for (const [path, el] of state.fields) {
      if (el.tagName.toLowerCase() === "s-number-field") {
        const v = getPath(state.draft, path);
        if (typeof v !== "number" || !Number.isSafeInteger(v)) problems.push({ field: path, message: "must be a whole number" });
      }
    }
    return problems;
  }

  save.addEventListener("click", () => busy(save, async () => {
    clearErrors();
    const problems = localProblems();
    if (problems.length) return showErrors(problems);
    try {
      const saved = await api("PUT", "/api/admin/program", { settings: state.draft, version: state.version });
      state.version = saved.version;
      forecast.saved(clone(state.draft));
      fill(message, h("s-banner", { tone: "success", heading: "Saved", "data-role": "saved" },
        h("s-paragraph", {}, `The program is now at version ${saved.version}. New orders earn under it.`)));
      toast("Program saved");
    } catch (e) {
      if (e instanceof ApiError && e.status === 422 && e.errors.length) return showErrors(e.errors);
      if (e instanceof ApiError && e.status === 409) {
        fill(message, errorBanner(new Error("Someone else saved the program since you opened it. Reload the page to see their version, then make your change again."), "Not saved: the program changed"));
        return;
      }
      fill(message, errorBanner(e, "The settings were not saved"));
    }
  }));

  fill(sections, earningSection(), actionsSection(), rewardsSection(), tiersSection(), expirySection(), referralsSection(), segmentsSection(), winbackSection(), reorderSection(), npsSection(), offersSection());
  renderPreview();
  return h("s-page", { heading: "Program" }, save, message, forecast.element, sections);
}

const NETWORKS = [
  ["facebook", "Facebook"],
  ["instagram", "Instagram"],
  ["tiktok", "TikTok"],
  ["x", "X"],
  ["youtube", "YouTube"],
  ["pinterest", "Pinterest"],
  ["linkedin", "LinkedIn"],
];

// The networks with a page to share a link on (the server's SHARE_NETWORKS).
const SHARE_NETWORKS = NETWORKS.filter(([n]) => ["facebook", "x", "linkedin", "pinterest"].includes(n));

const LIMIT_PERIODS = [
  ["ever", "In total"],
  ["day", "Per day"],
  ["month", "Per month"],
];

/** `settings.actions`, with whatever a program saved before it existed
 * filled in as off. Edited in place: it is the draft's own object. */
function normalizedActions(settings) {
  const a = settings.actions && typeof settings.actions === "object" ? settings.actions : {};
  settings.actions = a;
  a.newsletter ??= { points: 0 };
  a.review ??= { points: 0, limit: { per: "month", max: 5 } };
  a.social_follow ??= { points: 0, networks: [] };
  a.social_follow.networks ??= [];
  a.social_share ??= { points: 0, networks: [] };
  a.social_share.networks ??= [];
  a.custom ??= [];
  for (const owner of [a.review, ...a.custom]) owner.limit ??= { per: "ever", max: 1 };
  return a;
}

function capital(s) {
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}

/** "An order of 100.00 earns 120 points at Gold." from the draft settings. */
export function previewSentence(settings, preview, currency, exp) {
  const base = parseMinor(preview.amount, exp);
  if (base === null || base < 0n) return `Enter an amount in ${currency} to see what it earns.`;
  const per = parseMinor(settings.earning?.per_amount, exp);
  if (per === null || per <= 0n) return "Set a positive amount for “For every” to see what an order earns.";
  if (!Number.isSafeInteger(settings.earning?.points)) return "Set the points to a whole number to see what an order earns.";
  const level = (settings.tiers?.levels || []).find((t) => t.id === preview.tier);
  const multiplier = level ? level.multiplier_percent : 100;
  if (!Number.isSafeInteger(multiplier)) return "Set the tier's multiplier to a whole number to see what an order earns.";
  const points = pointsFor(base, settings.earning, exp, multiplier);
  const where = level ? ` at ${level.name || level.id}` : " without a tier";
  return `An order of ${money(base, currency)} earns ${count(points)} ${points === 1n ? "point" : "points"}${where}.`;
}
