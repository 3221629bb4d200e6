//! The store as the token service's vault: [`crate::shopify::tokens`]
//! defines what it needs kept, [`crate::store::shops`] keeps it; this is
//! where the two meet, so neither imports the other.

use futures_util::future::BoxFuture;

use crate::{
    engine::effects::Effect,
    shopify::tokens::{
        Installed, RefreshGuard, Reseal, SealedTokens, StoredCredentials, TokenVault,
    },
    store::{
        shops::{self, RefreshLock, ShopCredentials, StoredTokens},
        Store,
    },
};

fn stored(tokens: &SealedTokens) -> StoredTokens {
    StoredTokens {
        access_token_enc: tokens.access_token_enc.clone(),
        access_token_expires_at: tokens.access_token_expires_at,
        refresh_token_enc: tokens.refresh_token_enc.clone(),
        refresh_token_expires_at: tokens.refresh_token_expires_at,
        scopes: tokens.scopes.clone(),
    }
}

fn credentials(row: ShopCredentials) -> StoredCredentials {
    StoredCredentials {
        id: row.id,
        installed: row.status == shops::status::INSTALLED,
        needs_reauth: row.needs_reauth != 0,
        access_token_enc: row.access_token_enc,
        access_token_expires_at: row.access_token_expires_at,
        refresh_token_enc: row.refresh_token_enc,
    }
}

impl TokenVault for Store {
    fn credentials<'a>(
        &'a self,
        shop: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredCredentials>, sqlx::Error>> {
        Box::pin(async move {
            let mut conn = self.writer().acquire().await?;
            let row = shops::find_credentials(&mut conn, shop).await?;
            Ok(row.map(credentials))
        })
    }

    fn save_install<'a>(
        &'a self,
        shop: &'a str,
        tokens: &'a SealedTokens,
        now: i64,
    ) -> BoxFuture<'a, Result<Installed, sqlx::Error>> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            let saved = shops::save_install(&mut tx, shop, &stored(tokens), now).await?;
            // Each install reads the shop's time zone once, through the
            // outbox (retried until Shopify answers).
            crate::engine::enqueue(
                &mut tx,
                saved.id,
                &Effect::ReadShop,
                &format!("read-shop:{now}"),
                None,
            )
            .await?;
            tx.commit().await?;
            Ok(Installed { id: saved.id })
        })
    }

    fn queue_history<'a>(
        &'a self,
        shop_id: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let mut conn = self.writer().acquire().await?;
            crate::store::history::queue_first(&mut conn, shop_id, now).await
        })
    }

    fn mark_needs_reauth(&self, shop_id: i64, now: i64) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let mut conn = self.writer().acquire().await?;
            shops::mark_needs_reauth(&mut conn, shop_id, now).await
        })
    }

    fn lock_refresh(
        &self,
        shop_id: i64,
    ) -> BoxFuture<'_, Result<Box<dyn RefreshGuard>, sqlx::Error>> {
        Box::pin(async move {
            let lock = RefreshLock::acquire(self, shop_id).await?;
            let guard: Box<dyn RefreshGuard> = Box::new(Guard {
                store: self.clone(),
                shop_id,
                lock,
            });
            Ok(guard)
        })
    }

    fn reseal_all<'a>(&'a self, reseal: &'a Reseal<'a>) -> BoxFuture<'a, anyhow::Result<usize>> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            let rows = shops::list_encrypted_tokens(&mut tx).await?;
            let mut rewritten = 0;
            for (id, domain, access, refresh) in rows {
                let again = |t: &Option<Vec<u8>>| t.as_deref().map(|t| reseal(&domain, t));
                let (new_access, new_refresh) =
                    (again(&access).transpose()?, again(&refresh).transpose()?);
                let (new_access, new_refresh) = (new_access.flatten(), new_refresh.flatten());
                if new_access.is_none() && new_refresh.is_none() {
                    continue;
                }
                let access = new_access.or(access);
                let refresh = new_refresh.or(refresh);
                shops::set_encrypted_tokens(&mut tx, id, access.as_deref(), refresh.as_deref())
                    .await?;
                rewritten += 1;
            }
            tx.commit().await?;
            Ok(rewritten)
        })
    }
}

/// The store's refresh lock on one shop.
struct Guard {
    store: Store,
    shop_id: i64,
    lock: RefreshLock,
}

impl RefreshGuard for Guard {
    fn finish<'a>(
        self: Box<Self>,
        tokens: &'a SealedTokens,
        now: i64,
    ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let Guard {
                store,
                shop_id,
                lock,
            } = *self;
            lock.finish(&store, shop_id, &stored(tokens), now).await
        })
    }
}
