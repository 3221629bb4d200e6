//! Shopify's token endpoint: the authorization code grant, token exchange
//! (managed install) and refresh of expiring offline tokens. Every request
//! Advocate sends to `https://{shop}/...` goes to `SHOPIFY_API_ORIGIN`
//! instead when that is set, with the shop in `X-Shopify-Shop-Domain`.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::ShopDomain;

/// Shopify's answer from `/admin/oauth/access_token`.
#[derive(Deserialize)]
pub struct TokenResponse {
    pub access_token: SecretString,
    #[serde(default)]
    pub scope: String,
    /// Seconds the access token lives (about an hour when expiring).
    pub expires_in: Option<i64>,
    pub refresh_token: Option<SecretString>,
    pub refresh_token_expires_in: Option<i64>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenResponse(scope {}, redacted)", self.scope)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Shopify refused (bad code, spent refresh token, app not installed):
    /// trying again cannot help; the merchant must authenticate.
    #[error("Shopify refused the request ({status}): {error}")]
    Rejected { status: u16, error: String },
    /// Shopify could not be reached or failed: try again later.
    #[error("Shopify is unavailable: {0}")]
    Unavailable(String),
}

/// Routes requests to Shopify, or to a stand-in.
#[derive(Clone, Debug)]
pub struct ShopifyEndpoint {
    origin: Option<String>,
}

impl ShopifyEndpoint {
    pub fn new(origin: Option<String>) -> Self {
        Self { origin }
    }

    /// The URL for `path` on `shop`, and the header naming the shop when a
    /// stand-in serves every shop on one origin.
    pub fn url(&self, shop: &ShopDomain, path: &str) -> String {
        match &self.origin {
            Some(origin) => format!("{origin}{path}"),
            None => format!("https://{shop}{path}"),
        }
    }

    pub fn request(
        &self,
        http: &reqwest::Client,
        shop: &ShopDomain,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let request = http.post(self.url(shop, path));
        match &self.origin {
            Some(_) => request.header("X-Shopify-Shop-Domain", shop.as_str()),
            None => request,
        }
    }

    /// Where a merchant's browser is sent to approve the app. A stand-in
    /// learns the shop from a `shop` parameter, since a browser redirect
    /// cannot carry a header.
    pub fn authorize_url(&self, shop: &ShopDomain, query: &str) -> String {
        match &self.origin {
            Some(origin) => format!("{origin}/admin/oauth/authorize?{query}&shop={shop}"),
            None => format!("https://{shop}/admin/oauth/authorize?{query}"),
        }
    }
}

pub struct OAuthClient {
    http: reqwest::Client,
    endpoint: ShopifyEndpoint,
    api_key: String,
    api_secret: SecretString,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OAuthClient({:?}, redacted)", self.endpoint)
    }
}

impl OAuthClient {
    pub fn new(endpoint: ShopifyEndpoint, api_key: &str, api_secret: &SecretString) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client");
        Self {
            http,
            endpoint,
            api_key: api_key.to_owned(),
            api_secret: api_secret.clone(),
        }
    }

    pub fn endpoint(&self) -> &ShopifyEndpoint {
        &self.endpoint
    }

    /// Authorization code grant: the code from the callback for an expiring
    /// offline token.
    pub async fn exchange_code(
        &self,
        shop: &ShopDomain,
        code: &str,
    ) -> Result<TokenResponse, OAuthError> {
        self.token_request(
            shop,
            json!({
                "code": code,
                "expiring": "1",
            }),
        )
        .await
    }

    /// Token exchange: a session token (ID token) for an expiring offline
    /// access token, without any redirect.
    pub async fn exchange_session_token(
        &self,
        shop: &ShopDomain,
        session_token: &str,
    ) -> Result<TokenResponse, OAuthError> {
        self.token_request(
            shop,
            json!({
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": session_token,
                "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
                "requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
                "expiring": "1",
            }),
        )
        .await
    }

    /// Spends the refresh token for a new pair.
    pub async fn refresh(
        &self,
        shop: &ShopDomain,
        refresh_token: &str,
    ) -> Result<TokenResponse, OAuthError> {
        self.token_request(
            shop,
            json!({
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
            }),
        )
        .await
    }

    async fn token_request(
        &self,
        shop: &ShopDomain,
        mut body: serde_json::Value,
    ) -> Result<TokenResponse, OAuthError> {
        body["client_id"] = json!(self.api_key);
        body["client_secret"] = json!(self.api_secret.expose_secret());
        let response = self
            .endpoint
            .request(&self.http, shop, "/admin/oauth/access_token")
            .json(&body)
            .send()
            .await
            .map_err(|e| OAuthError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(|e| {
                OAuthError::Unavailable(format!("unreadable token response: {}", e.without_url()))
            });
        }
        // Shopify's error bodies carry no secrets; keep them short anyway.
        let error: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        if status.is_client_error() && status.as_u16() != 429 {
            Err(OAuthError::Rejected {
                status: status.as_u16(),
                error,
            })
        } else {
            Err(OAuthError::Unavailable(format!("HTTP {status}")))
        }
    }
}
