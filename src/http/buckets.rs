//! Routes 1–6: storage config and bucket management (admin-or-key).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::extract::{BucketPath, CallerExt, JsonBody};
use super::{AppState, iso};
use crate::meta::StorageConfig;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/storage/config", get(get_config).put(put_config))
        .route(
            "/api/storage/buckets",
            get(list_buckets).post(create_bucket),
        )
        .route(
            "/api/storage/buckets/{bucket}",
            patch(update_bucket).delete(delete_bucket),
        )
}

fn config_json(c: &StorageConfig) -> Json<serde_json::Value> {
    Json(json!({
        "id": c.id,
        "maxFileSizeMb": c.max_file_size_mb,
        "createdAt": iso(c.created_at),
        "updatedAt": iso(c.updated_at),
    }))
}

async fn get_config(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
) -> Result<Response, ApiError> {
    Ok(config_json(&st.storage.get_config(&caller).await?).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigRequest {
    max_file_size_mb: Option<serde_json::Value>,
}

async fn put_config(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
    JsonBody(body): JsonBody<ConfigRequest>,
) -> Result<Response, ApiError> {
    crate::auth::require_admin(caller.clone())?;
    let mb = match body.max_file_size_mb {
        None => return Err(ApiError::invalid("maxFileSizeMb: Required")),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ApiError::invalid("maxFileSizeMb: Expected integer"))?,
    };
    Ok(config_json(&st.storage.set_max_file_size(&caller, mb).await?).into_response())
}

async fn list_buckets(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
) -> Result<Response, ApiError> {
    let buckets = st.storage.list_buckets(&caller).await?;
    let items: Vec<_> = buckets
        .iter()
        .map(|b| {
            // `isPublic` too: the Kotlin SDK reads only that name (CONTRACT §7.4 item 17).
            json!({
                "name": b.name,
                "public": b.public,
                "isPublic": b.public,
                "createdAt": iso(b.created_at),
            })
        })
        .collect();
    Ok(Json(items).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBucketRequest {
    bucket_name: Option<String>,
    is_public: Option<bool>,
}

async fn create_bucket(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
    JsonBody(body): JsonBody<CreateBucketRequest>,
) -> Result<Response, ApiError> {
    crate::auth::require_admin(caller.clone())?;
    let name = match body.bucket_name {
        None => return Err(ApiError::invalid("bucketName: Required")),
        Some(n) if n.is_empty() => {
            return Err(ApiError::invalid("bucketName: Bucket name cannot be empty"));
        }
        Some(n) => n,
    };
    let public = body.is_public.unwrap_or(true);
    let bucket = st.storage.create_bucket(&caller, &name, public).await?;
    let next = if bucket.public {
        "This is a PUBLIC bucket - objects can be accessed without authentication. Upload with PUT /api/storage/buckets/:bucketName/objects/:objectKey."
    } else {
        "This is a PRIVATE bucket - authentication is required to access objects. Upload with PUT /api/storage/buckets/:bucketName/objects/:objectKey."
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "message": "Bucket created successfully",
            "bucketName": bucket.name,
            "isPublic": bucket.public,
            "nextActions": next,
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBucketRequest {
    is_public: Option<bool>,
}

async fn update_bucket(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
    BucketPath(bucket): BucketPath,
    JsonBody(body): JsonBody<UpdateBucketRequest>,
) -> Result<Response, ApiError> {
    crate::auth::require_admin(caller.clone())?;
    let public = body
        .is_public
        .ok_or_else(|| ApiError::invalid("isPublic: Required"))?;
    st.storage
        .set_bucket_public(&caller, &bucket, public)
        .await?;
    let next = if public {
        "Bucket is now PUBLIC - objects can be read by key without authentication."
    } else {
        "Bucket is now PRIVATE - authentication is required to access objects."
    };
    Ok(Json(json!({
        "message": "Bucket visibility updated",
        "bucket": bucket,
        "isPublic": public,
        "nextActions": next,
    }))
    .into_response())
}

async fn delete_bucket(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
    BucketPath(bucket): BucketPath,
) -> Result<Response, ApiError> {
    st.storage.delete_bucket(&caller, &bucket).await?;
    Ok(Json(json!({
        "message": "Bucket deleted successfully",
        "nextActions": "You can use POST /api/storage/buckets to create a new bucket, and GET /api/storage/buckets/:bucketName/objects to list the objects in the bucket.",
    }))
    .into_response())
}
