//! Seed 000's volunteer platform as one in-process service: the activity, user and
//! notification routes behind the seed's nginx route table, and its media location.
//!
//! The dataset is generated from a fixed seed, so every run and every replica serves the
//! same 10,000 activities and 5,000 users. Items are serialised once at start-up; a list
//! response is assembled from those bytes, which keeps the service cheap enough to share
//! two cores with the load generator without becoming the bottleneck it measures.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

/// About 10,000 activities, as the issue asks; the seed gives no count.
pub const ACTIVITIES: usize = 10_000;
pub const USERS: usize = 5_000;
const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 100;
/// seed 000, nginx media location: `expires 30d` → 30 × 86,400 s.
const MEDIA_CACHE_CONTROL: &str = "public, max-age=2592000, immutable";

const CATEGORIES: [&str; 8] = [
    "environment",
    "education",
    "elderly-care",
    "community",
    "animal-welfare",
    "health",
    "culture",
    "emergency-relief",
];
const VERBS: [&str; 8] = [
    "Clean-up",
    "Tutoring",
    "Visit",
    "Food drive",
    "Shelter day",
    "Blood drive",
    "Museum guide",
    "Supply packing",
];
const PLACES: [&str; 10] = [
    "Riverside Park",
    "North Library",
    "Sunrise Home",
    "Central Square",
    "East Shelter",
    "City Hospital",
    "Old Town Museum",
    "Harbor Depot",
    "Hillside School",
    "West Market",
];

#[derive(Serialize)]
struct Activity {
    id: usize,
    title: String,
    category: &'static str,
    location: &'static str,
    organizer_id: usize,
    starts_at: String,
    capacity: u32,
    enrolled: u32,
    status: &'static str,
}

#[derive(Serialize)]
struct User {
    id: usize,
    username: String,
    display_name: String,
    avatar: String,
    activities_joined: u32,
}

struct Data {
    /// JSON of each activity, by id - 1.
    activities: Vec<String>,
    /// Activity indices per category, in id order.
    by_category: Vec<Vec<usize>>,
    users: Vec<String>,
}

fn generate() -> Data {
    let mut rng = fastrand::Rng::with_seed(0x5eed_0000);
    let mut activities = Vec::with_capacity(ACTIVITIES);
    let mut by_category = vec![Vec::new(); CATEGORIES.len()];
    for i in 0..ACTIVITIES {
        let c = rng.usize(..CATEGORIES.len());
        let capacity = rng.u32(10..=200);
        let a = Activity {
            id: i + 1,
            title: format!(
                "{} at {}",
                VERBS[c % VERBS.len()],
                PLACES[rng.usize(..PLACES.len())]
            ),
            category: CATEGORIES[c],
            location: PLACES[rng.usize(..PLACES.len())],
            organizer_id: rng.usize(1..=USERS),
            starts_at: format!(
                "2026-{:02}-{:02}T{:02}:00:00Z",
                rng.u32(1..=12),
                rng.u32(1..=28),
                rng.u32(8..=18)
            ),
            capacity,
            enrolled: rng.u32(0..=capacity),
            status: if rng.u8(..10) == 0 { "closed" } else { "open" },
        };
        by_category[c].push(i);
        activities.push(serde_json::to_string(&a).expect("plain struct serialises"));
    }
    let users = (1..=USERS)
        .map(|id| {
            let u = User {
                id,
                username: format!("volunteer{id:04}"),
                display_name: format!("Volunteer {id}"),
                avatar: format!("/media/avatars/user-{id}.svg"),
                activities_joined: rng.u32(0..=40),
            };
            serde_json::to_string(&u).expect("plain struct serialises")
        })
        .collect();
    Data {
        activities,
        by_category,
        users,
    }
}

