//! Seed 003's flash sale (秒杀) as one in-process service: log in, look at an item, order
//! it. Stock is pre-loaded and decremented atomically, one order per user per item, as the
//! seed's Redis Lua script does; `/stats` exposes the ledger so a run can prove afterwards
//! that nothing was sold twice.
//!
//! `unsafe_stock` replaces the atomic decrement with read → yield → write (and the
//! duplicate check with check → yield → insert): the classic lost-update bug. It exists so
//! that a test can show loadctl's post-run verification catching a real oversell.
//!
//! Users are the rows of `fixtures/users.csv`: any name with the password [`password_for`]
//! derives, so the service needs no user table. Tokens are `user.signature`, signed with a
//! keyed SipHash: cheap, and unforgeable without the per-process key.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

pub use crate::scenario::plan::embedded::FlashConfig;
/// The password of `user`: FNV-1a 64 of `loadctl-user:<user>`, 8 hex digits. The same
/// rule generates `fixtures/users.csv` (`fixtures/gen_users.py`).
pub fn password_for(user: &str) -> String {
    format!("{:08x}", fnv1a(&[b"loadctl-user:", user.as_bytes()]) >> 32)
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

const SHARDS: usize = 64;

/// How long `unsafe_stock` holds a read before writing it back.
const UNSAFE_WINDOW: Duration = Duration::from_millis(5);

struct Item {
    name: String,
    price_cents: u64,
    remaining: AtomicI64,
}

struct Sale {
    cfg: FlashConfig,
    key: RandomState,
    /// Signs tokens: FNV-1a over `secret:user`. Cheap, and unforgeable without the secret.
    secret: String,
    items: Vec<Item>,
    /// (user, item) → orders placed; sharded so order handling rarely contends.
    buyers: Vec<Mutex<HashMap<(String, u32), u32>>>,
    orders: AtomicU64,
    duplicate_buyers: AtomicU64,
    next_order: AtomicU64,
}

type Shared = Arc<Sale>;

impl Sale {
    fn new(cfg: FlashConfig) -> Self {
        let items = (1..=cfg.items)
            .map(|id| Item {
                name: format!("Flash item #{id}"),
                price_cents: 999 + 1_000 * u64::from(id % 7),
                remaining: AtomicI64::new(cfg.stock as i64),
            })
            .collect();
        let secret = cfg.token_secret.clone().unwrap_or_else(|| {
            let mut rng = fastrand::Rng::new();
            format!("{:016x}{:016x}", rng.u64(..), rng.u64(..))
        });
        Sale {
            cfg,
            key: RandomState::new(),
            secret,
            items,
            buyers: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            orders: AtomicU64::new(0),
            duplicate_buyers: AtomicU64::new(0),
            next_order: AtomicU64::new(1),
        }
    }

    fn signature(&self, user: &str) -> String {
        format!(
            "{:016x}",
            fnv1a(&[self.secret.as_bytes(), b":", user.as_bytes()])
        )
    }

    fn sign(&self, user: &str) -> String {
        format!("{user}.{}", self.signature(user))
    }

    /// The user a bearer token belongs to, if its signature is right.
    fn verify<'a>(&self, token: &'a str) -> Option<&'a str> {
        let (user, sig) = token.rsplit_once('.')?;
        (self.signature(user) == sig).then_some(user)
    }

    fn shard(&self, user: &str, item: u32) -> &Mutex<HashMap<(String, u32), u32>> {
        let h = self.key.hash_one((user, item)) as usize;
        &self.buyers[h % SHARDS]
    }

    fn initial(&self) -> u64 {
        self.cfg.stock * u64::from(self.cfg.items)
    }

    fn reset(&self) {
        for item in &self.items {
            item.remaining
                .store(self.cfg.stock as i64, Ordering::SeqCst);
        }
        for shard in &self.buyers {
            shard.lock().expect("no panics under the lock").clear();
        }
        self.orders.store(0, Ordering::SeqCst);
        self.duplicate_buyers.store(0, Ordering::SeqCst);
    }
}

fn json_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
}

