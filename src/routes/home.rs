//! The app's page inside Shopify admin (`/?shop=...&host=...&embedded=1`)
//! and its static assets (`/assets/...`).
//!
//! The page is one HTML template (`web/admin/index.html`) filled with the
//! api key, the shop and the scripts to load; everything it runs is a file
//! under `web/admin/`, compiled into the binary, so there is no separate web
//! server and no Node at build time. In real mode the page loads App Bridge
//! and Polaris from Shopify's CDN; in sandbox mode it loads the local
//! stand-ins (`web/admin/sandbox/`) and says so in a banner. The page has no
//! inline script: its settings travel in `<meta>` tags.
//!
//! Assets are answered with an ETag (a hash of their bytes computed at
//! compile time) and `Cache-Control: no-cache`, so a browser revalidates
//! and gets `304` until a new build changes them.

use actix_web::{
    http::header::{self, HeaderValue},
    web, HttpRequest, HttpResponse, ResponseError,
};

use crate::{error::ApiError, routes::AppState, shopify::query};

const TEMPLATE: &str = include_str!("../../web/admin/index.html");

/// Scripts of the real page: App Bridge first (it reads the api-key meta),
/// then Polaris.
const REAL_SCRIPTS: &str = r#"<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>
<script src="https://cdn.shopify.com/shopifycloud/polaris.js"></script>"#;

/// The sandbox's local stand-ins for the same two scripts.
const SANDBOX_SCRIPTS: &str = r#"<script src="/assets/sandbox/app-bridge.js"></script>
<script src="/assets/sandbox/polaris.js"></script>"#;

/// One compiled-in file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// FNV-1a of `body`, computed by the compiler.
    hash: u64,
}

macro_rules! asset {
    ($path:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("../../web/admin/", $path)),
            hash: fnv1a(include_bytes!(concat!("../../web/admin/", $path))),
        }
    };
}

/// Every file under `/assets/`.
static ASSETS: &[Asset] = &[
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("ui.js", "text/javascript; charset=utf-8"),
    asset!("format.js", "text/javascript; charset=utf-8"),
    asset!("earning.js", "text/javascript; charset=utf-8"),
    asset!("charts.js", "text/javascript; charset=utf-8"),
    asset!("forecast.js", "text/javascript; charset=utf-8"),
    asset!("screens/dashboard.js", "text/javascript; charset=utf-8"),
    asset!("screens/program.js", "text/javascript; charset=utf-8"),
    asset!("screens/customers.js", "text/javascript; charset=utf-8"),
    asset!("screens/referrals.js", "text/javascript; charset=utf-8"),
    asset!("screens/activity.js", "text/javascript; charset=utf-8"),
    asset!("screens/segments.js", "text/javascript; charset=utf-8"),
    asset!("screens/nps.js", "text/javascript; charset=utf-8"),
    asset!("screens/keys.js", "text/javascript; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("sandbox/app-bridge.js", "text/javascript; charset=utf-8"),
    asset!("sandbox/polaris.js", "text/javascript; charset=utf-8"),
];

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// `GET /`: the embedded page for the shop in the query.
pub async fn app_home(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query::parse_pairs(req.query_string());
    let shop = super::shop_param(&pairs)?;
    let sandbox = state.config.sandbox;
    let page = render_page(&state.config.shopify.api_key, shop.as_str(), sandbox);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(page))
}

/// Fills the template. Every value is HTML-escaped; the scripts are ours.
fn render_page(api_key: &str, shop: &str, sandbox: bool) -> String {
    TEMPLATE
        .replace(
            "{{scripts}}",
            if sandbox {
                SANDBOX_SCRIPTS
            } else {
                REAL_SCRIPTS
            },
        )
        .replace("{{api_key}}", &html_escape(api_key))
        .replace("{{shop}}", &html_escape(shop))
        .replace("{{sandbox}}", if sandbox { "1" } else { "0" })
        .replace("{{asset_version}}", &format!("{:x}", assets_hash()))
}

/// One hash over every asset: appended to the page's asset URLs so a new
/// build is fetched at once.
fn assets_hash() -> u64 {
    ASSETS.iter().fold(0xcbf2_9ce4_8422_2325, |acc, a| {
        (acc ^ a.hash).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `GET /assets/{path}`: a compiled-in file, with its ETag.
pub async fn get_asset(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path.as_str()) else {
        return ApiError::NotFound("no such asset").error_response();
    };
    let etag = format!("\"{:016x}\"", asset.hash);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if fresh {
        return response.finish();
    }
    response
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ))
        .body(asset.body)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_what_it_is_given_and_picks_the_scripts() {
        let page = render_page("key\"><script>", "a.myshopify.com", false);
        assert!(page.contains(r#"content="key&quot;&gt;&lt;script&gt;""#));
        assert!(page.contains("https://cdn.shopify.com/shopifycloud/app-bridge.js"));
        assert!(!page.contains("/assets/sandbox/"));
        assert!(!page.contains("{{"));
        let sandbox = render_page("key", "a.myshopify.com", true);
        assert!(sandbox.contains("/assets/sandbox/app-bridge.js"));
        assert!(!sandbox.contains("cdn.shopify.com"));
    }

    #[test]
    fn app_bridge_is_the_first_script_of_the_real_page() {
        let page = render_page("key", "a.myshopify.com", false);
        let first = page.find("<script").unwrap();
        assert!(page[first..]
            .starts_with(r#"<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js">"#));
    }

    #[test]
    fn every_asset_has_a_distinct_hash() {
        let mut hashes: Vec<u64> = ASSETS.iter().map(|a| a.hash).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), ASSETS.len());
    }
}
