// Activity: what needs the merchant's attention. Webhooks that failed for
// good and Shopify changes that failed for good, with their errors and a
// retry; the events Advocate sent to the merchant's own webhook endpoints,
// with every attempt and a resend; customers' data requests with their
// export to hand over.

import { api } from "../api.js";
import { h, fill, errorBanner, loading, table, toast, busy } from "../ui.js";
import { when } from "../format.js";

export async function render() {
  const webhooks = h("div", { id: "failed-webhooks" }, loading());
  const effects = h("div", { id: "failed-effects" }, loading());
  const requests = h("div", { id: "data-requests" }, loading());
  const deliveries = h("div", { id: "webhook-deliveries" }, loading());

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

  async function loadDeliveries() {
    try {
      const data = await api("GET", "/api/admin/webhook-deliveries");
      fill(deliveries, table(["Topic", "URL", "Status", "Attempts", "Last answer", "Created", ""], (data.deliveries || []).map((d) => [
        h("s-text", { "data-delivery": d.id, "data-event": d.event_id }, d.topic),
        h("s-text", { class: "url" }, d.url),
        deliveryStatus(d),
        attemptLog(d),
        lastAnswer(d),
        when(d.created_at),
        // A queued delivery is tried at its next try; the others can be sent again.
        d.status === "queued" ? "" : resendButton(d, loadDeliveries),
      ]), "No events sent yet. Add a webhook endpoint on the API keys screen to receive them."));
    } catch (e) {
      fill(deliveries, errorBanner(e, "The outbound webhooks could not be loaded"));
    }
  }

  loadWebhooks();
  loadEffects();
  loadDeliveries();
  loadRequests();
  return h("s-page", { heading: "Activity" },
    h("s-section", { heading: "Failed webhooks from Shopify" }, webhooks),
    h("s-section", { heading: "Failed Shopify changes" }, effects),
    h("s-section", { heading: "Outbound webhooks", id: "outbound-webhooks" },
      h("s-paragraph", { color: "subdued" }, "Events sent to your webhook endpoints, newest first (the last 100). A delivery is retried with backoff for 25 hours until the endpoint answers 2xx; a delivered or failed one can be sent again (same event id, so the receiver can tell)."),
      deliveries),
    h("s-section", { heading: "Customer data requests" },
      h("s-paragraph", { color: "subdued" }, "Shopify asks for a customer's data on their behalf (customers/data_request). Download the export and send it to them."),
      requests));
}

const DELIVERY_TONES = { delivered: "success", failed: "critical", queued: "info" };

function deliveryStatus(d) {
  return h("s-stack", { gap: "small-300", alignItems: "start" },
    h("s-badge", { tone: DELIVERY_TONES[d.status] || "neutral", "data-status": d.status }, d.status),
    d.status === "queued" && d.next_attempt_at ? h("s-text", { color: "subdued" }, `Next try ${when(d.next_attempt_at)}`) : null,
    d.status === "delivered" && d.delivered_at ? h("s-text", { color: "subdued" }, when(d.delivered_at)) : null);
}

/** What the endpoint answered last: its HTTP status, or why there was none. */
function lastAnswer(d) {
  const text = answer(d.last_status, d.last_error);
  if (!text) return h("s-text", { color: "subdued" }, "—");
  return h("s-text", { tone: succeeded(d.last_status) ? "success" : "critical" }, text);
}

/** "HTTP 500", "timed out", "HTTP 502: …", or "" for nothing at all. */
function answer(status, error) {
  return [status === null || status === undefined ? null : `HTTP ${status}`, error].filter(Boolean).join(": ");
}

const succeeded = (status) => typeof status === "number" && status >= 200 && status < 300;

/** The number of attempts, opening to each attempt: when, how long, the answer. */
function attemptLog(d) {
  const log = d.attempt_log || [];
  if (!log.length) return h("s-text", { color: "subdued" }, String(d.attempts));
  return h("details", { "data-attempts": d.id },
    h("summary", {}, `${d.attempts} ${d.attempts === 1 ? "attempt" : "attempts"}`),
    h("s-unordered-list", {}, log.map((a) => h("s-list-item", {},
      `${when(a.attempted_at)} · ${a.duration_ms} ms · `,
      h("s-text", { tone: succeeded(a.status_code) ? "success" : "critical" }, answer(a.status_code, a.error) || "No answer")))));
}

function resendButton(d, reload) {
  const b = h("s-button", { "data-resend": d.id }, "Resend");
  b.addEventListener("click", () => busy(b, async () => {
    try {
      await api("POST", `/api/admin/webhook-deliveries/${d.id}/resend`);
      toast("Event queued again");
      await reload();
    } catch (e) {
      b.parentElement?.append(errorBanner(e, "The event could not be sent again"));
    }
  }));
  return b;
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
