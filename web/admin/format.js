// Display formats. Money arrives as integer minor units and is formatted
// from its exact decimal string, never through floating point.

import { exponent, formatMinor } from "./earning.js";

const locale = () => (typeof navigator !== "undefined" && navigator.language) || "en-US";

/** Minor units of `currency` for people: "$1,234.50", "¥1,500", "KWD 1.250". */
export function money(minor, currency) {
  if (minor === null || minor === undefined) return "—";
  const exp = exponent(currency);
  const decimal = formatMinor(BigInt(minor), exp);
  try {
    return new Intl.NumberFormat(locale(), {
      style: "currency",
      currency,
      minimumFractionDigits: exp,
      maximumFractionDigits: exp,
    }).format(decimal);
  } catch {
    return `${decimal} ${currency}`;
  }
}

/** A whole number with grouping: 12,345. */
export function count(n) {
  if (n === null || n === undefined) return "—";
  const nf = new Intl.NumberFormat(locale());
  return typeof n === "string" ? nf.format(n) : nf.format(n);
}

/** A rate `{numerator, denominator, percent}`: "42.5 %", or "—" without data. */
export function rate(r) {
  if (!r || r.percent === null || r.percent === undefined) return "—";
  return `${r.percent} %`;
}

/** The rate's fraction in words: "17 of 40". */
export function rateDetail(r, noun) {
  if (!r) return "";
  return `${count(r.numerator)} of ${count(r.denominator)} ${noun}`;
}

/** An epoch-millisecond time as a date and time. */
export function when(ms) {
  if (ms === null || ms === undefined) return "—";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(ms));
}

/** An ISO date or epoch ms as a date. */
export function day(value) {
  if (value === null || value === undefined) return "—";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium" }).format(new Date(value));
}

/** Signed points: "+120", "-50". */
export function signed(points) {
  const n = Number(points);
  return n > 0 ? `+${count(points)}` : count(points);
}
