//! OAuth endpoints of the stand-in. Codes are single use; refresh tokens
//! rotate and a spent one is refused, as Shopify does; token exchange
//! verifies the session token like Shopify and only for an installed shop.

use std::{
    collections::{HashMap, HashSet},
    net::TcpListener,
    sync::{Arc, Mutex},
};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use crate::platform;

/// How the stand-in behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub api_key: String,
    pub api_secret: String,
    /// Lifetime of issued access tokens, in seconds.
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    /// The shops' plan: the Admin API bucket's restore rate, points/s
    /// (Standard 100, Advanced 200, Plus 1,000, Enterprise 2,000).
    pub restore_rate: f64,
    /// Bucket size, points.
    pub bucket_size: f64,
    /// Simulated seconds per real second (10: a bucket restores ten times
    /// faster, so a long stream runs in a short test).
    pub time_scale: f64,
}

impl SimConfig {
    /// A Standard-plan shop, tokens that live an hour, real time.
    pub fn new(api_key: &str, api_secret: &str) -> Self {
        Self {
            api_key: api_key.to_owned(),
            api_secret: api_secret.to_owned(),
            access_token_ttl: 3600,
            refresh_token_ttl: 90 * 24 * 3600,
            restore_rate: 100.0,
            bucket_size: 1000.0,
            time_scale: 1.0,
        }
    }
}

#[derive(Default)]
pub(super) struct State {
    installed: HashSet<String>,
    codes: HashMap<String, String>,
    access_tokens: HashMap<String, String>,
    refresh_tokens: HashMap<String, String>,
    spent_refresh_tokens: HashSet<String>,
    refreshes: u64,
    exchanges: u64,
    pub(super) admin: super::admin::AdminState,
}

/// A running stand-in; stops when dropped.
pub struct ShopifySim {
    origin: String,
    config: SimConfig,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for ShopifySim {
    fn drop(&mut self) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let handle = self.handle.clone();
            runtime.spawn(async move { handle.stop(false).await });
        }
    }
}

impl ShopifySim {
    /// Starts on a free local port.
    pub fn start(config: SimConfig) -> std::io::Result<Self> {
        Self::start_on(config, ("127.0.0.1", 0))
    }

    /// Starts on `address`.
    pub fn start_on(
        config: SimConfig,
        address: impl std::net::ToSocketAddrs,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address)?;
        let origin = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State::default()));
        state.lock().unwrap().admin.origin = origin.clone();
        let shared = web::Data::new((config.clone(), state.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                // Staged uploads carry whole JSONL files.
                .app_data(web::PayloadConfig::new(1 << 30))
                .app_data(web::JsonConfig::default().limit(16 << 20))
                .route("/admin/oauth/authorize", web::get().to(authorize))
                .route("/admin/oauth/access_token", web::post().to(access_token))
                .route(
                    "/admin/api/{version}/graphql.json",
                    web::post().to(super::admin::graphql),
                )
                .route(
                    "/staged-uploads/{id}",
                    web::post().to(super::admin::staged_upload),
                )
                .route(
                    "/bulk-results/{file}",
                    web::get().to(super::admin::bulk_result),
                )
                .configure(super::control::configure)
        })
        .workers(2)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            origin,
            config,
            state,
            handle,
        })
    }

    /// What `SHOPIFY_API_ORIGIN` must be set to.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The merchant installs the app (as the App Store does).
    pub fn install(&self, shop: &str) {
        self.state.lock().unwrap().install(shop);
    }

    /// The merchant uninstalls: every token of the shop stops working.
    pub fn uninstall(&self, shop: &str) {
        let mut state = self.state.lock().unwrap();
        state.installed.remove(shop);
        state.access_tokens.retain(|_, s| s != shop);
        state.refresh_tokens.retain(|_, s| s != shop);
    }

    /// Sets the time zone the shop's settings name (what `Shop.ianaTimezone`
    /// answers).
    pub fn set_time_zone(&self, shop: &str, zone: &str) {
        let mut state = self.state.lock().unwrap();
        state
            .admin
            .time_zones
            .insert(shop.to_owned(), zone.to_owned());
    }

    /// Gives `shop` a history of `customers` customers and `orders` orders
    /// over the last two years (see [`super::history`]), which its bulk
    /// queries return.
    pub fn set_history(&self, shop: &str, customers: usize, orders: usize) {
        use super::history::{bulk_result, History};
        let history = History {
            customers,
            orders,
            now: chrono::Utc::now(),
        };
        // Made now, so a bulk query later answers at once.
        let (c, cn) = bulk_result(&history, "{ customers }").expect("customers");
        let (o, on) = bulk_result(&history, "{ orders }").expect("orders");
        let mut state = self.state.lock().unwrap();
        state.admin.history.insert(shop.to_owned(), history);
        // The catalogue the history sells: variants 8,500,000,000 to
        // 8,500,000,039, priced 10.00 to 49.00.
        for n in 0..40_i64 {
            state.admin.variants.insert(
                (
                    shop.to_owned(),
                    format!("gid://shopify/ProductVariant/{}", 8_500_000_000 + n),
                ),
                format!("{}.00", 10 + n),
            );
        }
        state
            .admin
            .history_results
            .insert(shop.to_owned(), (c.into(), cn, o.into(), on));
    }

    /// Refreshes answered with new tokens so far.
    pub fn refreshes(&self) -> u64 {
        self.state.lock().unwrap().refreshes
    }

    /// Token exchanges answered so far.
    pub fn exchanges(&self) -> u64 {
        self.state.lock().unwrap().exchanges
    }

    /// Whether `token` is a live access token of `shop`.
    pub fn is_valid_access_token(&self, shop: &str, token: &str) -> bool {
        self.state
            .lock()
            .unwrap()
            .access_tokens
            .get(token)
            .is_some_and(|s| s == shop)
    }

    /// The stand-in's Admin API state, for tests to set faults and read
    /// back what was written.
    pub fn admin<R>(&self, f: impl FnOnce(&mut super::admin::AdminState) -> R) -> R {
        f(&mut self.state.lock().unwrap().admin)
    }

    /// Refuses every access token of `shop` (until called with false), as
    /// Shopify does for a revoked installation.
    pub fn refuse_access(&self, shop: &str, refuse: bool) {
        let mut state = self.state.lock().unwrap();
        if refuse {
            state.admin.refused.insert(shop.to_owned());
        } else {
            state.admin.refused.remove(shop);
        }
    }

    /// Expires every access token of `shop` (its refresh token still works).
    pub fn expire_access_tokens(&self, shop: &str) {
        self.state
            .lock()
            .unwrap()
            .access_tokens
            .retain(|_, s| s != shop);
    }

    /// Every token the stand-in has issued, for searching storage.
    pub fn issued_tokens(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .access_tokens
            .keys()
            .chain(state.refresh_tokens.keys())
            .chain(state.spent_refresh_tokens.iter())
            .cloned()
            .collect()
    }
}

