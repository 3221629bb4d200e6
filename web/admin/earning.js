// The loyalty engine's earning rule, for the Program screen's live preview.
// A faithful copy of the integer arithmetic in src/loyalty/money.rs
// (`exponent`, `parse_minor`) and src/loyalty/earning.rs (`points_for`):
// amounts are exact minor units (BigInt), never floating point, and the
// points are rounded down exactly as the engine rounds them.

const ZERO_DIGIT = new Set(["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
  "UYI", "VND", "VUV", "XAF", "XOF", "XPF"]);
const THREE_DIGIT = new Set(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]);

const I64_MAX = (1n << 63n) - 1n;

/** Minor-unit digits of a currency (ISO 4217), as the engine counts them. */
export function exponent(currency) {
  const code = String(currency || "").toUpperCase();
  if (ZERO_DIGIT.has(code)) return 0;
  if (THREE_DIGIT.has(code)) return 3;
  return 2;
}

/**
 * A decimal amount ("12.5", "7", "-3.00") in minor units as a BigInt, or
 * null when it is not an exact amount with `exp` digits (digits beyond the
 * exponent must be zeros) or does not fit in 64 bits.
 */
export function parseMinor(raw, exp) {
  let text = String(raw ?? "").trim();
  let negative = false;
  if (text.startsWith("-")) {
    negative = true;
    text = text.slice(1);
  } else if (text.startsWith("+")) {
    text = text.slice(1);
  }
  const dot = text.indexOf(".");
  const whole = dot < 0 ? text : text.slice(0, dot);
  const fraction = dot < 0 ? "" : text.slice(dot + 1);
  if (whole === "" && fraction === "") return null;
  if (!/^[0-9]*$/.test(whole) || !/^[0-9]*$/.test(fraction)) return null;
  const kept = fraction.slice(0, exp);
  if (/[^0]/.test(fraction.slice(exp))) return null;
  const digits = (whole + kept.padEnd(exp, "0")).replace(/^0+(?=.)/, "") || "0";
  const value = BigInt(digits);
  if (value > I64_MAX) return null;
  return negative ? -value : value;
}

/** Minor units as a plain decimal string with `exp` digits ("100.00"). */
export function formatMinor(minor, exp) {
  const value = BigInt(minor);
  const sign = value < 0n ? "-" : "";
  const abs = (value < 0n ? -value : value).toString();
  if (exp === 0) return sign + abs;
  const padded = abs.padStart(exp + 1, "0");
  return `${sign}${padded.slice(0, -exp)}.${padded.slice(-exp)}`;
}

/**
 * Points for `baseMinor` minor units: `earning.points` per
 * `earning.per_amount`, times the tier multiplier (percent), rounded down.
 * 0 when `per_amount` is not a positive amount. Returns a BigInt.
 */
export function pointsFor(baseMinor, earning, exp, multiplierPercent) {
  const per = parseMinor(earning.per_amount, exp);
  if (per === null || per <= 0n) return 0n;
  let base = BigInt(baseMinor);
  if (base < 0n) base = 0n;
  const value = (base * BigInt(earning.points) * BigInt(multiplierPercent)) / (per * 100n);
  return value > I64_MAX ? I64_MAX : value;
}
