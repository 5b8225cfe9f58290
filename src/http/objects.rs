//! Routes 7–9 and 11–16: list, upload, delete, strategies and confirm (the byte route is
//! in `download.rs`).
//!
//! Object keys are taken from the raw request path and decoded once here, so `/` may arrive
//! raw or as `%2F`, `+` stays `+`, and the `…/download-strategy` and `…/confirm-upload`
//! suffixes are recognised only after a literal `/` (CONTRACT §1.1, §7.4 item 3).

use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::extract::{BucketPath, CallerExt, JsonBody, Params, decode_component, raw_tail};
use super::multipart::{SharedBody, file_part};
use super::{AppState, iso};
use crate::meta::Object;
use crate::service::{Caller, FilePart, ListParams, ObjectKey};

const LIST_NEXT: &str = "You can use PUT /api/storage/buckets/:bucketName/objects/:objectKey to create or replace a specific key, POST /api/storage/buckets/:bucketName/objects to upload with an auto-generated key, and GET /api/storage/buckets/:bucketName/objects/:objectKey to download an object.";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/storage/buckets/{bucket}/objects",
            get(list_objects).post(upload_auto).delete(delete_objects),
        )
        .route(
            "/api/storage/buckets/{bucket}/objects/",
            get(empty_key)
                .put(empty_key)
                .post(empty_key)
                .delete(empty_key),
        )
        .route(
            "/api/storage/buckets/{bucket}/objects/{*rest}",
            get(super::download::download)
                .put(upload_exact)
                .post(post_object)
                .delete(delete_object),
        )
        .route(
            "/api/storage/buckets/{bucket}/download-strategy/objects/{*rest}",
            get(download_strategy),
        )
        .route(
            "/api/storage/buckets/{bucket}/download-strategy/objects/",
            get(empty_key),
        )
        .route(
            "/api/storage/buckets/{bucket}/upload-strategy",
            post(upload_strategy),
        )
}

async fn empty_key() -> ApiError {
    crate::service::Error::KeyRequired.into()
}

/// The StorageFile shape (CONTRACT §1.2); `mimeType` is left out rather than null.
fn storage_file(st: &AppState, o: &Object) -> Value {
    let mut file = json!({
        "bucket": o.bucket,
        "key": o.key,
        "size": o.size,
        "uploadedAt": iso(o.uploaded_at),
        "url": st.storage.object_url(o),
    });
    if let Some(mime) = &o.mime_type {
        file["mimeType"] = json!(mime);
    }
    file
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `parseInt`: optional sign and leading digits; anything else is "not a number".
fn parse_int(raw: Option<&str>) -> Option<i64> {
    let s = raw?.trim();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let n: i64 = digits[..end].get(..end.min(15))?.parse().ok()?;
    Some(sign * n)
}

async fn list_objects(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
    BucketPath(bucket): BucketPath,
    params: Params,
) -> Result<Response, ApiError> {
    let list = ListParams {
        prefix: params.get("prefix").map(str::to_owned),
        search: params.get("search").map(str::to_owned),
        limit: parse_int(params.get("limit")),
        offset: parse_int(params.get("offset")),
    };
    let (page, limit, offset) = st.storage.list_objects(&caller, &bucket, list).await?;
    let data: Vec<Value> = page.objects.iter().map(|o| storage_file(&st, o)).collect();
    let body = json!({
        "data": data,
        "pagination": { "offset": offset, "limit": limit, "total": page.total },
        "nextActions": LIST_NEXT,
    });
    Ok(no_store(Json(body).into_response()))
}

/// Rejects bad credentials before the body is read.
fn early_auth(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Ok(_) => Ok(()),
        Err(e) => Err((*e).into()),
    }
}

async fn upload_to(
    st: &AppState,
    caller: &Caller,
    bucket: &str,
    key: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Object, ApiError> {
    let body = SharedBody::new(body, st.upload_idle);
    let outcome = async {
        early_auth(caller)?;
        if let Some(key) = &key {
            ObjectKey::parse(key)?;
        }
        let upload = file_part(headers, body.clone()).await?;
        let key = key.unwrap_or_else(|| crate::service::auto_key(upload.filename.as_deref()));
        let file = FilePart {
            stream: upload.stream,
            content_type: upload.content_type,
        };
        Ok(st.storage.put_object(caller, bucket, &key, file).await?)
    }
    .await;
    if outcome.is_err() {
        if body.stalled() {
            return Err(crate::service::Error::Stalled.into());
        }
        // Refused before the body was read to its end: let the client finish sending so it
        // reads our JSON error rather than a reset connection.
        body.drain();
    }
    outcome
}

async fn upload_auto(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
    BucketPath(bucket): BucketPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let object = upload_to(&st, &caller, &bucket, None, &headers, body).await?;
    Ok((StatusCode::CREATED, Json(storage_file(&st, &object))).into_response())
}

async fn upload_exact(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let path = request.uri().path().to_owned();
    let (bucket, raw) = raw_tail(&path, "objects")?;
    upload_exact_key(&st, &caller, &bucket, raw, &headers, request).await
}

/// Create or replace the key named by the raw path tail: 200 StorageFile.
async fn upload_exact_key(
    st: &AppState,
    caller: &Caller,
    bucket: &str,
    raw_key: &str,
    headers: &HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let key = decode_component(raw_key)?;
    let object = upload_to(st, caller, bucket, Some(key), headers, request.into_body()).await?;
    Ok(Json(storage_file(st, &object)).into_response())
}

/// POST on an object path: the legacy download-strategy and confirm-upload suffixes, or an
/// upload to the exact key (what the Swift SDK sends, CONTRACT §7.4 item 1).
async fn post_object(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
    headers: HeaderMap,
    params: Params,
    request: Request,
) -> Result<Response, ApiError> {
    let path = request.uri().path().to_owned();
    let (bucket, raw) = raw_tail(&path, "objects")?;
    if let Some(raw_key) = raw.strip_suffix("/download-strategy") {
        let key = decode_component(raw_key)?;
        // The body is optional and only `expiresIn`/`singleUse` are read from it.
        let body = JsonBody::<Value>::from_request(request, &st)
            .await
            .map(|JsonBody(v)| v)
            .unwrap_or(Value::Null);
        let expires = params
            .get("expiresIn")
            .map(str::to_owned)
            .or_else(|| body.get("expiresIn").map(value_text));
        let single = match body.get("singleUse") {
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::invalid("singleUse must be true or false")),
            None => single_use(&params)?,
        };
        return strategy_response(&st, &caller, &bucket, &key, expires.as_deref(), single).await;
    }
    if let Some(raw_key) = raw.strip_suffix("/confirm-upload") {
        let key = decode_component(raw_key)?;
        // The body (size, contentType, etag) is advisory: the store's own values win. It
        // must still be JSON when present.
        JsonBody::<Value>::from_request(request, &st).await?;
        let object = st.storage.confirm_upload(&caller, &bucket, &key).await?;
        return Ok(Json(storage_file(&st, &object)).into_response());
    }
    upload_exact_key(&st, &caller, &bucket, raw, &headers, request).await
}

