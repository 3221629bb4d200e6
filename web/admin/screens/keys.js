// API keys: the merchant's own systems call Advocate's REST API (/api/v1)
// with a key made here, with the scopes it needs. The key is shown once;
// Advocate keeps only its hash. A key can be revoked at any time.

import { api } from "../api.js";
import { h, fill, errorBanner, loading, table, toast, busy } from "../ui.js";
import { when } from "../format.js";

const SCOPE_WORDS = {
  read_customers: "Read customers (points, tier, segment)",
  read_ledger: "Read the points ledger",
  write_points: "Adjust points",
  write_redemptions: "Redeem rewards for customers",
  read_program: "Read rewards and tiers",
  write_activities: "Record activities",
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
      h("s-stack", { gap: "base" }, name, h("s-stack", { gap: "small-200" }, boxes), h("s-stack", { direction: "inline" }, create), created)));
}
