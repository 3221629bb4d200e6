// Activity: what needs the merchant's attention. Webhooks that failed for
// good and Shopify changes that failed for good, with their errors and a
// retry; customers' data requests with their export to hand over.

import { api } from "../api.js";
import { h, fill, errorBanner, loading, table, toast, busy } from "../ui.js";
import { when } from "../format.js";

export async function render() {
  const webhooks = h("div", { id: "failed-webhooks" }, loading());
  const effects = h("div", { id: "failed-effects" }, loading());
  const requests = h("div", { id: "data-requests" }, loading());

  const retryButton = (path, reload, label) => {
    const b = h("s-button", {}, "Retry");
    b.addEventListener("click", () => busy(b, async () => {
      try {
        await api("POST", path);
        toast(`${label} queued again`);
        await reload();
      } catch (e) {
        b.parentElement?.append(errorBanner(e, "The retry was refused"));
      }
    }));
    return b;
  };

  async function loadWebhooks() {
    try {
      const data = await api("GET", "/api/admin/webhooks/failed");
      fill(webhooks, table(["Topic", "Received", "Attempts", "Error", ""], (data.failed_webhooks || []).map((w) => [
        w.topic, when(w.received_at), String(w.attempts), h("s-text", { tone: "critical" }, w.last_error || "—"),
        retryButton(`/api/admin/webhooks/failed/${w.id}/retry`, loadWebhooks, "Webhook"),
      ]), "No failed webhooks: every delivery was applied."));
    } catch (e) {
      fill(webhooks, errorBanner(e, "The failed webhooks could not be loaded"));
    }
  }

  async function loadEffects() {
    try {
      const data = await api("GET", "/api/admin/effects/failed");
      fill(effects, table(["Change", "Created", "Attempts", "Error", ""], (data.failed_effects || []).map((f) => [
        f.kind, when(f.created_at), String(f.attempts), h("s-text", { tone: "critical" }, f.last_error || "—"),
        retryButton(`/api/admin/effects/failed/${f.id}/retry`, loadEffects, "Change"),
      ]), "No failed Shopify changes."));
    } catch (e) {
      fill(effects, errorBanner(e, "The failed Shopify changes could not be loaded"));
    }
  }

  async function loadRequests() {
    try {
      const data = await api("GET", "/api/admin/data-requests");
      fill(requests, table(["Request", "Customer", "Received", "Status", "Export"], (data.data_requests || []).map((r) => [
        String(r.request_id), String(r.customer_id), when(r.created_at), h("s-badge", { tone: r.status === "ready" ? "success" : "neutral" }, r.status),
        r.export ? exportButton(r) : h("s-text", { color: "subdued" }, "Erased"),
      ]), "No data requests."));
    } catch (e) {
      fill(requests, errorBanner(e, "The data requests could not be loaded"));
    }
  }

  loadWebhooks();
  loadEffects();
  loadRequests();
  return h("s-page", { heading: "Activity" },
    h("s-section", { heading: "Failed webhooks" }, webhooks),
    h("s-section", { heading: "Failed Shopify changes" }, effects),
    h("s-section", { heading: "Customer data requests" },
      h("s-paragraph", { color: "subdued" }, "Shopify asks for a customer's data on their behalf (customers/data_request). Download the export and send it to them."),
      requests));
}

function exportButton(r) {
  const b = h("s-button", { "data-export": r.request_id }, "Download export");
  b.addEventListener("click", () => {
    let text = r.export;
    try {
      text = JSON.stringify(JSON.parse(r.export), null, 2);
    } catch {
      // Not JSON: hand it over as it is.
    }
    const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `data-request-${r.request_id}.json`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  return b;
}
