//! Route 10, the byte route: `GET`/`HEAD …/objects/*` with validators, conditional answers,
//! single ranges, and (S3 presigned mode) a redirect to the store.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::extract::{CallerExt, Params, decode_component, raw_tail};
use super::range::{Wanted, not_modified, parse_range, range_applies};
use crate::service::{Download, Error, mime};

pub async fn download(
    State(st): State<AppState>,
    CallerExt(caller): CallerExt,
    method: Method,
    headers: HeaderMap,
    params: Params,
    request: Request,
) -> Result<Response, ApiError> {
    let (bucket, raw) = raw_tail(request.uri().path(), "objects")?;
    let key = decode_component(raw)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let found = st
            .storage
            .get_object(&caller, &bucket, &key, params.get("token"))
            .await?;
        match serve(&st, found, method == Method::HEAD, &headers).await {
            // The version we looked up was replaced (and its bytes dropped) between the
            // lookup and the open: look up again and serve the new one. Under a burst of
            // overwrites the next version can go the same way, so keep trying for a while,
            // letting the writers move on between rounds.
            Err(Error::ObjectNotFound) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            other => return Ok(other?),
        }
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Streams an object with validators, conditional answers and single ranges.
async fn serve(
    st: &AppState,
    found: Download,
    head_only: bool,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    // S3 presigned mode: the store serves the bytes (CONTRACT §1.8).
    if let Some(url) = st.storage.redirect_url(&found).await? {
        return Ok(Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, url)
            .header(header::CACHE_CONTROL, "no-store")
            .body(Body::empty())
            .expect("a presigned URL is a valid header value"));
    }
    let o = &found.object;
    let size = o.size.max(0) as u64;
    let etag = format!("\"{}\"", o.etag.as_deref().unwrap_or(&o.version));
    let modified = httpdate::fmt_http_date(o.uploaded_at.into());
    let mut builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::LAST_MODIFIED, &modified)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if !found.public {
        builder = builder.header(header::CACHE_CONTROL, "private, no-store");
    }
    let fresh = not_modified(
        header_str(headers, header::IF_NONE_MATCH),
        header_str(headers, header::IF_MODIFIED_SINCE),
        &etag,
        o.uploaded_at,
    );
    if fresh {
        return Ok(builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .expect("static headers are valid"));
    }
    let content_type = o.mime_type.as_deref().unwrap_or("application/octet-stream");
    builder = builder.header(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if mime::is_unsafe(content_type) {
        builder = builder.header(header::CONTENT_DISPOSITION, "attachment");
    }
    let wanted = if range_applies(header_str(headers, header::IF_RANGE), &etag, o.uploaded_at) {
        parse_range(header_str(headers, header::RANGE), size)
    } else {
        Wanted::Full
    };
    let (status, range) = match wanted {
        Wanted::Full => (StatusCode::OK, None),
        Wanted::Part(r) => {
            builder = builder.header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", r.start, r.end - 1),
            );
            (StatusCode::PARTIAL_CONTENT, Some(r))
        }
        Wanted::Unsatisfiable => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "STORAGE_INVALID_PARAMETER",
                "Requested range not satisfiable",
            )
            .into_response();
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).expect("digits are valid"),
            );
            return Ok(response);
        }
    };
    let length = range.as_ref().map_or(size, |r| r.end - r.start);
    builder = builder
        .status(status)
        .header(header::CONTENT_LENGTH, length);
    let body = if head_only {
        Body::empty()
    } else {
        Body::from_stream(st.storage.open_object(o, range).await?)
    };
    Ok(builder.body(body).expect("headers were validated"))
}
