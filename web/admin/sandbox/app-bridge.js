// Sandbox stand-in for App Bridge (cdn.shopify.com/shopifycloud/app-bridge.js).
// Provides what the admin page uses: `shopify.idToken()`, backed by
// Advocate's sandbox endpoint, which signs session tokens with the sandbox
// secret (it answers 404 outside sandbox mode), and `shopify.toast.show()`.
// Only ever loaded in sandbox mode.
(function () {
  "use strict";
  var cached = null;

  function shop() {
    var fromQuery = new URLSearchParams(window.location.search).get("shop");
    var meta = document.querySelector('meta[name="advocate-shop"]');
    return fromQuery || (meta && meta.content) || "";
  }

  function expiry(token) {
    try {
      var payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(payload)).exp * 1000;
    } catch (e) {
      return 0;
    }
  }

  async function idToken() {
    // Like App Bridge, hand out the same token until shortly before it expires.
    if (cached && cached.expires - Date.now() > 10000) return cached.token;
    var response = await fetch("/sandbox/session-token?shop=" + encodeURIComponent(shop()), { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error("the sandbox did not issue a session token (HTTP " + response.status + ")");
    var body = await response.json();
    cached = { token: body.token, expires: expiry(body.token) };
    return body.token;
  }

  function show(message, options) {
    var region = document.getElementById("sandbox-toasts");
    if (!region) {
      region = document.createElement("div");
      region.id = "sandbox-toasts";
      region.setAttribute("role", "status");
      region.setAttribute("aria-live", "polite");
      document.body.append(region);
    }
    var toast = document.createElement("div");
    toast.className = "sandbox-toast" + (options && options.isError ? " error" : "");
    toast.textContent = message;
    region.append(toast);
    setTimeout(function () { toast.remove(); }, (options && options.duration) || 4000);
  }

  var meta = document.querySelector('meta[name="shopify-api-key"]');
  window.shopify = {
    sandbox: true,
    config: { apiKey: meta ? meta.content : "", shop: shop() },
    idToken: idToken,
    toast: { show: show },
  };
})();
