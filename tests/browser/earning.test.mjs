// The Program screen's live preview computes points with a copy of the
// engine's integer arithmetic (web/admin/earning.js). These cases are the
// ones the Rust code is tested with (src/loyalty/money.rs and
// src/loyalty/earning.rs), so the two cannot drift apart unnoticed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { exponent, parseMinor, formatMinor, pointsFor } from "../../web/admin/earning.js";

test("amounts parse exactly in minor units, as money::parse_minor does", () => {
  assert.equal(parseMinor("404.95", 2), 40495n);
  assert.equal(parseMinor("10", 2), 1000n);
  assert.equal(parseMinor("0.5", 2), 50n);
  assert.equal(parseMinor("-3.10", 2), -310n);
  assert.equal(parseMinor("1500", 0), 1500n);
  assert.equal(parseMinor("1.250", 3), 1250n);
  assert.equal(parseMinor("1.2000", 2), 120n);
  assert.equal(parseMinor("1.234", 2), null);
  assert.equal(parseMinor("1e3", 2), null);
  assert.equal(parseMinor("", 2), null);
  assert.equal(parseMinor(".", 2), null);
  assert.equal(parseMinor("99999999999999999999", 2), null);
});

test("currencies have the engine's minor-unit digits", () => {
  assert.equal(exponent("USD"), 2);
  assert.equal(exponent("jpy"), 0);
  assert.equal(exponent("KWD"), 3);
  assert.equal(formatMinor(12050n, 2), "120.50");
  assert.equal(formatMinor(-5n, 2), "-0.05");
  assert.equal(formatMinor(1500n, 0), "1500");
  assert.equal(formatMinor(1250n, 3), "1.250");
});

test("points are earned and rounded down as earning::points_for does", () => {
  const e = { points: 3, per_amount: "2.00" };
  // 99.99 at 3 per 2.00 = 149.985 -> 149; at 125 % -> 187.48 -> 187.
  assert.equal(pointsFor(9999n, e, 2, 100), 149n);
  assert.equal(pointsFor(9999n, e, 2, 125), 187n);
  // In yen "1.00" is one yen.
  assert.equal(pointsFor(1500n, { points: 1, per_amount: "1.00" }, 0, 100), 1500n);
  assert.equal(pointsFor(1500n, { points: 3, per_amount: "100" }, 0, 100), 45n);
  // The example: 100.00 at the default 1 per 1.00 earns 120 at Gold (120 %).
  assert.equal(pointsFor(10000n, { points: 1, per_amount: "1.00" }, 2, 120), 120n);
  // A negative base earns nothing; an unusable per_amount earns nothing.
  assert.equal(pointsFor(-500n, { points: 1, per_amount: "1.00" }, 2, 100), 0n);
  assert.equal(pointsFor(10000n, { points: 1, per_amount: "0" }, 2, 100), 0n);
  assert.equal(pointsFor(10000n, { points: 1, per_amount: "1.001" }, 2, 100), 0n);
});

test("the preview says what an order earns under the draft settings", async () => {
  const { previewSentence } = await import("../../web/admin/screens/program.js");
  const settings = {
    earning: { points: 1, per_amount: "1.00" },
    tiers: { levels: [{ id: "gold", name: "Gold", multiplier_percent: 120 }] },
  };
  assert.match(previewSentence(settings, { amount: "100.00", tier: "gold" }, "USD", 2),
    /^An order of \$100\.00 earns 120 points at Gold\.$/);
  assert.match(previewSentence(settings, { amount: "100.00", tier: "" }, "USD", 2), /earns 100 points without a tier/);
  assert.match(previewSentence(settings, { amount: "abc", tier: "" }, "USD", 2), /Enter an amount in USD/);
  assert.match(previewSentence(settings, { amount: "1500", tier: "" }, "JPY", 0), /earns 1,500 points/);
});
