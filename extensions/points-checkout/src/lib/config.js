// Where the Advocate backend lives. UI extensions run in Shopify's sandbox
// and cannot read environment variables at run time, so the URL is fixed
// when the extension is bundled: the Shopify CLI (3.x) bundles UI extensions
// with esbuild and replaces every `process.env.NAME` it sees with the value
// of NAME from the build's environment or the app's `.env` file, and during
// `shopify app dev` it sets `APP_URL` to the app's (tunnel) URL.
//
// So: `shopify app dev` uses the tunnel; `shopify app deploy` / `build`
// uses `SHOPIFY_APP_URL`, the same variable the backend reads (from `.env`
// or the environment of the deploy). Only these two names are referenced
// here, so no other `.env` value (secrets) can end up in the bundle.
//
// A name the build did not define stays `process.env.NAME` in the bundle,
// and `process` does not exist in the sandbox: each read is guarded so a
// missing value is `undefined`, which the UI reports as "not configured".

export function buildTimeAppUrl() {
  let devUrl;
  let configuredUrl;
  try {
    devUrl = process.env.APP_URL;
  } catch {
    devUrl = undefined;
  }
  try {
    configuredUrl = process.env.SHOPIFY_APP_URL;
  } catch {
    configuredUrl = undefined;
  }
  return resolveAppUrl({APP_URL: devUrl, SHOPIFY_APP_URL: configuredUrl});
}

/**
 * The dev tunnel wins over the configured URL, so `shopify app dev` talks to
 * the backend it runs.
 * @param {{APP_URL?: string, SHOPIFY_APP_URL?: string}} env
 * @returns {string | undefined}
 */
export function resolveAppUrl(env) {
  const pick = (value) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);
  return pick(env.APP_URL) ?? pick(env.SHOPIFY_APP_URL);
}
