// The Advocate backend as the extension sees it: `GET /api/checkout/balance`
// and `POST /api/checkout/redeem`, authenticated with the checkout session
// token (`Authorization: Bearer …`). `createTransport` is the request every
// Advocate UI extension makes (the customer account page and the POS block
// import it from here). Every failure becomes an
// `AdvocateApiError` with a `kind` the state machine branches on; nothing
// here touches the `shopify` global, so tests pass a fake `fetch` and a fake
// token source.

/** Failure kinds, by what the shopper can do about them. */
export const ErrorKind = Object.freeze({
  /** No app URL was configured at build time: a deployment mistake. */
  NOT_CONFIGURED: 'not_configured',
  /** The request never got an answer (offline, DNS, CORS, timeout). */
  NETWORK: 'network',
  /** 401: no customer behind the session token (or a token refused). */
  UNAUTHORIZED: 'unauthorized',
  /** 409 on redeem: the balance does not cover the reward. */
  NOT_ENOUGH_POINTS: 'not_enough_points',
  /** 404 on redeem: the merchant removed the reward meanwhile. */
  UNKNOWN_REWARD: 'unknown_reward',
  /** 429: the shopper (or shop) is over the backend's rate limit. */
  RATE_LIMITED: 'rate_limited',
  /** 400/422: the backend refused the request as malformed. */
  REJECTED: 'rejected',
  /** 5xx, or an answer that is not the JSON we expect. */
  SERVER: 'server',
});

export class AdvocateApiError extends Error {
  /**
   * @param {string} kind one of `ErrorKind`
   * @param {string} message for logs only, never shown to shoppers
   * @param {{status?: number, retryAfterSeconds?: number, cause?: unknown}} [details]
   */
  constructor(kind, message, details = {}) {
    super(message);
    this.name = 'AdvocateApiError';
    this.kind = kind;
    this.status = details.status;
    this.retryAfterSeconds = details.retryAfterSeconds;
    if (details.cause !== undefined) this.cause = details.cause;
  }

  /** Whether the same request may be sent again (with the same key). */
  get retryable() {
    return (
      this.kind === ErrorKind.NETWORK ||
      this.kind === ErrorKind.SERVER ||
      this.kind === ErrorKind.RATE_LIMITED
    );
  }
}

/**
 * What a failed call means for the UI: its kind, when it happened
 * (`during`), and whether the same request may be sent again. Anything that
 * is not an `AdvocateApiError` is taken as a server failure, retryable.
 * @param {unknown} error
 * @param {string} during
 */
export function failureOf(error, during) {
  if (error instanceof AdvocateApiError) return {kind: error.kind, during, retryable: error.retryable};
  return {kind: ErrorKind.SERVER, during, retryable: true};
}

/**
 * Normalises the configured app URL: an absolute http(s) origin (plus an
 * optional path prefix), without a trailing slash. Anything else is `null`.
 * @param {unknown} raw
 * @returns {string | null}
 */
export function normaliseAppUrl(raw) {
  if (typeof raw !== 'string') return null;
  const trimmed = raw.trim();
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/i.test(trimmed)) return null;
  return trimmed.replace(/\/+$/, '');
}

const DEFAULT_TIMEOUT_MS = 15000; // the backend may wait 8 s for Shopify on redeem

/**
 * @param {{
 *   appUrl: string | null | undefined,
 *   fetch: typeof fetch,
 *   getSessionToken: () => Promise<string>,
 *   timeoutMs?: number,
 * }} options
 */
export function createApiClient({appUrl, fetch, getSessionToken, timeoutMs = DEFAULT_TIMEOUT_MS}) {
  const request = createTransport({appUrl, fetch, getSessionToken, timeoutMs});
  return {
    /** The shopper's loyalty view, or `{logged_in: false}`. */
    async getBalance() {
      const {data} = await request('GET', '/api/checkout/balance');
      return data;
    },

    /**
     * Spends points on a reward. The same `idempotencyKey` answers the same
     * code (200) however often it is sent, so a retry cannot spend twice.
     * @param {string} rewardId
     * @param {string} idempotencyKey
     */
    async redeem(rewardId, idempotencyKey) {
      const {status, data} = await request('POST', '/api/checkout/redeem', {
        body: {reward_id: rewardId},
        headers: {'Idempotency-Key': idempotencyKey},
      });
      if (typeof data.code !== 'string' || data.code === '') {
        throw new AdvocateApiError(ErrorKind.SERVER, 'redeem answer has no code', {status});
      }
      return {...data, replayed: status === 200 || data.replayed === true};
    },
  };
}

