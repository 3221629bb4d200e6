// The embedded admin page in headless Chromium, against the real
// `advocate` binary in sandbox mode (no Shopify credentials: the local
// Shopify stand-in runs in the process and a demo shop is installed) with a
// fresh SQLite database, filled by `advocate simulate`.
//
// Every screen is loaded, one real change is made on each that has one,
// and any console error or uncaught page error fails the run. A screenshot
// of each screen is saved to target/browser-artifacts/.
//
// ADVOCATE_BIN names the binary (default target/debug/advocate);
// CHROMIUM the browser (default /usr/bin/chromium).
import { describe, it, before, beforeEach, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
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
const problems = [];
/** Statuses the current step provokes on purpose (Chromium logs them). */
let expectedStatuses = new Set();

/** The environment without Shopify credentials: Advocate starts its sandbox. */
function sandboxEnv(databaseUrl) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("SHOPIFY_") && !k.startsWith("ADVOCATE_")) env[k] = v;
  }
  return { ...env, DATABASE_URL: databaseUrl, PORT: "0", HOST: "127.0.0.1", ADVOCATE_LOG: "warn" };
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

  it("turns on co-purchase offers with a limit that is still there after a reload", async () => {
    await open("program");
    const coPurchase = page.locator('s-checkbox[data-path="offers.co_purchase"] input');
    const limit = page.locator('s-number-field[data-path="offers.co_purchase_limit"] input');
    assert.equal(await coPurchase.isChecked(), false, "off by default");
    await coPurchase.check();
    await limit.fill("13");
    expectedStatuses = new Set([422]);
    try {
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
    await page.locator('s-text-field[data-path="earning.per_amount"] input').fill("0");
    expectedStatuses = new Set([422]);
    try {
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

  it("shows the activity: failed webhooks and effects, and data requests", async () => {
    await open("activity");
    for (const id of ["#failed-webhooks", "#failed-effects", "#data-requests"]) {
      await page.waitForFunction((sel) => {
        const el = document.querySelector(sel);
        return el && !el.querySelector("s-spinner");
      }, id);
    }
    assert.equal(await page.locator("[data-role=error]").count(), 0);
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
});
