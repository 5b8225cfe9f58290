//! The access model, cell by cell: every kind of caller × (public, private) bucket ×
//! (list, download, overwrite, upload, delete), with the exact status and error code.

use base64::Engine;
use coffer::auth::{Claims, Keys, Secrets};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{RequestBuilder, Response};
use serde_json::Value;

use crate::all_backends;
use crate::common::{ANON_KEY, API_KEY, JWT_SECRET, Store, TestServer, assert_error, bucket_name};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Nobody,
    Anon,
    Alice,
    Bob,
    AdminJwt,
    KeyBearer,
    KeyHeader,
    Expired,
    AlgNone,
    WrongSecret,
    Garbage,
    BadApiKey,
    BadAnonKey,
}

const EVERYONE: [Who; 13] = [
    Who::Nobody,
    Who::Anon,
    Who::Alice,
    Who::Bob,
    Who::AdminJwt,
    Who::KeyBearer,
    Who::KeyHeader,
    Who::Expired,
    Who::AlgNone,
    Who::WrongSecret,
    Who::Garbage,
    Who::BadApiKey,
    Who::BadAnonKey,
];

/// What a cell must answer: a success status, or an error envelope.
#[derive(Debug, Clone, Copy)]
enum Want {
    Ok(u16),
    Err(u16, &'static str),
}

const DENIED: Want = Want::Err(403, "STORAGE_PERMISSION_DENIED");
const HIDDEN: Want = Want::Err(404, "STORAGE_NOT_FOUND");

/// An HS256 token signed with `secret`, expiring at `exp`.
pub fn hs256(secret: &str, sub: &str, role: &str, exp: u64) -> String {
    let claims = Claims {
        sub: Some(sub.into()),
        role: Some(role.into()),
        email: None,
        exp,
        iat: None,
    };
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("hmac key");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).expect("sign")
}

fn now() -> u64 {
    chrono::Utc::now().timestamp() as u64
}

/// An unsigned `alg: none` token claiming to be an admin.
pub fn alg_none() -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = format!(
        r#"{{"sub":"root","role":"project_admin","exp":{}}}"#,
        now() + 3600
    );
    format!("{header}.{}.", b64.encode(body))
}

struct Callers {
    alice: String,
    bob: String,
    admin: String,
    expired: String,
    none: String,
    wrong: String,
}

impl Callers {
    fn new(s: &TestServer) -> Callers {
        let other = Keys::new(&Secrets {
            jwt_secret: "some-other-secret-entirely".into(),
            api_key: API_KEY.into(),
            anon_key: ANON_KEY.into(),
        });
        Callers {
            alice: s.user("alice"),
            bob: s.user("bob"),
            admin: s.token("root", "project_admin"),
            expired: hs256(JWT_SECRET, "alice", "authenticated", now() - 120),
            none: alg_none(),
            wrong: other.mint("root", "project_admin", 3600),
        }
    }

    fn apply(&self, who: Who, rb: RequestBuilder) -> RequestBuilder {
        match who {
            Who::Nobody => rb,
            Who::Anon => rb.bearer_auth(ANON_KEY),
            Who::Alice => rb.bearer_auth(&self.alice),
            Who::Bob => rb.bearer_auth(&self.bob),
            Who::AdminJwt => rb.bearer_auth(&self.admin),
            Who::KeyBearer => rb.bearer_auth(API_KEY),
            Who::KeyHeader => rb.header("x-api-key", API_KEY),
            Who::Expired => rb.bearer_auth(&self.expired),
            Who::AlgNone => rb.bearer_auth(&self.none),
            Who::WrongSecret => rb.bearer_auth(&self.wrong),
            Who::Garbage => rb.bearer_auth("not-a-token"),
            Who::BadApiKey => rb.bearer_auth("ik_0000000000000000"),
            Who::BadAnonKey => rb.bearer_auth("anon_0000000000000000"),
        }
    }
}

