//! The lifecycle of a shop's offline tokens: stored encrypted on install,
//! refreshed shortly before they expire with the rotating refresh token, and
//! given up (the shop marked for re-authentication) when Shopify refuses a
//! refresh. A refresh is serialised per shop, within the process (a mutex)
//! and across processes on PostgreSQL (an advisory lock), and the new pair
//! is stored before the lock is released, so a refresh token is never spent
//! twice.

use std::{collections::HashMap, sync::Arc, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::{
    oauth::{OAuthClient, OAuthError, TokenResponse},
    ShopDomain,
};
use crate::{
    crypto::TokenCipher,
    store::{
        now_ms,
        shops::{self, RefreshLock, Shop, StoredTokens},
        Store,
    },
};

/// Refresh when the access token has less than this left.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("shop has not installed Advocate")]
    NotInstalled,
    #[error("shop must authenticate again")]
    NeedsReauth,
    #[error(transparent)]
    Shopify(#[from] OAuthError),
    #[error("stored token cannot be decrypted: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

pub struct ShopTokens {
    store: Store,
    cipher: Arc<TokenCipher>,
    oauth: OAuthClient,
    refreshing: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl std::fmt::Debug for ShopTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShopTokens(redacted)")
    }
}

impl ShopTokens {
    pub fn new(store: Store, cipher: Arc<TokenCipher>, oauth: OAuthClient) -> Self {
        Self {
            store,
            cipher,
            oauth,
            refreshing: Mutex::new(HashMap::new()),
        }
    }

    pub fn oauth(&self) -> &OAuthClient {
        &self.oauth
    }

    /// Stores the tokens of a new (or renewed) installation.
    pub async fn install(
        &self,
        shop: &ShopDomain,
        tokens: TokenResponse,
    ) -> Result<Shop, TokenError> {
        let now = now_ms();
        let stored = self.seal(shop, &tokens, now);
        let mut conn = self.store.writer().acquire().await?;
        let saved = shops::save_install(&mut conn, shop.as_str(), &stored, now).await?;
        tracing::info!(shop = %shop, "shop installed");
        Ok(saved)
    }

    /// Managed install: trades a verified session token for offline tokens.
    pub async fn install_with_session_token(
        &self,
        shop: &ShopDomain,
        session_token: &str,
    ) -> Result<Shop, TokenError> {
        let tokens = self
            .oauth
            .exchange_session_token(shop, session_token)
            .await?;
        self.install(shop, tokens).await
    }

    /// A usable access token for the shop, refreshed first if it is about to
    /// expire.
    pub async fn access_token(&self, shop: &ShopDomain) -> Result<SecretString, TokenError> {
        let creds = self.credentials(shop).await?;
        if !needs_refresh(creds.access_token_expires_at) {
            let sealed = creds
                .access_token_enc
                .as_deref()
                .ok_or(TokenError::NotInstalled)?;
            return Ok(self.cipher.decrypt(shop.as_str(), sealed)?.into());
        }
        self.refresh(shop).await
    }

    async fn credentials(&self, shop: &ShopDomain) -> Result<shops::ShopCredentials, TokenError> {
        let mut conn = self.store.writer().acquire().await?;
        let creds = shops::find_credentials(&mut conn, shop.as_str())
            .await?
            .ok_or(TokenError::NotInstalled)?;
        if creds.status != shops::status::INSTALLED || creds.access_token_enc.is_none() {
            return Err(TokenError::NotInstalled);
        }
        if creds.needs_reauth != 0 {
            return Err(TokenError::NeedsReauth);
        }
        Ok(creds)
    }

    /// Refreshes under the shop's lock; whoever got the lock second finds
    /// the fresh token and spends nothing.
    pub async fn refresh(&self, shop: &ShopDomain) -> Result<SecretString, TokenError> {
        self.refresh_unless_renewed(shop, None).await
    }

    /// Shopify refused `refused` (HTTP 401): refresh, unless another caller
    /// already replaced that token.
    pub async fn refresh_after_refusal(
        &self,
        shop: &ShopDomain,
        refused: &str,
    ) -> Result<SecretString, TokenError> {
        self.refresh_unless_renewed(shop, Some(refused)).await
    }

    /// Gives up on the shop's tokens until the merchant authenticates again.
    pub async fn mark_needs_reauth(&self, shop: &ShopDomain) -> Result<(), TokenError> {
        let creds = self.credentials(shop).await?;
        let mut conn = self.store.writer().acquire().await?;
        shops::mark_needs_reauth(&mut conn, creds.id, now_ms()).await?;
        tracing::warn!(shop = %shop, "Shopify refuses the shop's tokens; it must authenticate again");
        Ok(())
    }

    async fn refresh_unless_renewed(
        &self,
        shop: &ShopDomain,
        refused: Option<&str>,
    ) -> Result<SecretString, TokenError> {
        let local = {
            let mut locks = self.refreshing.lock().await;
            locks.entry(shop.as_str().to_owned()).or_default().clone()
        };
        let _local = local.lock().await;
        let shop_id = self.credentials(shop).await?.id;
        let lock = RefreshLock::acquire(&self.store, shop_id).await?;
        // Read again under the lock: another process may have refreshed.
        let creds = self.credentials(shop).await?;
        let sealed = creds
            .access_token_enc
            .as_deref()
            .ok_or(TokenError::NotInstalled)?;
        let current = self.cipher.decrypt(shop.as_str(), sealed)?;
        let refused_now = refused.is_some_and(|r| r == current);
        if !needs_refresh(creds.access_token_expires_at) && !refused_now {
            return Ok(current.into());
        }
        let Some(sealed_refresh) = creds.refresh_token_enc.as_deref() else {
            return self.give_up(shop, shop_id, lock).await;
        };
        let refresh_token = self.cipher.decrypt(shop.as_str(), sealed_refresh)?;
        match self.oauth.refresh(shop, &refresh_token).await {
            Ok(tokens) => {
                let now = now_ms();
                let stored = self.seal(shop, &tokens, now);
                lock.finish(&self.store, shop_id, &stored, now).await?;
                tracing::info!(shop = %shop, "access token refreshed");
                Ok(tokens.access_token)
            }
            Err(OAuthError::Rejected { status, .. }) => {
                tracing::warn!(shop = %shop, status, "refresh refused; the shop must authenticate again");
                self.give_up(shop, shop_id, lock).await
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn give_up(
        &self,
        _shop: &ShopDomain,
        shop_id: i64,
        lock: RefreshLock,
    ) -> Result<SecretString, TokenError> {
        drop(lock);
        let mut conn = self.store.writer().acquire().await?;
        shops::mark_needs_reauth(&mut conn, shop_id, now_ms()).await?;
        Err(TokenError::NeedsReauth)
    }

    fn seal(&self, shop: &ShopDomain, tokens: &TokenResponse, now: i64) -> StoredTokens {
        let expires = |secs: Option<i64>| secs.map(|s| now + s * 1000);
        StoredTokens {
            access_token_enc: self
                .cipher
                .encrypt(shop.as_str(), tokens.access_token.expose_secret()),
            access_token_expires_at: expires(tokens.expires_in),
            refresh_token_enc: tokens
                .refresh_token
                .as_ref()
                .map(|t| self.cipher.encrypt(shop.as_str(), t.expose_secret())),
            refresh_token_expires_at: expires(tokens.refresh_token_expires_in),
            scopes: Some(tokens.scope.clone()),
        }
    }
}

/// A token without an expiry never needs a refresh.
fn needs_refresh(expires_at: Option<i64>) -> bool {
    expires_at.is_some_and(|at| at - now_ms() < REFRESH_MARGIN.as_millis() as i64)
}

/// Re-encrypts every stored token under the current key (`advocate
/// rotate-key`). Returns how many shops were rewritten.
pub async fn rotate_key(store: &Store, cipher: &TokenCipher) -> anyhow::Result<usize> {
    let mut tx = store.begin().await?;
    let rows = shops::list_encrypted_tokens(&mut tx).await?;
    let mut rewritten = 0;
    for (id, domain, access, refresh) in rows {
        let stale = |t: &Option<Vec<u8>>| t.as_ref().is_some_and(|t| !cipher.is_current(t));
        if !stale(&access) && !stale(&refresh) {
            continue;
        }
        let reseal = |t: Option<Vec<u8>>| -> anyhow::Result<Option<Vec<u8>>> {
            t.map(|t| Ok(cipher.encrypt(&domain, &cipher.decrypt(&domain, &t)?)))
                .transpose()
        };
        let (access, refresh) = (reseal(access)?, reseal(refresh)?);
        shops::set_encrypted_tokens(&mut tx, id, access.as_deref(), refresh.as_deref()).await?;
        rewritten += 1;
    }
    tx.commit().await?;
    Ok(rewritten)
}
