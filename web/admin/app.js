// The embedded admin page: eight screens under one App Bridge page. The
// screen is in the URL (`?screen=program`), so a reload, App Bridge's nav
// and the browser's back button all land on the same screen.

import { api } from "./api.js";
import { h, fill, errorBanner, loading } from "./ui.js";
import * as dashboard from "./screens/dashboard.js";
import * as program from "./screens/program.js";
import * as customers from "./screens/customers.js";
import * as referrals from "./screens/referrals.js";
import * as activity from "./screens/activity.js";
import * as segments from "./screens/segments.js";
import * as nps from "./screens/nps.js";
import * as keys from "./screens/keys.js";

const SCREENS = { dashboard, program, customers, referrals, segments, activity, nps, keys };

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";

const ctx = {
  shop: meta("advocate-shop"),
  sandbox: meta("advocate-sandbox") === "1",
  currency: null,
  /** Goes to another screen (or the same one with other parameters). */
  navigate(params) {
    const url = new URL(window.location.href);
    for (const key of [...url.searchParams.keys()]) {
      if (!["shop", "host", "embedded"].includes(key)) url.searchParams.delete(key);
    }
    for (const [key, value] of Object.entries(params)) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
    }
    window.history.pushState({}, "", url);
    render();
  },
  params() {
    return new URL(window.location.href).searchParams;
  },
};

/** The shop's currency, from its program (every amount is in it). */
async function currency() {
  if (!ctx.currency) {
    const program = await api("GET", "/api/admin/program");
    ctx.currency = program.currency || "USD";
  }
  return ctx.currency;
}

let rendering = 0;

async function render() {
  const root = document.getElementById("app");
  const name = ctx.params().get("screen") || "dashboard";
  const screen = SCREENS[name] || dashboard;
  const mine = ++rendering;
  document.body.dataset.screen = SCREENS[name] ? name : "dashboard";
  markNav(SCREENS[name] ? name : "dashboard");
  fill(root, loading());
  try {
    await currency();
    if (mine !== rendering) return;
    const page = await screen.render(ctx);
    if (mine !== rendering) return;
    fill(root, page);
  } catch (e) {
    if (mine !== rendering) return;
    fill(root, h("s-page", { heading: "Advocate" }, errorBanner(e, "The page could not be loaded")));
  }
}

function markNav(name) {
  for (const link of document.querySelectorAll("#app-nav s-link")) {
    const target = new URL(link.getAttribute("href"), window.location.href).searchParams.get("screen") || "dashboard";
    link.toggleAttribute("aria-current", target === name && link.getAttribute("rel") !== "home");
  }
}

function sandboxBanner() {
  const slot = document.getElementById("sandbox-banner");
  if (!ctx.sandbox || !slot) return;
  fill(slot, h("s-banner", { tone: "warning", heading: "Sandbox — demo data, not connected to Shopify", "data-role": "sandbox" },
    h("s-paragraph", {}, `This is ${ctx.shop}, a demo shop served by Advocate itself. Nothing here reaches a real store.`)));
  slot.hidden = false;
}

// Links inside the page (and the sandbox's stand-in for the admin nav)
// switch screens without a reload, keeping shop, host and embedded.
document.addEventListener("click", (event) => {
  const link = event.target.closest?.("s-link[href], a[href]");
  if (!link || event.defaultPrevented || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(link.getAttribute("href"), window.location.href);
  if (url.origin !== window.location.origin || url.pathname !== "/") return;
  event.preventDefault();
  ctx.navigate({ screen: url.searchParams.get("screen"), customer: url.searchParams.get("customer") });
});

// App Bridge's navigation (and the back button) change the URL.
window.addEventListener("popstate", render);
window.addEventListener("shopify:navigate", (event) => {
  const href = event.target?.getAttribute?.("href");
  if (!href) return;
  const url = new URL(href, window.location.href);
  ctx.navigate({ screen: url.searchParams.get("screen") });
});

// The nav's links keep the shop, host and embedded parameters, so a
// navigation by App Bridge lands on a page that knows its shop.
function keepParams() {
  const here = new URL(window.location.href).searchParams;
  for (const link of document.querySelectorAll("#app-nav s-link")) {
    const target = new URL(link.getAttribute("href"), window.location.href);
    for (const key of ["shop", "host", "embedded"]) {
      if (here.has(key)) target.searchParams.set(key, here.get(key));
    }
    link.setAttribute("href", `/${target.search}`);
  }
}

keepParams();
sandboxBanner();
render();
