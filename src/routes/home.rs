//! The app's page inside Shopify admin (`/?shop=...&host=...`). It loads
//! App Bridge, which gives the page its session tokens; the admin screens
//! are built on it.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::{app::AppState, error::ApiError, shopify::query};

pub async fn app_home(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query::parse_pairs(req.query_string());
    let shop = super::shop_param(&pairs)?;
    let api_key = html_escape(&state.config.shopify.api_key);
    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="shopify-api-key" content="{api_key}">
<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>
<title>Advocate</title>
</head>
<body>
<main><h1>Advocate</h1><p>Loyalty for {shop}.</p></main>
</body>
</html>"#,
        shop = html_escape(shop.as_str())
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