impl State {
    pub(super) fn install(&mut self, shop: &str) {
        self.installed.insert(shop.to_owned());
    }

    pub(super) fn is_valid_access_token(&self, shop: &str, token: &str) -> bool {
        self.access_tokens.get(token).is_some_and(|s| s == shop)
            && !self.admin.refused.contains(shop)
    }
}

pub(super) type Shared = web::Data<(SimConfig, Arc<Mutex<State>>)>;

fn random_token(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(rand::random::<[u8; 16]>()))
}

fn error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(json!({ "error": message, "error_description": message }))
}

async fn authorize(req: HttpRequest, shared: Shared) -> HttpResponse {
    let (config, state) = shared.get_ref();
    let pairs = platform::query_pairs(req.query_string());
    let get = |k: &str| platform::query_value(&pairs, k);
    if get("client_id") != config.api_key {
        return error(400, "unknown client_id");
    }
    let Some(shop) = platform::shop_domain(&get("shop")) else {
        return error(400, "unknown shop");
    };
    let code = random_token("code_");
    {
        let mut state = state.lock().unwrap();
        state.installed.insert(shop.to_string());
        state.codes.insert(code.clone(), shop.to_string());
    }
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let mut callback = vec![
        ("code".to_owned(), code),
        ("shop".to_owned(), shop.clone()),
        ("state".to_owned(), get("state")),
        ("timestamp".to_owned(), timestamp),
    ];
    let message = platform::oauth_message(&callback);
    let hmac = platform::sign_hex(&config.api_secret, message.as_bytes());
    callback.push(("hmac".to_owned(), hmac));
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(callback)
        .finish();
    HttpResponse::Found()
        .insert_header(("Location", format!("{}?{query}", get("redirect_uri"))))
        .finish()
}

async fn access_token(req: HttpRequest, body: web::Json<Value>, shared: Shared) -> HttpResponse {
    let (config, state) = shared.get_ref();
    let Some(shop) = req
        .headers()
        .get("X-Shopify-Shop-Domain")
        .and_then(|v| v.to_str().ok())
        .and_then(platform::shop_domain)
    else {
        return error(400, "no shop");
    };
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    if field("client_id") != config.api_key || field("client_secret") != config.api_secret {
        return error(401, "invalid client credentials");
    }
    let mut state = state.lock().unwrap();
    match field("grant_type").as_str() {
        "" => {
            if state.codes.remove(&field("code")).as_deref() != Some(shop.as_str()) {
                return error(400, "invalid authorization code");
            }
        }
        "urn:ietf:params:oauth:grant-type:token-exchange" => {
            // Shopify exchanges App Bridge (admin) tokens only.
            let token_shop = platform::admin_token_shop(
                &config.api_key,
                &config.api_secret,
                &field("subject_token"),
            );
            if token_shop.as_ref() != Some(&shop) || !state.installed.contains(&shop) {
                return error(400, "invalid subject token");
            }
            state.exchanges += 1;
        }
        "refresh_token" => {
            let refresh = field("refresh_token");
            if state.refresh_tokens.get(&refresh).map(String::as_str) != Some(shop.as_str()) {
                return error(400, "invalid_grant");
            }
            state.refresh_tokens.remove(&refresh);
            state.spent_refresh_tokens.insert(refresh);
            state.refreshes += 1;
        }
        _ => return error(400, "unsupported grant_type"),
    }
    let access = random_token("shpat_");
    let refresh = random_token("shprt_");
    state.access_tokens.insert(access.clone(), shop.to_string());
    state
        .refresh_tokens
        .insert(refresh.clone(), shop.to_string());
    HttpResponse::Ok().json(json!({
        "access_token": access,
        "scope": "read_customers,write_customers,read_orders,read_all_orders,write_discounts,read_products,read_store_credit_accounts,write_store_credit_account_transactions",
        "expires_in": config.access_token_ttl,
        "refresh_token": refresh,
        "refresh_token_expires_in": config.refresh_token_ttl,
    }))
}
