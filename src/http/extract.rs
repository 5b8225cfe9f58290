//! Extractors whose failures come back in the JSON envelope: the caller's identity, JSON
//! bodies (empty means `{}`), query parameters, and object keys decoded from the raw path.

use axum::body::to_bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::auth;
use crate::service::{Caller, Error};

/// Largest JSON body accepted (a 1000-key batch delete of 1 KiB keys fits).
const MAX_JSON_BODY: usize = 4 * 1024 * 1024;

/// The resolved caller. Never rejects: routes decide whether a failure matters (a public
/// download ignores bad credentials).
pub struct CallerExt(pub Caller);

impl FromRequestParts<AppState> for CallerExt {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = |name: &str| parts.headers.get(name).map(|v| v.to_str());
        let caller = match (header("authorization"), header("x-api-key")) {
            (Some(Err(_)), _) => Err(auth::Error::InvalidToken),
            (_, Some(Err(_))) => Err(auth::Error::InvalidApiKey),
            (authorization, api_key) => state.keys.authenticate(
                authorization.and_then(Result::ok),
                api_key.and_then(Result::ok),
            ),
        };
        Ok(CallerExt(caller))
    }
}

/// A JSON body. Content type is not required (clients differ); an empty body is `{}`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = to_bytes(req.into_body(), MAX_JSON_BODY)
            .await
            .map_err(|_| {
                ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "STORAGE_INVALID_PARAMETER",
                    format!("Request body is too large (at most {MAX_JSON_BODY} bytes of JSON)"),
                )
            })?;
        let text = if bytes.iter().all(u8::is_ascii_whitespace) {
            &b"{}"[..]
        } else {
            &bytes[..]
        };
        // Syntax first, shape second: `[1,` is malformed JSON even where an object is
        // expected, and must say so (INVALID_INPUT) rather than report the wrong type.
        let value: serde_json::Value = serde_json::from_slice(text).map_err(ApiError::bad_json)?;
        T::deserialize(value)
            .map(JsonBody)
            .map_err(|e| ApiError::invalid(e.to_string()))
    }
}

/// Query parameters, form-decoded (`+` is a space there, as browsers and Kotlin send it).
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(Params)
            .map_err(|e| ApiError::invalid(format!("Invalid query string: {e}")))
    }
}

/// The decoded `:bucketName` segment, taken from the raw path so that a malformed escape is
/// a 400 envelope rather than the router's plain-text rejection.
pub struct BucketPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BucketPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let rest = parts
            .uri
            .path()
            .strip_prefix("/api/storage/buckets/")
            .unwrap_or("");
        let raw = rest.split('/').next().unwrap_or("");
        Ok(BucketPath(decode_component(raw)?))
    }
}

/// Decodes one raw path component: `%XX` as UTF-8, once; `+` stays `+`. Malformed escapes
/// are the client's fault (400), not ours (InsForge answers 500, CONTRACT §9 item 18).
pub fn decode_component(raw: &str) -> Result<String, Error> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let ok = i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit();
            if !ok {
                return Err(Error::Invalid("Malformed percent-encoding in path".into()));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Error::Invalid("Path is not valid UTF-8 after percent-decoding".into()))
}

/// Splits `/api/storage/buckets/<bucket>/<section>/<rest…>` into the decoded bucket and the
/// still-encoded rest, so suffix routes can be matched on the raw path (§7.4 item 3).
pub fn raw_tail<'a>(path: &'a str, section: &str) -> Result<(String, &'a str), Error> {
    let after = path
        .strip_prefix("/api/storage/buckets/")
        .ok_or(Error::KeyRequired)?;
    let (bucket, rest) = after.split_once('/').ok_or(Error::KeyRequired)?;
    let rest = rest
        .strip_prefix(section)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or(Error::KeyRequired)?;
    Ok((decode_component(bucket)?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(decode_component("a%2Fb%20c+d").unwrap(), "a/b c+d");
        assert_eq!(decode_component("%C3%BC").unwrap(), "ü");
        assert!(decode_component("bad%zz").is_err());
        assert!(decode_component("bad%2").is_err());
        assert!(decode_component("%FF").is_err());
    }

    #[test]
    fn tails() {
        let (b, rest) = raw_tail("/api/storage/buckets/b1/objects/a%2Fb/c", "objects").unwrap();
        assert_eq!((b.as_str(), rest), ("b1", "a%2Fb/c"));
        let (_, rest) = raw_tail("/api/storage/buckets/b1/objects/", "objects").unwrap();
        assert_eq!(rest, "");
    }
}
