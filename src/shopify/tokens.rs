//! The lifecycle of a shop's offline tokens: stored encrypted on install,
//! refreshed shortly before they expire with the rotating refresh token, and
//! given up (the shop marked for re-authentication) when Shopify refuses a
//! refresh. A refresh is serialised per shop, within the process (a mutex)
//! and across processes on PostgreSQL (an advisory lock), and the new pair
//! is stored before the lock is released, so a refresh token is never spent
//! twice.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::{
    oauth::{OAuthClient, OAuthError, TokenResponse},
    ShopDomain,
};
use crate::crypto::{CryptoError, TokenCipher};

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
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// A shop's tokens as sealed for storage: encrypted, with their expiry
/// (epoch ms).
#[derive(Debug, Clone)]
pub struct SealedTokens {
    pub access_token_enc: Vec<u8>,
    pub access_token_expires_at: Option<i64>,
    pub refresh_token_enc: Option<Vec<u8>>,
    pub refresh_token_expires_at: Option<i64>,
    pub scopes: Option<String>,
}

/// A shop's credentials as stored.
#[derive(Debug, Clone)]
pub struct StoredCredentials {
    /// The shop's id in the store.
    pub id: i64,
    /// Installed (not uninstalled or redacted).
    pub installed: bool,
    /// Shopify refused a refresh: the merchant must authenticate again.
    pub needs_reauth: bool,
    pub access_token_enc: Option<Vec<u8>>,
    pub access_token_expires_at: Option<i64>,
    pub refresh_token_enc: Option<Vec<u8>>,
}

/// A shop that was just installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installed {
    /// The shop's id in the store.
    pub id: i64,
}

/// Re-encrypts one sealed token of a shop (domain, token) under the current
/// key; `None` when it is under that key already.
pub type Reseal<'a> =
    dyn Fn(&str, &[u8]) -> Result<Option<Vec<u8>>, CryptoError> + Send + Sync + 'a;

/// Where sealed tokens are kept (the database, through `crate::store`).
/// Every method's error is the store's.
pub trait TokenVault: Send + Sync {
    /// The shop's credentials, if the shop is known.
    fn credentials<'a>(
        &'a self,
        shop: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredCredentials>, sqlx::Error>>;

    /// Stores the tokens of an install (first or again) and marks the shop
    /// installed.
    fn save_install<'a>(
        &'a self,
        shop: &'a str,
        tokens: &'a SealedTokens,
        now: i64,
    ) -> BoxFuture<'a, Result<Installed, sqlx::Error>>;

    /// Queues the first import of a newly installed shop's history (a shop
    /// that had one keeps it).
    fn queue_history<'a>(
        &'a self,
        shop_id: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;

    /// Gives up on the shop's tokens until the merchant authenticates again.
    fn mark_needs_reauth(&self, shop_id: i64, now: i64) -> BoxFuture<'_, Result<(), sqlx::Error>>;

    /// Serialises refreshes of the shop across processes until the guard is
    /// finished or dropped.
    fn lock_refresh(
        &self,
        shop_id: i64,
    ) -> BoxFuture<'_, Result<Box<dyn RefreshGuard>, sqlx::Error>>;

    /// Passes every stored token of every shop through `reseal` and stores
    /// what it returns, all in one transaction. Returns how many shops were
    /// rewritten.
    fn reseal_all<'a>(&'a self, reseal: &'a Reseal<'a>) -> BoxFuture<'a, anyhow::Result<usize>>;
}

/// A shop's refresh lock, held while its refresh token is spent.
pub trait RefreshGuard: Send {
    /// Stores the refreshed pair and releases the lock (atomically where
    /// the store can).
    fn finish<'a>(
        self: Box<Self>,
        tokens: &'a SealedTokens,
        now: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub struct ShopTokens {
    vault: Arc<dyn TokenVault>,
    cipher: Arc<TokenCipher>,
    oauth: OAuthClient,
    refreshing: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Queue the import of a shop's history when it is installed.
    history_on_install: bool,
}

impl std::fmt::Debug for ShopTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShopTokens(redacted)")
    }
}

impl ShopTokens {
    /// The cipher that seals secrets at rest (tokens, webhook secrets).
    pub fn cipher(&self) -> &Arc<TokenCipher> {
        &self.cipher
    }

    pub fn new(
        vault: impl TokenVault + 'static,
        cipher: Arc<TokenCipher>,
        oauth: OAuthClient,
    ) -> Self {
        Self {
            vault: Arc::new(vault),
            cipher,
            oauth,
            refreshing: Mutex::new(HashMap::new()),
            history_on_install: false,
        }
    }

    /// Queues the import of a shop's history when it is installed.
    pub fn queuing_history(mut self, on_install: bool) -> Self {
        self.history_on_install = on_install;
        self
    }

    pub fn oauth(&self) -> &OAuthClient {
        &self.oauth
    }

    /// Stores the tokens of a new (or renewed) installation.
    pub async fn install(
        &self,
        shop: &ShopDomain,
        tokens: TokenResponse,
    ) -> Result<Installed, TokenError> {
        let now = now_ms();
        let stored = self.seal(shop, &tokens, now);
        let saved = self.vault.save_install(shop.as_str(), &stored, now).await?;
        if self.history_on_install {
            self.vault.queue_history(saved.id, now).await?;
        }
        tracing::info!(shop = %shop, "shop installed");
        Ok(saved)
    }

    /// Managed install: trades a verified session token for offline tokens.
    pub async fn install_with_session_token(
        &self,
        shop: &ShopDomain,
        session_token: &str,
    ) -> Result<Installed, TokenError> {
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

    async fn credentials(&self, shop: &ShopDomain) -> Result<StoredCredentials, TokenError> {
        let creds = self
            .vault
            .credentials(shop.as_str())
            .await?
            .ok_or(TokenError::NotInstalled)?;
        if !creds.installed || creds.access_token_enc.is_none() {
            return Err(TokenError::NotInstalled);
        }
        if creds.needs_reauth {
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
        self.vault.mark_needs_reauth(creds.id, now_ms()).await?;
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
        let lock = self.vault.lock_refresh(shop_id).await?;
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
                lock.finish(&stored, now).await?;
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
        lock: Box<dyn RefreshGuard>,
    ) -> Result<SecretString, TokenError> {
        drop(lock);
        self.vault.mark_needs_reauth(shop_id, now_ms()).await?;
        Err(TokenError::NeedsReauth)
    }

    fn seal(&self, shop: &ShopDomain, tokens: &TokenResponse, now: i64) -> SealedTokens {
        let expires = |secs: Option<i64>| secs.map(|s| now + s * 1000);
        SealedTokens {
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
pub async fn rotate_key(vault: &dyn TokenVault, cipher: &TokenCipher) -> anyhow::Result<usize> {
    let reseal = |domain: &str, sealed: &[u8]| {
        if cipher.is_current(sealed) {
            return Ok(None);
        }
        Ok(Some(
            cipher.encrypt(domain, &cipher.decrypt(domain, sealed)?),
        ))
    };
    vault.reseal_all(&reseal).await
}
