// Referrals: the review queue of held referrals (approve or reject), then
// every referral by status.

import { api } from "../api.js";
import { h, fill, appHref, errorBanner, loading, table, toast, busy } from "../ui.js";
import { money, when } from "../format.js";

const STATUSES = [
  ["", "All"],
  ["issued", "Code issued"],
  ["pending", "Pending (in the return window)"],
  ["held", "Held for review"],
  ["rewarded", "Rewarded"],
  ["rejected", "Rejected"],
];

const TONES = { held: "warning", rewarded: "success", rejected: "critical", pending: "info" };

export async function render(ctx) {
  const queue = h("div", { id: "held-referrals" }, loading());
  const all = h("div", { id: "all-referrals" }, loading());
  const status = h("s-select", { label: "Status", value: ctx.params().get("status") || "", id: "referral-status" },
    STATUSES.map(([value, label]) => h("s-option", { value }, label)));
  const cur = ctx.currency;

  async function loadQueue() {
    try {
      const data = await api("GET", "/api/admin/referrals?status=held");
      const held = data.referrals || [];
      fill(queue, table(["Referral", "Advocate", "Order", "Amount", "Why held", ""], held.map((r) => {
        const approve = h("s-button", { variant: "primary", "data-approve": r.id }, "Approve");
        const reject = h("s-button", { tone: "critical", "data-reject": r.id }, "Reject");
        approve.addEventListener("click", () => decide(approve, r, "approve"));
        reject.addEventListener("click", () => decide(reject, r, "reject"));
        return [`#${r.id} · ${r.friend_code}`, h("s-link", { href: appHref({ screen: "customers", customer: r.advocate_id }) }, `Customer ${r.advocate_id}`),
          r.order_id ? String(r.order_id) : "—", r.order_minor !== null ? money(r.order_minor, cur) : "—", r.note || "—",
          h("s-stack", { direction: "inline", gap: "small-200" }, approve, reject)];
      }), "No referral is waiting for review."));
    } catch (e) {
      fill(queue, errorBanner(e, "The review queue could not be loaded"));
    }
  }

  async function decide(button, r, verb) {
    await busy(button, async () => {
      try {
        await api("POST", `/api/admin/referrals/${r.id}/${verb}`);
        toast(verb === "approve" ? "Referral approved" : "Referral rejected");
        await Promise.all([loadQueue(), loadAll()]);
      } catch (e) {
        fill(queue, errorBanner(e, `The referral could not be ${verb === "approve" ? "approved" : "rejected"}`));
      }
    });
  }

  async function loadAll() {
    try {
      const data = await api("GET", `/api/admin/referrals?status=${encodeURIComponent(status.value || "")}`);
      const list = data.referrals || [];
      fill(all, table(["Referral", "Advocate", "Friend", "Order", "Amount", "Status", "Created"], list.map((r) => [
        `#${r.id} · ${r.friend_code}`,
        h("s-link", { href: appHref({ screen: "customers", customer: r.advocate_id }) }, `Customer ${r.advocate_id}`),
        r.friend_customer_id ? h("s-link", { href: appHref({ screen: "customers", customer: r.friend_customer_id }) }, `Customer ${r.friend_customer_id}`) : "—",
        r.order_id ? String(r.order_id) : "—",
        r.order_minor !== null && r.order_minor !== undefined ? money(r.order_minor, cur) : "—",
        h("s-badge", { tone: TONES[r.status] || "neutral", "data-status": r.status }, r.approved ? `${r.status} · approved` : r.status),
        when(r.created_at),
      ]), "No referrals with this status."));
    } catch (e) {
      fill(all, errorBanner(e, "The referrals could not be loaded"));
    }
  }
  status.addEventListener("change", loadAll);
  loadQueue();
  loadAll();
  return h("s-page", { heading: "Referrals" },
    h("s-section", { heading: "Held for review" },
      h("s-paragraph", { color: "subdued" }, "A burst of referred orders for one advocate is held until you decide. Approved referrals pay the advocate once the friend's order is past the return window."),
      queue),
    h("s-section", { heading: "All referrals" }, h("s-stack", { gap: "base" }, h("div", { class: "period" }, status), all)));
}
