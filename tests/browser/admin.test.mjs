// The embedded admin page in headless Chromium, against the real
// `advocate` binary in sandbox mode (no Shopify credentials: the local
// Shopify stand-in runs in the process and a demo shop is installed) with a
// fresh SQLite database, filled by `advocate simulate`.
//
// Every screen is loaded, one real change is made on each that has one,
// and any console error or uncaught page error fails the run. A screenshot
// of each screen is saved to target/browser-artifacts/. A small HTTP server
// of the test's own receives the outbound webhooks (the sandbox is started
// allowing endpoints on private addresses, so loopback http is accepted).
//
// ADVOCATE_BIN names the binary (default target/debug/advocate);
// CHROMIUM the browser (default /usr/bin/chromium).
import { describe, it, before, beforeEach, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { mkdtempSync, mkdirSync, rmSync, existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = process.env.ADVOCATE_BIN || path.join(ROOT, "target/debug/advocate");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = path.join(ROOT, "target/browser-artifacts");
const SHOP = "advocate-demo.myshopify.com";

let server;
let workdir;
let url;
let browser;
let page;
/** Customer ids of the members export, for the import step. */
let memberIds = [];
/** The test's webhook receiver, and the signing secret of its endpoint. */
let receiver;
let webhookSecret;
const problems = [];
/** Statuses the current step provokes on purpose (Chromium logs them). */
let expectedStatuses = new Set();

/** The environment without Shopify credentials: Advocate starts its sandbox. */
function sandboxEnv(databaseUrl) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("SHOPIFY_") && !k.startsWith("ADVOCATE_")) env[k] = v;
  }
  return { ...env, DATABASE_URL: databaseUrl, PORT: "0", HOST: "127.0.0.1", ADVOCATE_LOG: "warn", ADVOCATE_WEBHOOKS_ALLOW_PRIVATE: "1" };
}

/**
 * An endpoint for Advocate's outbound webhooks on 127.0.0.1: it keeps every
 * request (headers and raw body) and answers the statuses queued in
 * `statuses` in turn, then 200.
 */
function startReceiver() {
  return new Promise((resolve) => {
    const r = { requests: [], statuses: [], server: null, url: null };
    r.server = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk) => { body += chunk; });
      req.on("end", () => {
        r.requests.push({ method: req.method, path: req.url, headers: req.headers, body });
        const status = r.statuses.length ? r.statuses.shift() : 200;
        res.writeHead(status, { "Content-Type": "text/plain" });
        res.end(status < 300 ? "ok" : "not now");
      });
    });
    r.server.listen(0, "127.0.0.1", () => {
      r.url = `http://127.0.0.1:${r.server.address().port}/advocate-events`;
      resolve(r);
    });
  });
}

/** Polls `check` until it returns something truthy (every 250 ms). */
async function until(what, check, timeout = 60000) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The receiver's requests of one topic (optionally for one customer), parsed. */
function received(topic, customerId) {
  return receiver.requests
    .filter((r) => r.headers["advocate-webhook-topic"] === topic)
    .map((r) => ({ ...r, json: JSON.parse(r.body) }))
    .filter((r) => customerId === undefined || String(r.json.data?.customer_id) === String(customerId));
}

/** Starts the sandbox and resolves to the URL it prints. `advocate simulate`
 * reads the sandbox's credentials from the same database. */
function startSandbox(database) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, [], { cwd: workdir, env: sandboxEnv(database), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`no sandbox URL within 60 s\nstdout: ${out}\nstderr: ${err}`)), 60000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const found = out.match(/Advocate sandbox: open (http:\/\/\S+)/);
      if (found) {
        clearTimeout(timer);
        resolve({ child, url: found[1] });
      }
    });
    child.stderr.on("data", (chunk) => { err += chunk; });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`advocate exited (${code})\nstdout: ${out}\nstderr: ${err}`)); });
  });
}

/**
 * Fills the sandbox with a small store. The same seed sends the same
 * deliveries (stored once), so a run that met a busy SQLite file (`database
 * is locked`: the server's own start-up work held the writer longer than
 * the busy timeout) is simply sent again.
 */
async function simulate(origin, database) {
  for (let attempt = 1; ; attempt++) {
    try {
      await promisify(execFile)(BIN, ["simulate", "--url", origin, "--customers", "40", "--months", "3", "--seed", "7"],
        { cwd: workdir, env: sandboxEnv(database), timeout: 180000 });
      return;
    } catch (e) {
      if (attempt >= 3 || !/database is locked/.test(String(e.stderr || e.message))) throw e;
    }
  }
}