async fn login(State(s): State<Shared>, body: Option<Json<Login>>) -> Response {
    let Some(Json(l)) = body else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "body must be {\"user\", \"password\"}",
        );
    };
    if l.user.is_empty() || l.user.contains('.') || password_for(&l.user) != l.password {
        return json_error(StatusCode::UNAUTHORIZED, "bad_credentials");
    }
    Json(json!({ "token": s.sign(&l.user), "user": l.user, "expires_in": 3600 })).into_response()
}

async fn item(State(s): State<Shared>, Path(id): Path<u32>) -> Response {
    let Some(item) = id.checked_sub(1).and_then(|i| s.items.get(i as usize)) else {
        return json_error(StatusCode::NOT_FOUND, "no_such_item");
    };
    Json(json!({
        "id": id,
        "name": item.name,
        "price_cents": item.price_cents,
        "remaining": item.remaining.load(Ordering::Relaxed).max(0),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct OrderReq {
    item_id: u32,
}

async fn order(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Option<Json<OrderReq>>,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(user) = token.and_then(|t| s.verify(t)) else {
        return json_error(StatusCode::UNAUTHORIZED, "login_required");
    };
    let Some(Json(req)) = body else {
        return json_error(StatusCode::BAD_REQUEST, "body must be {\"item_id\": n}");
    };
    let Some(item) = req
        .item_id
        .checked_sub(1)
        .and_then(|i| s.items.get(i as usize))
    else {
        return json_error(StatusCode::NOT_FOUND, "no_such_item");
    };
    let placed = if s.cfg.unsafe_stock {
        place_unsafe(&s, item, user, req.item_id).await
    } else {
        place(&s, item, user, req.item_id)
    };
    if let Err(e) = placed {
        return json_error(StatusCode::CONFLICT, e);
    }
    s.orders.fetch_add(1, Ordering::SeqCst);
    let id = s.next_order.fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::CREATED,
        Json(json!({ "order_id": id, "item_id": req.item_id, "user": user, "status": "created" })),
    )
        .into_response()
}

/// Reserve the (user, item) pair, then take one unit of stock or give the pair back:
/// both steps atomic, so neither oversell nor a second order per user can happen.
fn place(s: &Sale, item: &Item, user: &str, item_id: u32) -> Result<(), &'static str> {
    let key = (user.to_string(), item_id);
    {
        let mut shard = s
            .shard(user, item_id)
            .lock()
            .expect("no panics under the lock");
        if shard.contains_key(&key) {
            return Err("already_ordered");
        }
        shard.insert(key.clone(), 1);
    }
    let took = item
        .remaining
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
            (r > 0).then(|| r - 1)
        });
    if took.is_err() {
        s.shard(user, item_id)
            .lock()
            .expect("no panics under the lock")
            .remove(&key);
        return Err("sold_out");
    }
    Ok(())
}

/// The bug: every check and its write are separate steps with a yield in between.
async fn place_unsafe(s: &Sale, item: &Item, user: &str, item_id: u32) -> Result<(), &'static str> {
    let key = (user.to_string(), item_id);
    let seen = s
        .shard(user, item_id)
        .lock()
        .expect("no panics under the lock")
        .contains_key(&key);
    if seen {
        return Err("already_ordered");
    }
    let remaining = item.remaining.load(Ordering::SeqCst);
    if remaining <= 0 {
        return Err("sold_out");
    }
    // Round trips to a remote stock store between the read and the write: the window in
    // which a concurrent order reads the same stock.
    tokio::time::sleep(UNSAFE_WINDOW).await;
    item.remaining.store(remaining - 1, Ordering::SeqCst);
    let mut shard = s
        .shard(user, item_id)
        .lock()
        .expect("no panics under the lock");
    let n = shard.entry(key).or_insert(0);
    *n += 1;
    if *n == 2 {
        s.duplicate_buyers.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}

