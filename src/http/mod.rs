//! The REST front end (InsForge-compatible, `/api/storage`): routing, extraction, response
//! shapes and the error envelope. Business rules live in `service`.

mod buckets;
mod download;
mod error;
mod extract;
mod multipart;
mod objects;
mod range;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::auth::Keys;
use crate::service::Storage;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<Storage>,
    pub keys: Arc<Keys>,
    /// An upload whose body sends nothing for this long is abandoned (408).
    pub upload_idle: Duration,
}

/// The whole REST API with CORS and request tracing.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(buckets::routes())
        .merge(objects::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(cors())
        .layer(TraceLayer::new_for_http())
}

/// Any origin, with credentials, for browser clients of the SDK (CONTRACT §0.1, §7.3 item 9).
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true)
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            header::CONTENT_RANGE,
            HeaderName::from_static("preference-applied"),
            header::ETAG,
            header::CONTENT_DISPOSITION,
            header::CONTENT_LENGTH,
        ])
        .max_age(Duration::from_secs(86_400))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("Endpoint {} not found", uri.path()),
    )
    .with_next("Please check the API documentation for available endpoints")
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("Method {method} is not allowed on {}", uri.path()),
    )
    .into_response()
}

/// RFC 3339 UTC with exactly three fractional digits and `Z` (CONTRACT §7.4 item 13).
pub fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
