// Where the backend lives, fixed when the extension is bundled: the Shopify
// CLI replaces `process.env.APP_URL` (set by `shopify app dev`: the tunnel)
// and `process.env.SHOPIFY_APP_URL` (the backend's public URL, for build and
// deploy) in the source. Only these two names appear, so no other `.env`
// value can reach the bundle. In the sandbox `process` does not exist, so a
// name the build did not replace reads as undefined ("not configured").

export function buildTimeAppUrl() {
  const read = (get) => {
    try {
      return get();
    } catch {
      return undefined;
    }
  };
  return resolveAppUrl({
    APP_URL: read(() => process.env.APP_URL),
    SHOPIFY_APP_URL: read(() => process.env.SHOPIFY_APP_URL),
  });
}

/** The dev tunnel wins over the configured URL. */
export function resolveAppUrl(env) {
  const pick = (value) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);
  return pick(env.APP_URL) ?? pick(env.SHOPIFY_APP_URL);
}