/// `singleUse` from the query: absent, `true` or `false`; anything else is refused rather
/// than quietly giving a reusable URL.
fn single_use(params: &Params) -> Result<bool, ApiError> {
    match params.get("singleUse") {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::invalid("singleUse must be true or false")),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn download_strategy(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
    params: Params,
    request: Request,
) -> Result<Response, ApiError> {
    let (bucket, raw) = raw_tail(request.uri().path(), "download-strategy/objects")?;
    let key = decode_component(raw)?;
    let single = single_use(&params)?;
    strategy_response(&st, &caller, &bucket, &key, params.get("expiresIn"), single).await
}

async fn strategy_response(
    st: &AppState,
    caller: &Caller,
    bucket: &str,
    key: &str,
    expires_in: Option<&str>,
    single_use: bool,
) -> Result<Response, ApiError> {
    let s = st
        .storage
        .download_strategy(caller, bucket, key, expires_in, single_use)
        .await?;
    let mut body = json!({ "method": s.method, "url": s.url });
    if let Some(at) = s.expires_at {
        body["expiresAt"] = json!(iso(at));
    }
    Ok(no_store(Json(body).into_response()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadStrategyRequest {
    filename: Option<String>,
    content_type: Option<String>,
    size: Option<f64>,
}

async fn upload_strategy(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
    BucketPath(bucket): BucketPath,
    JsonBody(body): JsonBody<UploadStrategyRequest>,
) -> Result<Response, ApiError> {
    early_auth(&caller)?;
    let filename = body
        .filename
        .ok_or_else(|| ApiError::invalid("filename: Required"))?;
    let s = st
        .storage
        .upload_strategy(
            &caller,
            &bucket,
            &filename,
            body.content_type.as_deref(),
            body.size,
        )
        .await?;
    let mut body = json!({
        "method": s.method,
        "uploadUrl": s.upload_url,
        "key": s.key,
        "confirmRequired": s.confirm_required,
    });
    if let Some(fields) = s.fields {
        body["fields"] = json!(fields);
    }
    if let Some(url) = s.confirm_url {
        body["confirmUrl"] = json!(url);
    }
    if let Some(at) = s.expires_at {
        body["expiresAt"] = json!(iso(at));
    }
    Ok(no_store(Json(body).into_response()))
}

#[derive(Deserialize)]
struct DeleteRequest {
    keys: Option<Vec<String>>,
}

async fn delete_objects(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
    BucketPath(bucket): BucketPath,
    JsonBody(body): JsonBody<DeleteRequest>,
) -> Result<Response, ApiError> {
    early_auth(&caller)?;
    let keys = body
        .keys
        .ok_or_else(|| ApiError::invalid("keys: Required"))?;
    if let Some(i) = keys.iter().position(String::is_empty) {
        return Err(ApiError::invalid(format!(
            "keys.{i}: Object key cannot be empty"
        )));
    }
    let results = st.storage.delete_objects(&caller, &bucket, keys).await?;
    let results: Vec<Value> = results
        .iter()
        .map(|r| json!({ "key": r.key, "status": if r.deleted { "deleted" } else { "notFound" } }))
        .collect();
    Ok(Json(json!({ "results": results })).into_response())
}

async fn delete_object(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
    request: Request,
) -> Result<Response, ApiError> {
    let (bucket, raw) = raw_tail(request.uri().path(), "objects")?;
    let key = decode_component(raw)?;
    st.storage.delete_object(&caller, &bucket, &key).await?;
    Ok(Json(json!({ "message": "Object deleted successfully" })).into_response())
}

#[cfg(test)]
mod tests {
    use super::parse_int;

    #[test]
    fn parse_int_is_lenient_like_javascript() {
        assert_eq!(parse_int(Some("10")), Some(10));
        assert_eq!(parse_int(Some("10abc")), Some(10));
        assert_eq!(parse_int(Some("-5")), Some(-5));
        assert_eq!(parse_int(Some("abc")), None);
        assert_eq!(parse_int(Some("")), None);
        assert_eq!(
            parse_int(Some("99999999999999999999")),
            Some(999_999_999_999_999)
        );
        assert_eq!(parse_int(None), None);
    }
}