/**
 * One authenticated JSON request to the Advocate backend, as every Advocate
 * UI extension makes it (checkout, customer account page, POS): the session
 * token as a bearer token, a timeout, and every failure an
 * `AdvocateApiError`. Resolves `{status, data}` for a 2xx JSON object.
 * @param {{
 *   appUrl: string | null | undefined,
 *   fetch: typeof fetch,
 *   getSessionToken: () => Promise<string | undefined | null>,
 *   timeoutMs?: number,
 * }} options
 * @returns {(method: string, path: string, options?: {body?: unknown, headers?: Record<string, string>}) => Promise<{status: number, data: any}>}
 */
export function createTransport({appUrl, fetch, getSessionToken, timeoutMs = DEFAULT_TIMEOUT_MS}) {
  const base = normaliseAppUrl(appUrl);

  return async function request(method, path, {body, headers = {}} = {}) {
    if (!base) {
      throw new AdvocateApiError(
        ErrorKind.NOT_CONFIGURED,
        'the Advocate app URL was not set when this extension was built',
      );
    }
    let token;
    try {
      token = await getSessionToken();
    } catch (cause) {
      throw new AdvocateApiError(ErrorKind.NETWORK, 'could not get a session token', {cause});
    }
    if (typeof token !== 'string' || token === '') {
      // POS gives no token to a user without permission to use the app.
      throw new AdvocateApiError(ErrorKind.UNAUTHORIZED, 'no session token was given');
    }
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = controller ? setTimeout(() => controller.abort(), timeoutMs) : null;
    let response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: {
          Accept: 'application/json',
          Authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : {'Content-Type': 'application/json'}),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller ? controller.signal : undefined,
      });
    } catch (cause) {
      throw new AdvocateApiError(ErrorKind.NETWORK, `${method} ${path} failed: ${describe(cause)}`, {
        cause,
      });
    } finally {
      if (timer) clearTimeout(timer);
    }
    let payload = null;
    try {
      const text = await response.text();
      payload = text ? JSON.parse(text) : null;
    } catch (cause) {
      if (response.ok) {
        throw new AdvocateApiError(ErrorKind.SERVER, `${method} ${path}: body is not JSON`, {
          status: response.status,
          cause,
        });
      }
    }
    if (response.ok) {
      if (payload === null || typeof payload !== 'object') {
        throw new AdvocateApiError(ErrorKind.SERVER, `${method} ${path}: empty answer`, {
          status: response.status,
        });
      }
      return {status: response.status, data: payload};
    }
    throw errorFor(method, path, response, payload);
  };
}

function errorFor(method, path, response, payload) {
  const status = response.status;
  const serverMessage =
    payload && typeof payload.message === 'string' ? payload.message : `HTTP ${status}`;
  const message = `${method} ${path}: ${serverMessage}`;
  switch (status) {
    case 401:
    case 403:
      return new AdvocateApiError(ErrorKind.UNAUTHORIZED, message, {status});
    case 404:
      return new AdvocateApiError(ErrorKind.UNKNOWN_REWARD, message, {status});
    case 409:
      return new AdvocateApiError(ErrorKind.NOT_ENOUGH_POINTS, message, {status});
    case 429: {
      const retryAfter = Number.parseInt(headerOf(response, 'Retry-After') ?? '', 10);
      return new AdvocateApiError(ErrorKind.RATE_LIMITED, message, {
        status,
        retryAfterSeconds: Number.isFinite(retryAfter) ? retryAfter : undefined,
      });
    }
    case 400:
    case 413:
    case 422:
      return new AdvocateApiError(ErrorKind.REJECTED, message, {status});
    default:
      return new AdvocateApiError(ErrorKind.SERVER, message, {status});
  }
}

function headerOf(response, name) {
  const headers = response.headers;
  if (!headers) return null;
  if (typeof headers.get === 'function') return headers.get(name);
  return headers[name] ?? headers[name.toLowerCase()] ?? null;
}

function describe(error) {
  if (error && typeof error === 'object' && 'name' in error && error.name === 'AbortError') {
    return 'timed out';
  }
  return error instanceof Error ? error.message : String(error);
}