/// Credentials that fail outright, and how (CONTRACT §0.4). `None` for working ones.
fn refused(who: Who) -> Option<Want> {
    match who {
        Who::Nobody => Some(Want::Err(401, "AUTH_INVALID_CREDENTIALS")),
        Who::Expired | Who::AlgNone | Who::WrongSecret | Who::Garbage => {
            Some(Want::Err(401, "AUTH_UNAUTHORIZED"))
        }
        Who::BadApiKey => Some(Want::Err(401, "AUTH_INVALID_API_KEY")),
        Who::BadAnonKey => Some(Want::Err(401, "AUTH_INVALID_CREDENTIALS")),
        _ => None,
    }
}

fn is_admin(who: Who) -> bool {
    matches!(who, Who::AdminJwt | Who::KeyBearer | Who::KeyHeader)
}

async fn check(r: Response, want: Want, cell: &str) -> Option<Value> {
    match want {
        Want::Ok(status) => {
            assert_eq!(r.status().as_u16(), status, "{cell}");
            let bytes = r.bytes().await.expect("body");
            Some(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        }
        Want::Err(status, code) => {
            assert_eq!(r.status().as_u16(), status, "{cell}");
            assert_error(r, status, code).await;
            None
        }
    }
}

fn multipart(bytes: &[u8]) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("f.txt");
    reqwest::multipart::Form::new().part("file", part)
}

/// The bytes an admin sees at `key`, or `None` when it does not exist.
async fn peek(s: &TestServer, b: &str, key: &str) -> Option<Vec<u8>> {
    let r = s.get(b, key, Some(API_KEY)).await;
    match r.status().as_u16() {
        200 => Some(r.bytes().await.unwrap().to_vec()),
        404 => None,
        other => panic!("admin read of {key} answered {other}"),
    }
}