async fn stats(State(s): State<Shared>) -> Response {
    let initial = s.initial();
    let remaining: i64 = s
        .items
        .iter()
        .map(|i| i.remaining.load(Ordering::SeqCst).max(0))
        .sum();
    let sold = initial - remaining as u64;
    let orders = s.orders.load(Ordering::SeqCst);
    Json(json!({
        "items": s.cfg.items,
        "initial_stock": initial,
        "remaining": remaining,
        "sold": sold,
        "orders": orders,
        "oversold": orders.saturating_sub(initial),
        "duplicate_buyers": s.duplicate_buyers.load(Ordering::SeqCst),
        "unsafe_stock": s.cfg.unsafe_stock,
    }))
    .into_response()
}

async fn reset(State(s): State<Shared>) -> Response {
    s.reset();
    Json(json!({ "reset": true, "initial_stock": s.initial() })).into_response()
}

/// `/shop`: a page whose script does what a shopper does (log in, look at an item, order
/// it), so a browser can record it as HAR for `loadctl import har`.
async fn shop() -> Response {
    const PAGE: &str = r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>shop</title></head>
<body><p id="state">loading</p><script>
async function shop() {
  const params = new URLSearchParams(location.search);
  const user = params.get("user") || "u000001", password = params.get("password") || "f1bab276";
  const item = Number(params.get("item") || 3);
  const login = await fetch("/api/v1/auth/login", {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({user, password})});
  const {token} = await login.json();
  await new Promise(r => setTimeout(r, 400));
  await fetch("/api/v1/flash/items/" + item);
  const order = await fetch("/api/v1/flash/orders", {method: "POST",
    headers: {"Content-Type": "application/json", "Authorization": "Bearer " + token},
    body: JSON.stringify({item_id: item})});
  document.title = "done " + order.status;
  document.getElementById("state").textContent = "ordered: " + order.status;
}
shop();
</script></body></html>"#;
    (
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        PAGE,
    )
        .into_response()
}

async fn health() -> Response {
    Json(json!({ "status": "ok", "service": "flash-sale" })).into_response()
}

pub fn router(cfg: FlashConfig) -> Router {
    let sale: Shared = Arc::new(Sale::new(cfg));
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/flash/items/{id}", get(item))
        .route("/api/v1/flash/orders", post(order))
        .route("/api/v1/flash/stats", get(stats))
        .route("/api/v1/flash/reset", post(reset))
        .route("/api/v1/health/", get(health))
        .route("/health", get(health))
        .route("/shop", get(shop))
        .with_state(sale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_deterministic() {
        assert_eq!(password_for("u000001"), password_for("u000001"));
        assert_ne!(password_for("u000001"), password_for("u000002"));
        assert_eq!(password_for("u000001").len(), 8);
    }

    #[test]
    fn tokens_verify_only_with_the_key() {
        let s = Sale::new(FlashConfig::default());
        let t = s.sign("u000042");
        assert_eq!(s.verify(&t), Some("u000042"));
        assert_eq!(s.verify("u000042.0000000000000000"), None);
        let other = Sale::new(FlashConfig::default());
        assert_eq!(other.verify(&t), None);
        // Replicas with a shared secret accept each other's tokens.
        let shared = |_| {
            Sale::new(FlashConfig {
                token_secret: Some("s3cret".into()),
                ..FlashConfig::default()
            })
        };
        let (a, b) = (shared(0), shared(1));
        assert_eq!(b.verify(&a.sign("u000042")), Some("u000042"));
    }

    #[test]
    fn safe_orders_never_oversell() {
        let s = Sale::new(FlashConfig {
            items: 1,
            stock: 3,
            ..FlashConfig::default()
        });
        let item = &s.items[0];
        assert_eq!(place(&s, item, "a", 1), Ok(()));
        assert_eq!(place(&s, item, "a", 1), Err("already_ordered"));
        assert_eq!(place(&s, item, "b", 1), Ok(()));
        assert_eq!(place(&s, item, "c", 1), Ok(()));
        assert_eq!(place(&s, item, "d", 1), Err("sold_out"));
        // A sold-out attempt does not block the user from a later restock.
        s.reset();
        assert_eq!(place(&s, item, "d", 1), Ok(()));
    }
}
