// The admin API, with a fresh App Bridge session token on every call.
// Failures become `ApiError`s whose message is fit to show the merchant.

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body || {};
    /** Field problems of a 422: `[{field, message}]`. */
    this.errors = Array.isArray(this.body.errors) ? this.body.errors : [];
  }
}

async function sessionToken() {
  if (!window.shopify || typeof window.shopify.idToken !== "function") {
    throw new ApiError(0, "App Bridge is not loaded, so the page cannot prove who you are. Open the app from Shopify admin.");
  }
  try {
    return await window.shopify.idToken();
  } catch (e) {
    throw new ApiError(0, `Could not get a session token from Shopify admin (${e && e.message ? e.message : e}). Reload the page.`);
  }
}

const WORDS = {
  401: "Your session is no longer valid. Reload the page.",
  403: "You are not allowed to do this.",
  404: "Advocate answered that this does not exist (HTTP 404).",
  409: "It changed in the meantime.",
  422: "Some values are not valid.",
  429: "Too many requests at once. Wait a moment and try again.",
  500: "Advocate had an internal error. Try again; if it persists, contact support.",
  503: "Advocate is temporarily unavailable. Try again in a moment.",
};

/**
 * `api("GET", "/api/admin/program")`, `api("PUT", path, body)`,
 * `api("POST", path, body, {idempotencyKey})`. Resolves to the JSON body.
 */
export async function api(method, path, body, options = {}) {
  const headers = { Authorization: `Bearer ${await sessionToken()}`, Accept: "application/json" };
  // A body is JSON, unless `options.contentType` says what it is (a CSV
  // file is sent as the text it is).
  if (body !== undefined) headers["Content-Type"] = options.contentType || "application/json";
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
  let response;
  try {
    const sent = body === undefined ? undefined : options.contentType ? body : JSON.stringify(body);
    response = await fetch(path, { method, headers, body: sent });
  } catch (e) {
    throw new ApiError(0, "Advocate could not be reached. Check your connection and try again.");
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const message = (json && json.message) || WORDS[response.status] || `The request failed (HTTP ${response.status}).`;
    throw new ApiError(response.status, message.charAt(0).toUpperCase() + message.slice(1), json);
  }
  return json;
}

/**
 * Downloads a file the admin API streams (`download("/api/admin/exports/members.csv")`):
 * fetched with the session token, then saved under the name the answer gives.
 * Resolves to the number of bytes saved.
 */
export async function download(path, fallbackName) {
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${await sessionToken()}` } });
  } catch (e) {
    throw new ApiError(0, "Advocate could not be reached. Check your connection and try again.");
  }
  if (!response.ok) {
    let json = null;
    try { json = await response.json(); } catch { json = null; }
    const message = (json && json.message) || WORDS[response.status] || `The download failed (HTTP ${response.status}).`;
    throw new ApiError(response.status, message.charAt(0).toUpperCase() + message.slice(1), json);
  }
  const named = /filename="?([^";]+)"?/.exec(response.headers.get("Content-Disposition") || "");
  const blob = await response.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = named ? named[1] : fallbackName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60000);
  return blob.size;
}

/** A new idempotency key for one intended change. */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