async fn matrix(store: Store) {
    let s = TestServer::start(store).await;
    let c = Callers::new(&s);
    for public in [true, false] {
        let b = bucket_name(if public { "pub" } else { "priv" });
        s.create_bucket(&b, public).await;
        let obj = |key: &str| s.storage(&format!("/buckets/{b}/objects/{key}"));
        assert_eq!(
            s.put(&b, "alice.txt", b"A0".to_vec(), Some(&c.alice))
                .await
                .status(),
            200
        );
        assert_eq!(
            s.put(&b, "admin.txt", b"K0".to_vec(), Some(API_KEY))
                .await
                .status(),
            200
        );

        // List: admins see both objects, users only their own, anon nothing.
        for who in EVERYONE {
            let cell = format!("list {who:?} public={public}");
            let want = refused(who).unwrap_or(match who {
                Who::Anon => DENIED,
                _ => Want::Ok(200),
            });
            let r = c
                .apply(
                    who,
                    s.client.get(s.storage(&format!("/buckets/{b}/objects"))),
                )
                .send();
            if let Some(page) = check(r.await.unwrap(), want, &cell).await {
                let keys: Vec<&str> = page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["key"].as_str().unwrap())
                    .collect();
                let expected: &[&str] = match who {
                    Who::Alice => &["alice.txt"],
                    Who::Bob => &[],
                    _ => &["admin.txt", "alice.txt"],
                };
                assert_eq!(keys, expected, "{cell}");
                assert_eq!(page["pagination"]["total"], expected.len(), "{cell}");
            }
        }

        // Download alice's object: public buckets ignore credentials entirely (even broken ones).
        for who in EVERYONE {
            let cell = format!("download {who:?} public={public}");
            let want = if public {
                Want::Ok(200)
            } else {
                refused(who).unwrap_or(match who {
                    Who::Anon | Who::Bob => HIDDEN,
                    _ => Want::Ok(200),
                })
            };
            let r = c
                .apply(who, s.client.get(obj("alice.txt")))
                .send()
                .await
                .unwrap();
            if matches!(want, Want::Ok(_)) {
                assert_eq!(r.status(), 200, "{cell}");
                assert_eq!(r.bytes().await.unwrap().as_ref(), b"A0", "{cell}");
            } else {
                check(r, want, &cell).await;
            }
        }

        // Overwrite alice's object: owner and admins only; the owner never changes.
        let mut current = b"A0".to_vec();
        for who in EVERYONE {
            let cell = format!("overwrite {who:?} public={public}");
            let want = refused(who).unwrap_or(match who {
                Who::Anon | Who::Bob => DENIED,
                _ => Want::Ok(200),
            });
            let bytes = format!("{who:?}").into_bytes();
            let r = c.apply(
                who,
                s.client.put(obj("alice.txt")).multipart(multipart(&bytes)),
            );
            if check(r.send().await.unwrap(), want, &cell).await.is_some() {
                current = bytes;
            }
            assert_eq!(
                peek(&s, &b, "alice.txt").await.as_deref(),
                Some(&current[..]),
                "{cell}"
            );
        }
        // Still alice's after admins replaced it: she reads it, bob cannot.
        if !public {
            assert_eq!(s.get(&b, "alice.txt", Some(&c.alice)).await.status(), 200);
            assert_error(
                s.get(&b, "alice.txt", Some(&c.bob)).await,
                404,
                "STORAGE_NOT_FOUND",
            )
            .await;
            assert_error(
                s.get(&b, "admin.txt", Some(&c.alice)).await,
                404,
                "STORAGE_NOT_FOUND",
            )
            .await;
        }
        let r = s.put(&b, "admin.txt", b"x".to_vec(), Some(&c.alice)).await;
        assert_error(r, 403, "STORAGE_PERMISSION_DENIED").await;

        // Upload a new key: any working credential except anon.
        for who in EVERYONE {
            let cell = format!("upload {who:?} public={public}");
            let want = refused(who).unwrap_or(match who {
                Who::Anon => DENIED,
                _ => Want::Ok(200),
            });
            let key = format!("new-{who:?}.txt");
            let r = c.apply(who, s.client.put(obj(&key)).multipart(multipart(b"new")));
            let stored = check(r.send().await.unwrap(), want, &cell).await.is_some();
            assert_eq!(peek(&s, &b, &key).await.is_some(), stored, "{cell}");
        }

        // Delete an object of alice's: hers and admins' succeed, bob's is a 404.
        for who in EVERYONE {
            let cell = format!("delete {who:?} public={public}");
            let key = format!("victim-{who:?}.txt");
            assert_eq!(
                s.put(&b, &key, b"v".to_vec(), Some(&c.alice))
                    .await
                    .status(),
                200
            );
            let want = refused(who).unwrap_or(match who {
                Who::Anon => DENIED,
                Who::Bob => HIDDEN,
                _ => Want::Ok(200),
            });
            let r = c
                .apply(who, s.client.delete(obj(&key)))
                .send()
                .await
                .unwrap();
            let deleted = check(r, want, &cell).await.is_some();
            assert_eq!(deleted, who == Who::Alice || is_admin(who), "{cell}");
            assert_eq!(peek(&s, &b, &key).await.is_none(), deleted, "{cell}");
        }
    }
}

/// Admin routes: admins pass, other working credentials get 403, broken ones 401.
async fn admin_routes(store: Store) {
    let s = TestServer::start(store).await;
    let c = Callers::new(&s);
    for who in EVERYONE {
        let cell = format!("GET /buckets {who:?}");
        let want = match who {
            Who::Nobody => Want::Err(401, "AUTH_INVALID_CREDENTIALS"),
            _ if is_admin(who) => Want::Ok(200),
            Who::Anon | Who::Alice | Who::Bob => Want::Err(403, "AUTH_UNAUTHORIZED"),
            _ => refused(who).unwrap(),
        };
        let r = c
            .apply(who, s.client.get(s.storage("/buckets")))
            .send()
            .await
            .unwrap();
        let body = check(r, want, &cell).await;
        assert!(body.is_none_or(|b| b.is_array()), "{cell}");
    }
}

all_backends!(matrix, admin_routes);
