// The Advocate backend as the survey sees it: `GET /api/checkout/nps` and
// `POST /api/checkout/nps`, authenticated with the session token
// (`Authorization: Bearer …`). Every failure becomes a `SurveyApiError`
// whose `kind` the state machine branches on. Nothing here touches the
// `shopify` global, so tests pass a fake `fetch` and token source.

/** Failure kinds, by what the block does about them. */
export const ErrorKind = Object.freeze({
  /** No app URL was set when the extension was built. */
  NOT_CONFIGURED: 'not_configured',
  /** No answer at all (offline, CORS, timeout): worth trying again. */
  NETWORK: 'network',
  /** 401: nobody is logged in behind the session token. */
  UNAUTHORIZED: 'unauthorized',
  /** 403: the order is another customer's. */
  FORBIDDEN: 'forbidden',
  /** 404: the shop does not run the survey (any more). */
  DISABLED: 'disabled',
  /** 409: this order was answered before; the first answer counts. */
  ALREADY_ANSWERED: 'already_answered',
  /** 400/413/422: the backend refused the answer as invalid. */
  REJECTED: 'rejected',
  /** 429: too many requests; try again shortly. */
  RATE_LIMITED: 'rate_limited',
  /** 5xx or an answer that is not the JSON we expect. */
  SERVER: 'server',
});

const RETRYABLE = new Set([ErrorKind.NETWORK, ErrorKind.SERVER, ErrorKind.RATE_LIMITED]);

export class SurveyApiError extends Error {
  /**
   * @param {string} kind one of `ErrorKind`
   * @param {string} message for logs only, never shown to shoppers
   * @param {number} [status]
   */
  constructor(kind, message, status) {
    super(message);
    this.name = 'SurveyApiError';
    this.kind = kind;
    this.status = status;
  }

  get retryable() {
    return RETRYABLE.has(this.kind);
  }
}

const BY_STATUS = {
  400: ErrorKind.REJECTED,
  401: ErrorKind.UNAUTHORIZED,
  403: ErrorKind.FORBIDDEN,
  404: ErrorKind.DISABLED,
  409: ErrorKind.ALREADY_ANSWERED,
  413: ErrorKind.REJECTED,
  422: ErrorKind.REJECTED,
  429: ErrorKind.RATE_LIMITED,
};

/**
 * The backend's origin (plus an optional path), without a trailing slash;
 * `null` for anything that is not an absolute http(s) URL.
 * @param {unknown} raw
 */
export function normaliseAppUrl(raw) {
  if (typeof raw !== 'string') return null;
  const trimmed = raw.trim();
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/i.test(trimmed)) return null;
  return trimmed.replace(/\/+$/, '');
}

/**
 * @param {{
 *   appUrl: string | null | undefined,
 *   fetch: typeof fetch,
 *   getSessionToken: () => Promise<string>,
 *   timeoutMs?: number,
 * }} options
 */
export function createSurveyApi({appUrl, fetch, getSessionToken, timeoutMs = 10000}) {
  const base = normaliseAppUrl(appUrl);

  async function request(method, path, body) {
    if (!base) throw new SurveyApiError(ErrorKind.NOT_CONFIGURED, 'no app URL at build time');
    let token;
    try {
      token = await getSessionToken();
    } catch (error) {
      throw new SurveyApiError(ErrorKind.NETWORK, `no session token: ${messageOf(error)}`);
    }
    const abort = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = abort ? setTimeout(() => abort.abort(), timeoutMs) : null;
    let response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: {
          Accept: 'application/json',
          Authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : {'Content-Type': 'application/json'}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: abort ? abort.signal : undefined,
      });
    } catch (error) {
      throw new SurveyApiError(ErrorKind.NETWORK, `${method} ${path}: ${messageOf(error)}`);
    } finally {
      if (timer) clearTimeout(timer);
    }
    let payload = null;
    try {
      const text = await response.text();
      payload = text ? JSON.parse(text) : null;
    } catch {
      payload = null;
    }
    if (response.ok) {
      if (payload === null || typeof payload !== 'object') {
        throw new SurveyApiError(ErrorKind.SERVER, `${method} ${path}: not JSON`, response.status);
      }
      return payload;
    }
    const why = payload && typeof payload.message === 'string' ? payload.message : `HTTP ${response.status}`;
    const kind = BY_STATUS[response.status] ?? ErrorKind.SERVER;
    throw new SurveyApiError(kind, `${method} ${path}: ${why}`, response.status);
  }

  return {
    /**
     * Whether the survey is offered, its bonus, and whether this order was
     * answered (with the score and the points credited).
     * @param {string | null} orderId
     */
    getStatus(orderId) {
      const query = orderId ? `?order_id=${encodeURIComponent(orderId)}` : '';
      return request('GET', `/api/checkout/nps${query}`);
    },

    /**
     * Sends the answer. The backend keeps the first answer per order, so a
     * retry after an unknown outcome cannot count twice (it answers 409).
     * @param {{orderId: string, score: number, comment: string | null}} answer
     */
    answer({orderId, score, comment}) {
      return request('POST', '/api/checkout/nps', {order_id: orderId, score, comment});
    },
  };
}

function messageOf(error) {
  if (error && typeof error === 'object' && error.name === 'AbortError') return 'timed out';
  return error instanceof Error ? error.message : String(error);
}
