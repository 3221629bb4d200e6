//! Admin API calls on behalf of a shop: the shop's current access token,
//! and on a 401 one refresh and one more try; a second 401 means Shopify no
//! longer accepts the shop's tokens, and the shop is marked for
//! re-authentication.

use std::sync::Arc;

use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    client::{AdminClient, ShopifyError},
    Document,
};
use crate::shopify::{
    tokens::{ShopTokens, TokenError},
    ShopDomain,
};

#[derive(Debug, thiserror::Error)]
pub enum AdminApiError {
    #[error(transparent)]
    Shopify(#[from] ShopifyError),
    #[error(transparent)]
    Token(#[from] TokenError),
}

pub struct AdminApi {
    pub client: AdminClient,
    pub tokens: Arc<ShopTokens>,
    /// A change touching at least this many customers goes as one bulk
    /// operation instead of one call each.
    pub bulk_threshold: usize,
    /// Uploads staged files for bulk operations.
    pub uploads: reqwest::Client,
}

pub use crate::engine::effects::DEFAULT_BULK_THRESHOLD;

impl AdminApi {
    pub fn new(client: AdminClient, tokens: Arc<ShopTokens>) -> Self {
        Self {
            client,
            tokens,
            bulk_threshold: DEFAULT_BULK_THRESHOLD,
            uploads: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(120))
                .build()
                .expect("HTTP client"),
        }
    }

    pub async fn call<T: DeserializeOwned>(
        &self,
        shop: &ShopDomain,
        document: Document,
        variables: impl serde::Serialize,
    ) -> Result<T, AdminApiError> {
        let variables: Value = serde_json::to_value(variables)
            .map_err(|e| ShopifyError::GraphQl(vec![format!("unserialisable variables: {e}")]))?;
        let token = self.tokens.access_token(shop).await?;
        let first = self
            .client
            .execute(shop, token.expose_secret(), document, variables.clone())
            .await;
        match first {
            Err(ShopifyError::Unauthorized) => {}
            other => return Ok(other?),
        }
        let fresh = self
            .tokens
            .refresh_after_refusal(shop, token.expose_secret())
            .await?;
        match self
            .client
            .execute(shop, fresh.expose_secret(), document, variables)
            .await
        {
            Err(ShopifyError::Unauthorized) => {
                self.tokens.mark_needs_reauth(shop).await?;
                Err(ShopifyError::Unauthorized.into())
            }
            other => Ok(other?),
        }
    }
}
