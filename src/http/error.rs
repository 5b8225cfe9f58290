//! The JSON error envelope `{error, message, statusCode, nextActions?}` (CONTRACT §0.3) and
//! the one table that maps service errors to it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth;
use crate::service::Error;

const CHECK_TOKEN: &str = "Check the token is valid or login to get a new token.";

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub next_actions: Option<&'static str>,
}

/// Exactly the envelope's keys: Kotlin decodes error bodies strictly (CONTRACT §7.4 item 15).
#[derive(Serialize)]
struct Envelope<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(rename = "statusCode")]
    status_code: u16,
    #[serde(rename = "nextActions", skip_serializing_if = "Option::is_none")]
    next_actions: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            next_actions: None,
        }
    }

    pub fn with_next(mut self, next: &'static str) -> Self {
        self.next_actions = Some(next);
        self
    }

    pub fn bad_json(detail: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            format!("Invalid JSON body: {detail}"),
        )
        .with_next("Please ensure your request body contains valid JSON")
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "STORAGE_INVALID_PARAMETER",
            message,
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        let message = e.to_string();
        let (status, code, next) = match &e {
            Error::Auth(a) => return auth_error(*a),
            Error::InvalidBucketName => (
                S::BAD_REQUEST,
                "STORAGE_INVALID_PARAMETER",
                Some("Please check the bucket name, it must be a valid bucket name"),
            ),
            Error::KeyRequired | Error::InvalidKey(_) | Error::Invalid(_) => {
                (S::BAD_REQUEST, "STORAGE_INVALID_PARAMETER", None)
            }
            Error::FileRequired => (
                S::BAD_REQUEST,
                "STORAGE_INVALID_PARAMETER",
                Some("Send multipart/form-data with the file in a part named \"file\"."),
            ),
            Error::BucketNotFound(_) => (
                S::NOT_FOUND,
                "STORAGE_NOT_FOUND",
                Some("Create the bucket first using POST /api/storage/buckets"),
            ),
            Error::BucketExists(_) => (S::CONFLICT, "STORAGE_ALREADY_EXISTS", None),
            Error::ObjectNotFound | Error::UploadNotFound { .. } => {
                (S::NOT_FOUND, "STORAGE_NOT_FOUND", None)
            }
            Error::WriteDenied { .. } | Error::Forbidden | Error::BadSignature => {
                (S::FORBIDDEN, "STORAGE_PERMISSION_DENIED", None)
            }
            Error::TooLarge { .. } => (
                S::PAYLOAD_TOO_LARGE,
                "STORAGE_INVALID_PARAMETER",
                Some("Upload a smaller file, or raise maxFileSizeMb with PUT /api/storage/config."),
            ),
            Error::Stalled => (S::REQUEST_TIMEOUT, "REQUEST_TIMEOUT", None),
            Error::Busy => (
                S::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                Some("Retry after the number of seconds in the Retry-After header."),
            ),
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                return ApiError::new(
                    S::INTERNAL_SERVER_ERROR,
                    "INTERNAL_ERROR",
                    "Internal server error",
                );
            }
        };
        ApiError {
            status,
            code,
            message,
            next_actions: next,
        }
    }
}

impl From<auth::Error> for ApiError {
    fn from(e: auth::Error) -> Self {
        auth_error(e)
    }
}

/// CONTRACT §0.4. 401 only for missing or bad credentials; a valid but insufficient one is 403.
fn auth_error(e: auth::Error) -> ApiError {
    use StatusCode as S;
    use auth::Error as A;
    let (status, code, next) = match e {
        A::NoToken | A::NoAdminToken | A::InvalidAnonKey => (
            S::UNAUTHORIZED,
            "AUTH_INVALID_CREDENTIALS",
            Some(CHECK_TOKEN),
        ),
        A::InvalidToken | A::InvalidSubject => (S::UNAUTHORIZED, "AUTH_UNAUTHORIZED", None),
        A::InvalidApiKey => (
            S::UNAUTHORIZED,
            "AUTH_INVALID_API_KEY",
            Some("Check the API key is valid or generate a new API key."),
        ),
        A::AdminRequired => (
            S::FORBIDDEN,
            "AUTH_UNAUTHORIZED",
            Some("Check the admin token is valid or login as admin to get a new token."),
        ),
    };
    ApiError {
        status,
        code,
        message: e.to_string(),
        next_actions: next,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope {
            error: self.code,
            message: &self.message,
            status_code: self.status.as_u16(),
            next_actions: self.next_actions,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every service error lands on a 4xx or 5xx with a code from the contract's list.
    #[test]
    fn every_variant_has_a_row() {
        let errors = vec![
            (
                Error::Auth(auth::Error::NoToken),
                401,
                "AUTH_INVALID_CREDENTIALS",
            ),
            (
                Error::Auth(auth::Error::InvalidToken),
                401,
                "AUTH_UNAUTHORIZED",
            ),
            (
                Error::Auth(auth::Error::InvalidApiKey),
                401,
                "AUTH_INVALID_API_KEY",
            ),
            (
                Error::Auth(auth::Error::AdminRequired),
                403,
                "AUTH_UNAUTHORIZED",
            ),
            (Error::InvalidBucketName, 400, "STORAGE_INVALID_PARAMETER"),
            (Error::KeyRequired, 400, "STORAGE_INVALID_PARAMETER"),
            (
                Error::InvalidKey("x".into()),
                400,
                "STORAGE_INVALID_PARAMETER",
            ),
            (Error::Invalid("x".into()), 400, "STORAGE_INVALID_PARAMETER"),
            (Error::FileRequired, 400, "STORAGE_INVALID_PARAMETER"),
            (Error::BucketNotFound("b".into()), 404, "STORAGE_NOT_FOUND"),
            (
                Error::BucketExists("b".into()),
                409,
                "STORAGE_ALREADY_EXISTS",
            ),
            (Error::ObjectNotFound, 404, "STORAGE_NOT_FOUND"),
            (
                Error::UploadNotFound {
                    bucket: "b".into(),
                    key: "k".into(),
                },
                404,
                "STORAGE_NOT_FOUND",
            ),
            (
                Error::WriteDenied {
                    bucket: "b".into(),
                    key: "k".into(),
                },
                403,
                "STORAGE_PERMISSION_DENIED",
            ),
            (Error::Forbidden, 403, "STORAGE_PERMISSION_DENIED"),
            (
                Error::TooLarge { limit_mb: 1 },
                413,
                "STORAGE_INVALID_PARAMETER",
            ),
            (Error::BadSignature, 403, "STORAGE_PERMISSION_DENIED"),
            (Error::Busy, 429, "TOO_MANY_REQUESTS"),
            (Error::Stalled, 408, "REQUEST_TIMEOUT"),
            (Error::Internal("db down".into()), 500, "INTERNAL_ERROR"),
        ];
        for (error, status, code) in errors {
            let api = ApiError::from(error);
            assert_eq!((api.status.as_u16(), api.code), (status, code));
            assert!(!api.message.contains("db down"), "internal detail leaked");
        }
    }
}