pub fn router() -> Router {
    let data = Arc::new(generate());
    Router::new()
        .route("/api/v1/health/", get(health))
        .route("/api/v1/activities/", get(list_activities))
        .route("/api/v1/activities/{id}/", get(get_activity))
        .route("/api/v1/users/{id}/", get(get_user))
        .route("/api/v1/notifications/", get(list_notifications))
        .route("/media/avatars/{name}", get(avatar))
        .with_state(data)
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn not_found(what: &str) -> Response {
    json(
        StatusCode::NOT_FOUND,
        format!(r#"{{"detail":"{what} not found."}}"#),
    )
}

async fn health() -> Response {
    json(
        StatusCode::OK,
        r#"{"status":"healthy","service":"activities"}"#.into(),
    )
}

#[derive(Deserialize)]
struct ListParams {
    page: Option<usize>,
    page_size: Option<usize>,
    category: Option<String>,
}

async fn list_activities(State(data): State<Arc<Data>>, Query(p): Query<ListParams>) -> Response {
    let page_size = p
        .page_size
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    let page = p.page.unwrap_or(1);
    let in_category: Option<&[usize]> = p.category.as_ref().map(|c| {
        CATEGORIES
            .iter()
            .position(|k| k == c)
            .map_or(&[][..], |i| &data.by_category[i][..])
    });
    let count = in_category.map_or(data.activities.len(), <[usize]>::len);
    let pages = count.div_ceil(page_size).max(1);
    if page == 0 || page > pages {
        return not_found("Page");
    }
    let start = (page - 1) * page_size;
    let link = |n: usize| {
        let cat = p
            .category
            .as_deref()
            .map(|c| format!("&category={c}"))
            .unwrap_or_default();
        format!("\"/api/v1/activities/?page={n}&page_size={page_size}{cat}\"")
    };
    let next = if page < pages {
        link(page + 1)
    } else {
        "null".into()
    };
    let previous = if page > 1 {
        link(page - 1)
    } else {
        "null".into()
    };
    let mut body = String::with_capacity(64 + page_size * 260);
    body.push_str(&format!(
        r#"{{"count":{count},"next":{next},"previous":{previous},"results":["#
    ));
    for k in start..(start + page_size).min(count) {
        if k > start {
            body.push(',');
        }
        body.push_str(&data.activities[in_category.map_or(k, |ids| ids[k])]);
    }
    body.push_str("]}");
    json(StatusCode::OK, body)
}

async fn get_activity(State(data): State<Arc<Data>>, Path(id): Path<String>) -> Response {
    match id
        .parse::<usize>()
        .ok()
        .and_then(|i| data.activities.get(i.wrapping_sub(1)))
    {
        Some(a) => json(StatusCode::OK, a.clone()),
        None => not_found("Activity"),
    }
}

async fn get_user(State(data): State<Arc<Data>>, Path(id): Path<String>) -> Response {
    match id
        .parse::<usize>()
        .ok()
        .and_then(|i| data.users.get(i.wrapping_sub(1)))
    {
        Some(u) => json(StatusCode::OK, u.clone()),
        None => not_found("User"),
    }
}

#[derive(Deserialize)]
struct NotificationParams {
    user: Option<usize>,
}

#[derive(Serialize)]
struct Notification {
    id: u64,
    user_id: usize,
    activity_id: usize,
    kind: &'static str,
    read: bool,
}

async fn list_notifications(Query(p): Query<NotificationParams>) -> Response {
    let Some(user) = p.user.filter(|u| (1..=USERS).contains(u)) else {
        return json(
            StatusCode::BAD_REQUEST,
            r#"{"detail":"query parameter `user` must be a user id"}"#.into(),
        );
    };
    // Derived from the user id alone, so the answer is the same on every call.
    let mut rng = fastrand::Rng::with_seed(user as u64);
    let kinds = ["enrolled", "reminder", "cancelled", "thanks"];
    let items: Vec<Notification> = (0..rng.usize(0..=10))
        .map(|n| Notification {
            id: user as u64 * 100 + n as u64,
            user_id: user,
            activity_id: rng.usize(1..=ACTIVITIES),
            kind: kinds[rng.usize(..kinds.len())],
            read: rng.bool(),
        })
        .collect();
    json(
        StatusCode::OK,
        format!(
            r#"{{"count":{},"results":{}}}"#,
            items.len(),
            serde_json::to_string(&items).expect("plain struct serialises")
        ),
    )
}

async fn avatar(Path(name): Path<String>) -> Response {
    let stem = name.strip_suffix(".svg").unwrap_or(&name);
    if stem.is_empty() || !stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return not_found("Avatar");
    }
    let hue = stem
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
        % 360;
    let initials: String = stem
        .split('-')
        .filter_map(|w| w.chars().next())
        .take(2)
        .collect::<String>()
        .to_uppercase();
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96"><rect width="96" height="96" rx="48" fill="hsl({hue},55%,45%)"/><text x="48" y="60" font-family="sans-serif" font-size="36" fill="#fff" text-anchor="middle">{initials}</text></svg>"##
    );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, MEDIA_CACHE_CONTROL),
        ],
        svg,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_is_deterministic_and_complete() {
        let a = generate();
        let b = generate();
        assert_eq!(a.activities.len(), ACTIVITIES);
        assert_eq!(a.activities, b.activities);
        assert_eq!(
            a.by_category.iter().map(Vec::len).sum::<usize>(),
            ACTIVITIES
        );
        let first: serde_json::Value = serde_json::from_str(&a.activities[0]).unwrap();
        assert_eq!(first["id"], 1);
    }
}
