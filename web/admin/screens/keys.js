// API keys: the merchant's own systems call Advocate's REST API (/api/v1)
// with a key made here, with the scopes it needs. The key is shown once;
// Advocate keeps only its hash. A key can be revoked at any time.
// Webhook endpoints: where Advocate sends events (points changed, a tier
// reached, ...), signed with a secret that is shown once, when the
// endpoint is added. An endpoint can be disabled at any time.

import { api, ApiError } from "../api.js";
import { h, fill, errorBanner, loading, table, toast, busy } from "../ui.js";
import { when } from "../format.js";

const SCOPE_WORDS = {
  read_customers: "Read customers (points, tier, segment)",
  read_ledger: "Read the points ledger",
  write_points: "Adjust points",
  write_redemptions: "Redeem rewards for customers",
  read_program: "Read rewards and tiers",
  write_activities: "Record activities",
  manage_webhooks: "Manage webhook endpoints",
};

/** What each event topic means, for the topic checkboxes. */
const TOPIC_WORDS = {
  "points.changed": "A customer's points changed",
  "tier.changed": "A customer reached or left a VIP tier",
  "reward.redeemed": "A customer redeemed a reward",
  "referral.completed": "A referral was rewarded",
  "activity.recorded": "An earning action was recorded (review, newsletter, social, custom)",
  "customer.redacted": "A customer's personal data was erased",
};

export async function render() {
  const list = h("div", { id: "api-keys" }, loading());
  const created = h("div", { id: "api-key-created" });
  const name = h("s-text-field", { label: "Name", id: "api-key-name", details: "Which system uses it, e.g. Helpdesk", maxLength: 80 });
  const boxes = Object.entries(SCOPE_WORDS).map(([scope, label]) =>
    h("s-checkbox", { label, "data-scope": scope }));
  const create = h("s-button", { variant: "primary", id: "api-key-create" }, "Create key");

  async function load() {
    try {
      const data = await api("GET", "/api/admin/api-keys");
      fill(list, table(["Name", "Key", "Scopes", "Created", "Last used", ""], (data.keys || []).map((k) => [
        k.name,
        h("s-text", { color: "subdued" }, `adv_${k.prefix}_…`),
        k.scopes.join(", "),
        when(k.created_at),
        k.last_used_at ? when(k.last_used_at) : "Never",
        k.revoked_at ? h("s-badge", { tone: "critical" }, "Revoked") : revokeButton(k),
      ]), "No API keys yet."));
    } catch (e) {
      fill(list, errorBanner(e, "The API keys could not be loaded"));
    }
  }

  function revokeButton(k) {
    const b = h("s-button", { tone: "critical", "data-revoke": k.id }, "Revoke");
    b.addEventListener("click", () => busy(b, async () => {
      try {
        await api("POST", `/api/admin/api-keys/${k.id}/revoke`);
        toast(`Key ${k.name} revoked`);
        await load();
      } catch (e) {
        b.parentElement?.append(errorBanner(e, "The key could not be revoked"));
      }
    }));
    return b;
  }

  create.addEventListener("click", () => busy(create, async () => {
    const scopes = boxes.filter((b) => b.checked).map((b) => b.dataset.scope);
    try {
      const key = await api("POST", "/api/admin/api-keys", { name: String(name.value || ""), scopes });
      fill(created, h("s-banner", { tone: "success", heading: "Copy this key now: it is not shown again", "data-role": "new-key" },
        h("s-paragraph", {}, h("s-text", { type: "strong", id: "api-key-secret" }, key.secret)),
        h("s-paragraph", { color: "subdued" }, "Send it as Authorization: Bearer … to /api/v1. Advocate keeps only a hash of it.")));
      name.value = "";
      for (const b of boxes) b.checked = false;
      await load();
    } catch (e) {
      fill(created, errorBanner(e, "The key could not be created"));
    }
  }));

  load();
  return h("s-page", { heading: "API keys" },
    h("s-section", { heading: "Keys" },
      h("s-paragraph", { color: "subdued" }, "Your own systems (a helpdesk, a CRM, a review app) reach customers, points and rewards through Advocate's REST API with one of these keys."),
      list),
    h("s-section", { heading: "New key" },
      h("s-stack", { gap: "base" }, name, h("s-stack", { gap: "small-200" }, boxes), h("s-stack", { direction: "inline" }, create), created)),
    webhookEndpoints());
}