async function shot(name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Goes to a screen of the page and waits until it has rendered. */
async function open(screen, extra = "") {
  const target = screen === "dashboard" ? url : `${url}&screen=${screen}${extra}`;
  await page.goto(target);
  await page.waitForFunction((s) => document.body.dataset.screen === s && !document.querySelector("#app > s-stack s-spinner"), screen);
}

function assertNoProblems() {
  assert.deepEqual(problems, [], "the page logged errors");
}

describe("the embedded admin page", { timeout: 300000 }, () => {
  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: run cargo build first`);
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
    mkdirSync(ARTIFACTS, { recursive: true });
    workdir = mkdtempSync(path.join(tmpdir(), "advocate-browser-"));
    const database = `sqlite://${path.join(workdir, "advocate.db")}`;
    receiver = await startReceiver();
    const started = await startSandbox(database);
    server = started.child;
    url = started.url;
    const origin = new URL(url).origin;
    await simulate(origin, database);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("console", (message) => {
      if (message.type() !== "error") return;
      const status = message.text().match(/status of (\d{3})/);
      if (status && expectedStatuses.has(Number(status[1]))) return;
      problems.push(`console: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    // The sandbox page needs nothing from Shopify's CDN (or anywhere else).
    await page.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => {
      problems.push(`request outside Advocate: ${route.request().url()}`);
      return route.abort();
    });
  });

  // Each step answers for the errors logged while it ran.
  beforeEach(() => {
    problems.length = 0;
  });

  after(async () => {
    await browser?.close();
    server?.kill();
    receiver?.server.closeAllConnections();
    receiver?.server.close();
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  it("is framed only by Shopify admin and the shop", async () => {
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type"), /^text\/html/);
    const csp = response.headers.get("content-security-policy");
    assert.equal(csp, `frame-ancestors https://${SHOP} https://admin.shopify.com;`);
    const html = await response.text();
    assert.doesNotMatch(html, /<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>/, "no inline script");
    assert.doesNotMatch(html, /cdn\.shopify\.com/, "the sandbox page loads the local stand-ins");
    const asset = await fetch(new URL("/assets/app.js", url));
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get("content-type"), /^text\/javascript/);
    const etag = asset.headers.get("etag");
    assert.ok(etag);
    const again = await fetch(new URL("/assets/app.js", url), { headers: { "If-None-Match": etag } });
    assert.equal(again.status, 304);
  });

  it("shows the dashboard with real figures and the sandbox banner", async () => {
    await open("dashboard");
    await page.waitForSelector("[data-metric=members] s-heading");
    const banner = await page.locator("[data-role=sandbox]").getAttribute("heading");
    assert.equal(banner, "Sandbox — demo data, not connected to Shopify");
    const members = await page.locator("[data-metric=members] s-heading").innerText();
    assert.ok(Number(members.replace(/\D/g, "")) > 0, `members: ${members}`);
    const issued = await page.locator("[data-metric=points-issued] s-heading").innerText();
    assert.ok(Number(issued.replace(/\D/g, "")) > 0, `points issued: ${issued}`);
    assert.match(await page.locator("[data-metric=liability] s-heading").innerText(), /\$\d/);
    assert.ok(await page.locator("svg.chart polyline").count() >= 2, "the trend is drawn");
    await page.waitForSelector("s-section#winback");
    assert.equal(await page.locator("[data-role=error]").count(), 0);
    await shot("dashboard");
    // Recomputing answers with the figures again, and another period loads.
    await page.locator("#refresh").click();
    await page.waitForSelector("#refresh:not([loading])", { state: "attached" });
    await page.waitForSelector("[data-metric=members] s-heading");
    await page.locator("#period select").selectOption("365d");
    await page.waitForFunction(() => !document.querySelector("#dashboard-body s-spinner")
      && document.querySelector("[data-metric=members] s-heading"));
    assert.match(page.url(), /period=365d/);
    assert.equal(await page.locator("[data-role=error]").count(), 0);
    assertNoProblems();
  });

  it("saves a program setting that is still there after a reload", async () => {
    await open("program");
    const points = page.locator('s-number-field[data-path="earning.points"] input');
    const before = Number(await points.inputValue());
    const next = before === 3 ? 4 : 3;
    await points.fill(String(next));
    await page.locator("#preview-amount input").fill("100.00");
    await page.locator("#preview-tier select").selectOption("gold");
    assert.match(await page.locator("#preview-sentence").innerText(), new RegExp(`^An order of \\$100\\.00 earns ${next * 120} points at Gold\\.$`));
    await page.locator("#save-program").click();
    await page.waitForSelector("[data-role=saved]");
    await page.reload();
    await page.waitForSelector('s-number-field[data-path="earning.points"] input');
    assert.equal(await page.locator('s-number-field[data-path="earning.points"] input').inputValue(), String(next));
    await shot("program");
    assertNoProblems();
  });

  it("forecasts a changed setting over the shop's orders before it is saved, and not after", async () => {
    await open("program");
    assert.equal(await page.locator("#forecast").isVisible(), false, "no forecast without a change");
    const points = page.locator('s-number-field[data-path="earning.points"] input');
    const before = Number(await points.inputValue());
    await points.fill(String(before * 2));
    await page.waitForSelector("[data-role=forecast-table]");
    const cells = async (label) => {
      const row = page.locator("#forecast s-table-row", { hasText: label }).first();
      return (await row.locator("s-table-cell").allInnerTexts()).map((t) => t.trim());
    };
    const number = (text) => Number(text.replace(/[^0-9]/g, ""));
    const [, current, proposed, change] = await cells("Points from orders");
    assert.ok(number(current) > 0, `the simulated year earned points: ${current}`);
    assert.ok(number(proposed) >= 2 * number(current), `twice the rate at least doubles them: ${current} → ${proposed}`);
    assert.match(change, /^\+/);
    assert.match(await page.locator("[data-role=forecast-period]").innerText(), /customers' orders/);
    // The figures are the API's for the same draft.
    const answer = await page.evaluate(async (points) => {
      const headers = { authorization: `Bearer ${await window.shopify.idToken()}`, "content-type": "application/json" };
      const { settings } = await (await fetch("/api/admin/program", { headers })).json();
      settings.earning.points = points;
      const r = await fetch("/api/admin/program/forecast", { method: "POST", headers, body: JSON.stringify({ settings, days: 365 }) });
      return r.json();
    }, before * 2);
    assert.equal(number(current), answer.current.order_points);
    assert.equal(number(proposed), answer.proposed.order_points);
    await page.locator("#forecast").scrollIntoViewIfNeeded();
    await shot("program-forecast");
    // Saved: the change is the program now, and the forecast goes.
    await page.locator("#save-program").click();
    await page.waitForSelector("[data-role=saved]");
    await page.waitForSelector("#forecast", { state: "hidden" });
    await points.fill(String(before));
    await page.locator("#save-program").click();
    await page.waitForSelector("#forecast", { state: "hidden" });
    assertNoProblems();
  });

  it("turns on co-purchase offers with a limit that is still there after a reload", async () => {
    await open("program");
    const coPurchase = page.locator('s-checkbox[data-path="offers.co_purchase"] input');
    const limit = page.locator('s-number-field[data-path="offers.co_purchase_limit"] input');
    assert.equal(await coPurchase.isChecked(), false, "off by default");
    await coPurchase.check();
    // The forecast of the unsaved change is refused (422) like the save.
    expectedStatuses = new Set([422]);
    try {
      await limit.fill("13");
      await page.waitForSelector("[data-role=forecast-unavailable]");
      await page.locator("#save-program").click();
      await page.waitForSelector('s-number-field[data-path="offers.co_purchase_limit"][error]');
    } finally {
      expectedStatuses = new Set();
    }
    await limit.fill("5");
    await page.locator("#save-program").click();
    await page.waitForSelector("[data-role=saved]");
    await page.reload();
    await page.waitForSelector('s-checkbox[data-path="offers.co_purchase"] input');
    assert.equal(await page.locator('s-checkbox[data-path="offers.co_purchase"] input').isChecked(), true);
    assert.equal(await page.locator('s-number-field[data-path="offers.co_purchase_limit"] input').inputValue(), "5");
    await page.locator("#section-offers").scrollIntoViewIfNeeded();
    await shot("program-offers");
    assertNoProblems();
  });

  it("sets up the win-back offer as a discount code", async () => {
    await open("program");
    const path = (kind, p) => page.locator(`${kind}[data-path="${p}"] ${kind === "s-select" ? "select" : "input"}`);
    await path("s-checkbox", "winback.enabled").check();
    await path("s-select", "winback.offer.kind").selectOption("discount");
    await page.waitForSelector('s-number-field[data-path="winback.offer.valid_days"]');
    await path("s-number-field", "winback.offer.valid_days").fill("21");
    await path("s-number-field", "winback.holdout_percent").fill("20");
    await page.locator("#save-program").click();
    await page.waitForSelector("[data-role=saved]");
    await page.reload();
    await page.waitForSelector('s-number-field[data-path="winback.offer.valid_days"]');
    assert.equal(await path("s-number-field", "winback.offer.valid_days").inputValue(), "21");
    assert.equal(await path("s-number-field", "winback.holdout_percent").inputValue(), "20");
    assert.equal(await path("s-select", "winback.offer.kind").inputValue(), "discount");
    assert.ok(await path("s-checkbox", "winback.enabled").isChecked());
    await shot("program-winback");
    assertNoProblems();
  });

  it("shows the server's field errors beside the fields", async () => {
    await open("program");
    expectedStatuses = new Set([422]);
    try {
      await page.locator('s-text-field[data-path="earning.per_amount"] input').fill("0");
      await page.waitForSelector("[data-role=forecast-unavailable]");
      await page.locator("#save-program").click();
      await page.waitForSelector('s-text-field[data-path="earning.per_amount"][error]');
    } finally {
      expectedStatuses = new Set();
    }
    const error = await page.locator('s-text-field[data-path="earning.per_amount"]').getAttribute("error");
    assert.match(error, /positive amount/);
    await shot("program-errors");
    assertNoProblems();
  });

  it("adjusts a customer's points and shows the new balance and the ledger line", async () => {
    await open("customers");
    await page.waitForSelector("[data-customer]");
    await shot("customers");
    await page.locator("[data-customer]").first().click();
    await page.waitForSelector("#adjust-points input");
    const balance = async () => Number((await page.locator("[data-metric=balance] s-heading").innerText()).replace(/[^\d-]/g, ""));
    const start = await balance();
    await page.locator("#adjust-points input").fill("125");
    await page.locator("#adjust-reason input").fill("Sorry for the late parcel");
    await page.locator("#adjust-submit").click();
    await page.waitForFunction((want) => {
      const el = document.querySelector("[data-metric=balance] s-heading");
      return el && Number(el.textContent.replace(/[^\d-]/g, "")) === want;
    }, start + 125);
    const ledger = await page.locator("#ledger").innerText();
    assert.match(ledger, /\+125/);
    assert.match(ledger, /Sorry for the late parcel/);
    await shot("customer");
    assertNoProblems();
  });

  it("downloads the members and the ledger of the last 30 days as CSV files", async () => {
    await open("customers");
    await page.waitForSelector("#export-members");
    const [members] = await Promise.all([page.waitForEvent("download"), page.locator("#export-members").click()]);
    assert.equal(members.suggestedFilename(), "advocate-members.csv");
    const memberLines = readFileSync(await members.path(), "utf8").split("\r\n").filter(Boolean);
    assert.equal(memberLines[0], "customer_id,points_balance,points_pending,tier,segment,referral_code");
    assert.ok(memberLines.length > 10, `members exported: ${memberLines.length - 1}`);
    for (const line of memberLines.slice(1)) assert.match(line, /^\d+,-?\d+,-?\d+,/, line);
    memberIds = memberLines.slice(1).map((line) => line.split(",")[0]);
    const [ledger] = await Promise.all([page.waitForEvent("download"), page.locator("#export-ledger").click()]);
    assert.equal(ledger.suggestedFilename(), "advocate-ledger.csv");
    const ledgerLines = readFileSync(await ledger.path(), "utf8").split("\r\n").filter(Boolean);
    assert.equal(ledgerLines[0], "id,customer_id,occurred_at,recorded_at,kind,flow,points,reason,order_id");
    // The adjustment of the step before is in the period, at least.
    assert.ok(ledgerLines.length > 1, "the ledger of the last 30 days has entries");
    for (const line of ledgerLines.slice(1)) assert.match(line.split(",")[5], /^(issued|redeemed|expired)$/, line);
    await page.waitForSelector("[data-export=Ledger]");
    await shot("customers-export");
    assertNoProblems();
  });

  it("imports members from another app's CSV after a dry run, once", async () => {
    await open("customers");
    const [first, second] = memberIds;
    const csv = `Customer ID,Points,VIP Tier\r\n${first},250,Gold\r\n${second},100,\r\n999,5,\r\n${first},7,\r\n`;
    await page.setInputFiles("#import-file", { name: "members.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await page.waitForSelector('#import-mapping s-select[data-field="points"]');
    assert.equal(await page.locator("#import-mapping [data-format]").getAttribute("data-format"), "generic");
    await page.locator("#import-dry-run").click();
    await page.waitForSelector('[data-import="dry-run"]');
    const dry = await page.locator("#import-result").innerText();
    assert.match(dry, /Would import 2 of 4 rows: 350 points/);
    const unusable = await page.locator("#import-problems").innerText();
    assert.match(unusable, /no customer with this id/);
    assert.match(unusable, /the same customer as line 2/);
    await shot("import-dry-run");
    await page.locator("#import-run").click();
    await page.waitForSelector('[data-import="import"]');
    assert.match(await page.locator("#import-result").innerText(), /Imported 2 of 4 rows: 350 points/);
    assert.ok(await page.locator("#import-run").evaluate((b) => b.disabled), "imported once");
    assertNoProblems();
  });

  it("approves a referral held for review", async () => {
    await open("referrals");
    await page.waitForSelector("[data-approve]");
    const held = await page.locator("[data-approve]").count();
    const id = await page.locator("[data-approve]").first().getAttribute("data-approve");
    await shot("referrals");
    await page.locator("[data-approve]").first().click();
    await page.waitForFunction((n) => document.querySelectorAll("[data-approve]").length === n - 1, held);
    assert.equal(await page.locator(`[data-approve="${id}"]`).count(), 0);
    // Approved, it is no longer held: it pays (at once if the friend's order
    // is already past the return window, else when it is).
    const row = page.locator("#all-referrals s-table-row", { hasText: `#${id} ·` });
    await page.waitForFunction((prefix) => [...document.querySelectorAll("#all-referrals s-table-row")]
      .some((r) => r.textContent.includes(prefix) && r.textContent.includes("approved")), `#${id} ·`);
    assert.match(await row.innerText(), /\b(pending|rewarded) · approved\b/);
    await shot("referrals-approved");
    assertNoProblems();
  });

  it("recomputes the segments and shows their sizes and revenue", async () => {
    await open("segments");
    await page.locator("#recompute").click();
    await page.waitForSelector("#recompute:not([loading])", { state: "attached" });
    await page.waitForSelector("[data-metric=segmented] s-heading");
    const segmented = await page.locator("[data-metric=segmented] s-heading").innerText();
    assert.ok(Number(segmented.replace(/\D/g, "")) > 0, `segmented customers: ${segmented}`);
    assert.ok(await page.locator("[data-metric^=segment-]").count() >= 1, "at least one segment has customers");
    assert.equal(await page.locator('#segments-body s-section[heading="Revenue by segment"] s-table-body s-table-row').count(), 8, "a row per segment");
    assert.ok(await page.locator("svg.chart rect").count() >= 1, "the sizes are drawn");
    assert.equal(await page.locator("[data-role=error]").count(), 0);
    await shot("segments");
    // The program screen has the segment settings.
    await open("program");
    await page.waitForSelector('#section-segments s-text-field[data-path="segments.tag_prefix"] input');
    assert.equal(await page.locator('#section-segments s-text-field[data-path="segments.tag_prefix"] input').inputValue(), "advocate-segment:");
    await page.locator("#segments-own-thresholds input").check();
    await page.waitForSelector("#segments-thresholds");
    await page.locator("#section-segments").scrollIntoViewIfNeeded();
    await shot("program-segments");
    assertNoProblems();
  });

  it("shows the NPS with its months, segments, tiers and comments, and saves its bonus", async () => {
    await open("nps");
    await page.waitForSelector("[data-metric=nps] s-heading");
    const nps = await page.locator("[data-metric=nps] s-heading").innerText();
    assert.match(nps, /^-?\d{1,3}\.\d$/, `nps: ${nps}`);
    const answers = Number((await page.locator("[data-metric=nps-answers] s-heading").innerText()).replace(/\D/g, ""));
    assert.ok(answers > 0, "simulate answered the survey");
    // The month rows add up to the total, and the segment table has rows.
    const monthly = await page.locator("[data-nps]").count();
    assert.ok(monthly >= 2, "month, segment or tier rows are listed");
    assert.ok(await page.locator("[data-role=comment]").count() > 0, "comments are listed");
    assert.ok(await page.locator("svg.chart polyline").count() >= 3, "answers per month are drawn");
    await shot("nps");
    await page.locator("#nps-period select").selectOption("30d");
    await page.waitForFunction(() => new URL(window.location.href).searchParams.get("period") === "30d"
      && document.querySelector("[data-metric=nps] s-heading"));
    assert.equal(await page.locator("[data-role=error]").count(), 0);

    await open("program");
    const bonus = page.locator('s-number-field[data-path="nps.bonus_points"] input');
    await bonus.fill("40");
    await page.locator("#save-program").click();
    await page.waitForSelector("[data-role=saved]");
    await open("nps");
    await page.waitForSelector("[data-metric=nps-answers] s-heading");
    assert.match(await page.locator("[data-metric=nps-answers]").innerText(), /40 points for each answer/);
    assertNoProblems();
  });

  it("shows the activity: failed webhooks and effects, outbound webhooks, and data requests", async () => {
    await open("activity");
    for (const id of ["#failed-webhooks", "#failed-effects", "#webhook-deliveries", "#data-requests"]) {
      await page.waitForFunction((sel) => {
        const el = document.querySelector(sel);
        return el && !el.querySelector("s-spinner");
      }, id);
    }
    assert.equal(await page.locator("[data-role=error]").count(), 0);
    assert.equal(await page.locator("#outbound-webhooks").getAttribute("heading"), "Outbound webhooks");
    // No endpoint is registered yet, so nothing was sent.
    assert.match(await page.locator("#webhook-deliveries [data-role=empty]").innerText(), /No events sent yet/);
    await shot("activity");
    assertNoProblems();
  });

  it("creates an API key shown once, which opens the REST API until it is revoked", async () => {
    await open("keys");
    await page.waitForFunction(() => !document.querySelector("#api-keys s-spinner"));
    await page.locator("#api-key-name").evaluate((el) => { el.value = "Helpdesk"; });
    await page.locator('s-checkbox[data-scope="read_program"]').evaluate((el) => { el.checked = true; });
    await page.locator("#api-key-create").click();
    const secret = (await page.locator("#api-key-secret").textContent({ timeout: 10000 })).trim();
    assert.match(secret, /^adv_[0-9a-f]{12}_[0-9a-f]{64}$/);
    const origin = new URL(url).origin;
    const call = () => fetch(`${origin}/api/v1/program`, { headers: { Authorization: `Bearer ${secret}` } });
    assert.equal((await call()).status, 200);
    // Listed without the secret.
    await page.waitForFunction(() => document.querySelector("#api-keys s-table"));
    assert.ok(!(await page.locator("#api-keys").textContent()).includes(secret.slice(17)));
    await shot("api-keys");
    await page.locator("#api-keys [data-revoke]").first().click();
    await page.waitForFunction(() => document.querySelector("#api-keys s-badge"));
    assert.equal((await call()).status, 401);
    assertNoProblems();
  });

  it("sets the earning actions on the Program screen, kept after a reload", async () => {
    await open("program");
    const field = (kind, p) => page.locator(`${kind}[data-path="${p}"] ${kind === "s-select" ? "select" : "input"}`);
    await page.locator("#section-actions").scrollIntoViewIfNeeded();
    await field("s-number-field", "actions.newsletter.points").fill("25");
    await field("s-number-field", "actions.review.points").fill("80");
    await field("s-select", "actions.review.limit.per").selectOption("day");
    await page.waitForSelector('s-number-field[data-path="actions.review.limit.max"]');
    await field("s-number-field", "actions.review.limit.max").fill("3");
    await field("s-number-field", "actions.social_follow.points").fill("40");
    const follows = await page.locator("[data-follow]").count();
    await page.locator("#add-follow").click();
    await page.waitForSelector(`s-select[data-path="actions.social_follow.networks[${follows}].network"]`);
    await field("s-select", `actions.social_follow.networks[${follows}].network`).selectOption("instagram");
    await field("s-text-field", `actions.social_follow.networks[${follows}].url`).fill("https://instagram.com/advocate-demo");
    await field("s-number-field", "actions.social_share.points").fill("15");
    await page.locator('s-checkbox[data-share="facebook"] input').check();
    await page.locator('s-checkbox[data-share="x"] input').check();
    const customs = await page.locator("[data-custom]").count();
    await page.locator("#add-custom").click();
    await page.waitForSelector(`s-text-field[data-path="actions.custom[${customs}].name"]`);
    await field("s-text-field", `actions.custom[${customs}].name`).fill("style_quiz");
    await field("s-text-field", `actions.custom[${customs}].label`).fill("Took the style quiz");
    await field("s-number-field", `actions.custom[${customs}].points`).fill("30");
    await page.locator("#save-program").click();
    await page.waitForSelector("[data-role=saved]");

    await page.reload();
    await page.waitForSelector('s-number-field[data-path="actions.newsletter.points"] input');
    assert.equal(await field("s-number-field", "actions.newsletter.points").inputValue(), "25");
    assert.equal(await field("s-number-field", "actions.review.points").inputValue(), "80");
    assert.equal(await field("s-select", "actions.review.limit.per").inputValue(), "day");
    assert.equal(await field("s-number-field", "actions.review.limit.max").inputValue(), "3");
    assert.equal(await field("s-number-field", "actions.social_follow.points").inputValue(), "40");
    assert.equal(await field("s-select", `actions.social_follow.networks[${follows}].network`).inputValue(), "instagram");
    assert.equal(await field("s-text-field", `actions.social_follow.networks[${follows}].url`).inputValue(), "https://instagram.com/advocate-demo");
    assert.equal(await field("s-number-field", "actions.social_share.points").inputValue(), "15");
    assert.ok(await page.locator('s-checkbox[data-share="facebook"] input').isChecked());
    assert.ok(await page.locator('s-checkbox[data-share="x"] input').isChecked());
    assert.equal(await page.locator('s-checkbox[data-share="linkedin"] input').isChecked(), false);
    assert.equal(await page.locator('s-checkbox[data-share="tiktok"]').count(), 0, "no share page on TikTok");
    assert.equal(await field("s-text-field", `actions.custom[${customs}].name`).inputValue(), "style_quiz");
    assert.equal(await field("s-text-field", `actions.custom[${customs}].label`).inputValue(), "Took the style quiz");
    assert.equal(await field("s-number-field", `actions.custom[${customs}].points`).inputValue(), "30");
    // The program the REST API reads is the one saved.
    const program = await page.evaluate(async () => {
      const token = await window.shopify.idToken();
      const response = await fetch("/api/admin/program", { headers: { Authorization: `Bearer ${token}` } });
      return (await response.json()).settings.actions;
    });
    assert.deepEqual(program.review, { points: 80, limit: { per: "day", max: 3 } });
    assert.deepEqual(program.social_share.networks, ["facebook", "x"]);
    assert.deepEqual(program.custom[customs], { name: "style_quiz", label: "Took the style quiz", points: 30, limit: { per: "ever", max: 1 } });
    await page.locator("#section-actions").scrollIntoViewIfNeeded();
    await shot("program-actions");
    assertNoProblems();
  });

  it("shows the server's field errors beside the earning actions", async () => {
    await open("program");
    const field = (kind, p) => page.locator(`${kind}[data-path="${p}"] ${kind === "s-select" ? "select" : "input"}`);
    await page.waitForSelector('s-number-field[data-path="actions.review.limit.max"] input');
    expectedStatuses = new Set([422]);
    try {
      await field("s-number-field", "actions.review.limit.max").fill("0");
      // Follow links must be https.
      await field("s-text-field", "actions.social_follow.networks[0].url").fill("http://instagram.com/advocate-demo");
      await page.waitForSelector("[data-role=forecast-unavailable]");
      await page.locator("#save-program").click();
      await page.waitForSelector('s-number-field[data-path="actions.review.limit.max"][error]');
    } finally {
      expectedStatuses = new Set();
    }
    assert.ok(await page.locator('s-number-field[data-path="actions.review.limit.max"]').getAttribute("error"));
    assert.ok(await page.locator('s-text-field[data-path="actions.social_follow.networks[0].url"]').getAttribute("error"),
      "the http follow URL is marked");
    const banner = await page.locator("#program-message").innerText();
    assert.match(banner, /2 values need fixing/);
    assert.doesNotMatch(banner, /actions\./, "every error is placed beside its field");
    await page.locator('s-number-field[data-path="actions.review.limit.max"]').scrollIntoViewIfNeeded();
    await shot("program-actions-errors");
    // Nothing was saved.
    await page.reload();
    await page.waitForSelector('s-number-field[data-path="actions.review.limit.max"] input');
    assert.equal(await field("s-number-field", "actions.review.limit.max").inputValue(), "3");
    assertNoProblems();
  });

  it("adds a webhook endpoint whose signing secret is shown once", async () => {
    await open("keys");
    await page.waitForSelector('#webhook-topics s-checkbox[data-topic="points.changed"]');
    const topics = await page.locator("#webhook-topics [data-topic]").evaluateAll((els) => els.map((e) => e.dataset.topic));
    assert.deepEqual(topics.slice().sort(), ["activity.recorded", "customer.redacted", "points.changed", "referral.completed", "reward.redeemed", "tier.changed"]);
    assert.ok(await page.locator('s-checkbox[data-scope="manage_webhooks"]').count(), "the manage_webhooks scope is offered");
    // A URL that is no URL is refused beside the field.
    await page.locator("#webhook-url input").fill("not a url");
    await page.locator('#webhook-topics s-checkbox[data-topic="points.changed"] input').check();
    expectedStatuses = new Set([422]);
    try {
      await page.locator("#webhook-create").click();
      await page.waitForSelector("#webhook-url[error]");
    } finally {
      expectedStatuses = new Set();
    }
    assert.ok(await page.locator("#webhook-created [data-role=error]").count());
    await page.locator("#webhook-url input").fill(receiver.url);
    await page.locator('#webhook-topics s-checkbox[data-topic="activity.recorded"] input').check();
    await page.locator("#webhook-create").click();
    webhookSecret = (await page.locator("#webhook-secret").textContent({ timeout: 10000 })).trim();
    assert.match(webhookSecret, /^whsec_[0-9a-f]{64}$/);
    await page.waitForSelector("#webhook-endpoints s-table");
    const listed = await page.locator("#webhook-endpoints").innerText();
    assert.ok(listed.includes(receiver.url), listed);
    assert.match(listed, /points\.changed, activity\.recorded|activity\.recorded, points\.changed/);
    assert.match(listed, /Active/);
    assert.ok(!listed.includes(webhookSecret.slice(6)), "the list never shows the secret");
    await page.locator("#webhooks").scrollIntoViewIfNeeded();
    await shot("webhook-endpoints");
    // Once: a reload shows the endpoint, not its secret.
    await open("keys");
    await page.waitForSelector("#webhook-endpoints s-table");
    assert.equal(await page.locator("#webhook-secret").count(), 0);
    assert.ok(!(await page.locator("#app").innerText()).includes(webhookSecret.slice(6)));
    assertNoProblems();
  });

  it("sends a signed event to the endpoint, retries it, lists its attempts and resends it", async () => {
    // The receiver refuses the first try; the sender tries again after its backoff (30 s).
    receiver.statuses.push(503);
    await open("customers");
    await page.waitForSelector("[data-customer]");
    const customerId = await page.locator("[data-customer]").first().getAttribute("data-customer");
    await page.locator("[data-customer]").first().click();
    await page.waitForSelector("#adjust-points input");
    await page.locator("#adjust-points input").fill("35");
    await page.locator("#adjust-reason input").fill("Webhook check");
    await page.locator("#adjust-submit").click();
    await page.waitForFunction(() => document.querySelector("#ledger")?.textContent.includes("Webhook check"));

    const first = await until("the first try of points.changed", () => received("points.changed", customerId)[0]);
    const eventId = first.headers["advocate-webhook-id"];
    assert.match(eventId, /^evt_[0-9a-f]{32}$/);
    assert.equal(first.method, "POST");
    assert.equal(first.headers["advocate-shop-domain"], SHOP);
    assert.match(first.headers["content-type"], /^application\/json/);
    const timestamp = first.headers["advocate-webhook-timestamp"];
    assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 300, `timestamp ${timestamp}`);
    const signature = createHmac("sha256", webhookSecret).update(`${timestamp}.${first.body}`).digest("hex");
    assert.equal(first.headers["advocate-webhook-signature"], `v1=${signature}`);
    assert.equal(first.json.id, eventId);
    assert.equal(first.json.topic, "points.changed");
    assert.equal(first.json.shop, SHOP);
    assert.equal(first.json.data.change, 35);

    // Listed as queued, with the refusal, and no resend while it waits.
    // Its own row: other events may be newer (a scheduled bonus, say).
    const row = page.locator("#webhook-deliveries s-table-row", { has: page.locator(`[data-event="${eventId}"]`) });
    const reopen = async () => {
      await open("activity");
      await page.waitForSelector("#webhook-deliveries [data-delivery]");
      return row.innerText();
    };
    await until("the refused try in the list", async () => /HTTP 503/.test(await reopen()), 30000);
    const queued = await row.innerText();
    assert.match(queued, /queued/);
    assert.match(queued, /Next try/);
    assert.ok(queued.includes(receiver.url));
    assert.equal(await row.locator("[data-resend]").count(), 0);

    const retried = await until("the retry of points.changed", () => received("points.changed", customerId)[1], 90000);
    assert.equal(retried.headers["advocate-webhook-id"], eventId, "the same event on every try");
    assert.equal(retried.body, first.body, "byte for byte the same body");
    await until("the delivery shown as delivered", async () => /delivered/.test(await reopen()), 30000);
    const attempts = row.locator("details[data-attempts]");
    assert.match(await attempts.locator("summary").innerText(), /^2 attempts$/);
    await attempts.locator("summary").click();
    const log = await attempts.innerText();
    assert.match(log, /HTTP 503/);
    assert.match(log, /HTTP 200/);
    await page.locator("#outbound-webhooks").scrollIntoViewIfNeeded();
    await shot("outbound-webhooks");

    // Resent by hand: the same event once more.
    await row.locator("[data-resend]").click();
    const resent = await until("the resent points.changed", () => received("points.changed", customerId)[2]);
    assert.equal(resent.headers["advocate-webhook-id"], eventId);
    await until("the third attempt in the list", async () => {
      await reopen();
      return /^3 attempts$/.test(await attempts.locator("summary").innerText());
    }, 30000);
    assertNoProblems();
  });

  it("lists an activity recorded through the REST API on the customer's screen and reverses it", async () => {
    // An API key with the write_activities scope, made on the keys screen.
    await open("keys");
    await page.waitForFunction(() => !document.querySelector("#api-keys s-spinner"));
    await page.locator("#api-key-name").evaluate((el) => { el.value = "Review app"; });
    await page.locator('s-checkbox[data-scope="write_activities"]').evaluate((el) => { el.checked = true; });
    await page.locator("#api-key-create").click();
    const secret = (await page.locator("#api-key-secret").textContent({ timeout: 10000 })).trim();

    await open("customers");
    await page.waitForSelector("[data-customer]");
    const customerId = await page.locator("[data-customer]").nth(1).getAttribute("data-customer");
    const origin = new URL(url).origin;
    const key = randomUUID();
    const record = () => fetch(`${origin}/api/v1/activities`, {
      method: "POST",
      headers: { Authorization: `Bearer ${secret}`, "Content-Type": "application/json", "Idempotency-Key": key },
      body: JSON.stringify({ customer_id: Number(customerId), action: "review", subject: "8123456" }),
    });
    const made = await record();
    assert.equal(made.status, 201, await made.clone().text());
    const activity = (await made.json()).activity;
    assert.equal(activity.points, 80, "the review points set on the Program screen");
    assert.equal((await record()).status, 200, "a replay of the same key");

    await page.locator(`[data-customer="${customerId}"]`).click();
    await page.waitForSelector("#activities s-table");
    const balance = async () => Number((await page.locator("[data-metric=balance] s-heading").innerText()).replace(/[^\d-]/g, ""));
    const start = await balance();
    const row = page.locator("#activities s-table-row", { has: page.locator(`[data-activity="${activity.id}"]`) });
    const text = await row.innerText();
    assert.match(text, /Product review/);
    assert.match(text, /Product 8123456/);
    assert.match(text, /\+80/);
    assert.match(text, /Awarded/);
    await page.locator("#customer-activities").scrollIntoViewIfNeeded();
    await shot("customer-activities");
    await row.locator(`[data-reverse="${activity.id}"]`).click();
    await page.waitForFunction((id) => document.querySelector(`#activities [data-activity="${id}"]`)
      ?.closest("s-table-row")?.querySelector('[data-status="reversed"]'), activity.id);
    assert.equal(await page.locator(`[data-reverse="${activity.id}"]`).count(), 0, "reversed once");
    assert.equal(await balance(), Math.max(0, start - 80));
    assert.match(await page.locator("#activities s-table-row", { has: page.locator(`[data-activity="${activity.id}"]`) }).innerText(), /Reversed/);
    // The endpoint subscribed to activity.recorded got it.
    const events = await until("activity.recorded", () => received("activity.recorded").find((r) => r.json.data.id === activity.id));
    assert.equal(events.json.data.action, "review");
    assertNoProblems();
  });

  it("disables the webhook endpoint", async () => {
    await open("keys");
    await page.waitForSelector("#webhook-endpoints [data-disable]");
    const id = await page.locator("#webhook-endpoints [data-disable]").first().getAttribute("data-disable");
    await page.locator(`#webhook-endpoints [data-disable="${id}"]`).click();
    await page.waitForFunction((i) => !document.querySelector(`#webhook-endpoints [data-disable="${i}"]`), id);
    const row = page.locator("#webhook-endpoints s-table-row", { has: page.locator(`[data-endpoint-url="${id}"]`) });
    assert.match(await row.innerText(), /Disabled/);
    assertNoProblems();
  });

  // Last: the history adds customers and orders the steps above do not expect.
  it("previews retroactive points, imports the shop's history and shows its progress to the end", async () => {
    await open("customers");
    await page.waitForSelector("#history [data-history], #history-state s-text");
    await page.locator("#history-mode select").selectOption("points");
    await page.locator("#history-preview").click();
    await page.waitForSelector("#history-preview-result [data-preview]");
    assert.match(await page.locator("#history-preview-result").innerText(), /orders since \d{4}-\d{2}-\d{2} would earn/);
    await page.locator("#history-mode select").selectOption("history");
    await page.locator("#history-start").click();
    await page.waitForSelector('#history [data-history="done"]', { timeout: 120000 });
    const line = await page.locator("#history-state").innerText();
    assert.match(line, /Imported 200 customers and 1,000 orders for the dashboard, segments and tiers/);
    await shot("history");
    assertNoProblems();
  });

  it("learns reorder intervals from the imported orders, keeps a product's own interval and turns reminders on", async () => {
    await open("program");
    await page.waitForSelector("#reorder-learn");
    await page.locator("#reorder-learn").click();
    const first = page.locator("[data-role=reorder-product]").first();
    await first.waitFor();
    const listed = await page.locator("[data-role=reorder-product]").count();
    // Refused while another round of the shop runs (409, as the API
    // answers then): the list stays and the reason shows.
    const refusal = { error: "conflict", message: "the shop's products are being learned already; try again when that is done" };
    await page.route("**/api/admin/reorder/learn", (route) => route.fulfill({ status: 409, contentType: "application/json", body: JSON.stringify(refusal) }));
    expectedStatuses = new Set([409]);
    try {
      await page.locator("#reorder-learn").click();
      await page.waitForSelector(".sandbox-toast.error");
      assert.match(await page.locator(".sandbox-toast.error").last().innerText(), /being learned already/);
      assert.equal(await page.locator("[data-role=reorder-product]").count(), listed, "the list stays");
    } finally {
      expectedStatuses = new Set();
      await page.unroute("**/api/admin/reorder/learn");
    }
    const product = await first.getAttribute("data-product");
    assert.match(await first.locator("[data-role=reorder-learned]").innerText(), /customers/);
    // The figures are the API's.
    const api = await page.evaluate(async () => {
      const headers = { authorization: `Bearer ${await window.shopify.idToken()}` };
      return (await fetch("/api/admin/reorder", { headers })).json();
    });
    assert.equal(api.products[0].product_id, product);
    // A bad interval is refused beside the field, and nothing changes.
    const days = first.locator("[data-role=reorder-days] input");
    expectedStatuses = new Set([422]);
    try {
      await days.fill("400");
      await first.locator("[data-role=reorder-save]").click();
      await page.waitForSelector(`[data-product="${product}"] [data-role=reorder-days][error]`);
    } finally {
      expectedStatuses = new Set();
    }
    await days.fill("21");
    await first.locator("[data-role=reorder-save]").click();
    await page.waitForFunction((p) => /Reminders 21 days after each purchase/.test(
      document.querySelector(`[data-product="${p}"] [data-role=reorder-interval]`)?.textContent || ""), product);
    const reminders = page.locator('s-checkbox[data-path="reorder.enabled"] input');
    assert.equal(await reminders.isChecked(), false, "off by default");
    await reminders.check();
    await page.locator("#reorder-with-code input").check();
    await page.waitForSelector('s-number-field[data-path="reorder.code.valid_days"]');
    await page.locator("#save-program").click();
    await page.waitForSelector("[data-role=saved]");
    await page.reload();
    await page.waitForSelector(`[data-product="${product}"]`);
    assert.equal(await page.locator(`[data-product="${product}"] [data-role=reorder-days] input`).inputValue(), "21");
    assert.ok(await page.locator('s-checkbox[data-path="reorder.enabled"] input').isChecked());
    assert.equal(await page.locator('s-number-field[data-path="reorder.code.valid_days"] input').inputValue(), "14");
    await page.locator("#section-reorder").screenshot({ path: path.join(ARTIFACTS, "program-reorder.png") });
    // The dashboard has the reminders' section.
    await open("dashboard");
    await page.waitForSelector("#reorder");
    assertNoProblems();
  });
});