/** The endpoints Advocate sends events to, and the form that adds one. */
function webhookEndpoints() {
  const list = h("div", { id: "webhook-endpoints" }, loading());
  const created = h("div", { id: "webhook-created" });
  const url = h("s-text-field", { label: "URL", id: "webhook-url", details: "https://, reachable from the internet", placeholder: "https://example.com/advocate-events", maxLength: 2000 });
  const topicsBox = h("s-stack", { gap: "small-200", id: "webhook-topics" }, loading("Loading the topics"));
  const topicsError = h("div");
  const create = h("s-button", { variant: "primary", id: "webhook-create" }, "Add endpoint");
  let boxes = [];

  function drawTopics(topics) {
    // Keep what is ticked when the list is drawn again.
    const ticked = new Set(boxes.filter((b) => b.checked).map((b) => b.dataset.topic));
    boxes = topics.map((topic) => h("s-checkbox", {
      label: TOPIC_WORDS[topic] ? `${topic}: ${TOPIC_WORDS[topic]}` : topic,
      "data-topic": topic,
      checked: ticked.has(topic),
      onchange: () => fill(topicsError),
    }));
    fill(topicsBox, boxes.length ? boxes : h("s-text", { color: "subdued" }, "No topics are offered."));
  }

  async function load() {
    try {
      const data = await api("GET", "/api/admin/webhook-endpoints");
      drawTopics(data.topics || []);
      fill(list, table(["URL", "Topics", "Created", "Status", ""], (data.endpoints || []).map((e) => [
        h("s-text", { class: "url", "data-endpoint-url": e.id }, e.url),
        (e.topics || []).join(", "),
        when(e.created_at),
        e.disabled_at ? h("s-badge", { tone: "critical" }, `Disabled ${when(e.disabled_at)}`) : h("s-badge", { tone: "success" }, "Active"),
        e.disabled_at ? "" : disableButton(e),
      ]), "No webhook endpoints yet."));
    } catch (e) {
      fill(list, errorBanner(e, "The webhook endpoints could not be loaded"));
      fill(topicsBox, errorBanner(e, "The topics could not be loaded"));
    }
  }

  function disableButton(e) {
    const b = h("s-button", { tone: "critical", "data-disable": e.id }, "Disable");
    b.addEventListener("click", () => busy(b, async () => {
      try {
        await api("POST", `/api/admin/webhook-endpoints/${e.id}/disable`);
        toast("Endpoint disabled");
        await load();
      } catch (err) {
        b.parentElement?.append(errorBanner(err, "The endpoint could not be disabled"));
      }
    }));
    return b;
  }

  url.addEventListener("input", () => url.removeAttribute("error"));
  create.addEventListener("click", () => busy(create, async () => {
    url.removeAttribute("error");
    fill(topicsError);
    fill(created);
    const address = String(url.value || "").trim();
    const topics = boxes.filter((b) => b.checked).map((b) => b.dataset.topic);
    let bad = false;
    if (!address) { url.setAttribute("error", "Enter the URL that receives the events"); bad = true; }
    if (!topics.length) { fill(topicsError, h("s-text", { tone: "critical" }, "Choose at least one topic")); bad = true; }
    if (bad) return;
    try {
      const answer = await api("POST", "/api/admin/webhook-endpoints", { url: address, topics });
      fill(created, h("s-banner", { tone: "success", heading: "Copy this signing secret now: it is not shown again", "data-role": "new-endpoint" },
        h("s-paragraph", {}, h("s-text", { type: "strong", id: "webhook-secret" }, answer.secret)),
        h("s-paragraph", { color: "subdued" }, `Events for ${answer.endpoint?.url || address} carry Advocate-Webhook-Signature: v1=<HMAC-SHA256 of "<timestamp>.<body>" with this secret>. Check it, reject timestamps more than 5 minutes off, and ignore an event id you have seen.`)));
      url.value = "";
      for (const b of boxes) b.checked = false;
      await load();
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) {
        // By field when the answer names them, else by what the message is about.
        const problems = e.errors.length ? e.errors : [{ field: /topic/i.test(e.message) ? "topics" : "url", message: e.message }];
        for (const fe of problems) {
          if (String(fe.field).startsWith("topics")) fill(topicsError, h("s-text", { tone: "critical" }, capital(fe.message)));
          else url.setAttribute("error", capital(fe.message));
        }
      }
      fill(created, errorBanner(e, "The endpoint was not added"));
    }
  }));

  load();
  return h("s-section", { heading: "Webhook endpoints", id: "webhooks" },
    h("s-stack", { gap: "base" },
      h("s-paragraph", { color: "subdued" }, "Advocate sends events to your own systems as they happen: a signed JSON POST per event, retried with backoff for 25 hours until your endpoint answers 2xx. The Activity screen lists every delivery."),
      list,
      h("s-heading", {}, "New endpoint"),
      url,
      h("s-stack", { gap: "small-200" }, h("s-text", {}, "Topics"), topicsBox, topicsError),
      h("s-stack", { direction: "inline" }, create),
      created));
}

function capital(s) {
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}
