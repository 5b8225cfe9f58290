//! SigV4 presigned POST policies for browser-style uploads straight to S3.
//!
//! Written by hand because no Rust S3 client builds POST policies (object_store, aws-sdk-s3
//! and opendal all presign only single requests). The policy pins the bucket, the exact key,
//! the content type and a byte range; S3 enforces it when the form is posted.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Credentials to sign with (a session token when they are temporary).
#[derive(Debug, Clone)]
pub struct SigningCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// What the form may upload.
#[derive(Debug, Clone)]
pub struct PostPolicy<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub content_type: &'a str,
    pub max_bytes: u64,
    pub region: &'a str,
    pub now: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key size");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The SigV4 signing key: `AWS4<secret>` → date → region → service → `aws4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// Hex HMAC of `string_to_sign` with the derived key.
pub fn sign(secret: &str, date: &str, region: &str, service: &str, string_to_sign: &str) -> String {
    hex::encode(hmac(
        &signing_key(secret, date, region, service),
        string_to_sign.as_bytes(),
    ))
}

/// The form fields for a presigned POST (all to be sent before the file part).
pub fn presigned_post(
    policy: &PostPolicy<'_>,
    creds: &SigningCredentials,
) -> BTreeMap<String, String> {
    let date = policy.now.format("%Y%m%d").to_string();
    let amz_date = policy.now.format("%Y%m%dT%H%M%SZ").to_string();
    let credential = format!(
        "{}/{date}/{}/s3/aws4_request",
        creds.access_key_id, policy.region
    );
    let mut conditions: Vec<Value> = vec![
        json!({ "bucket": policy.bucket }),
        json!(["eq", "$key", policy.key]),
        json!(["eq", "$Content-Type", policy.content_type]),
        json!(["content-length-range", 0, policy.max_bytes]),
        json!({ "x-amz-algorithm": "AWS4-HMAC-SHA256" }),
        json!({ "x-amz-credential": credential }),
        json!({ "x-amz-date": amz_date }),
    ];
    if let Some(token) = &creds.session_token {
        conditions.push(json!({ "x-amz-security-token": token }));
    }
    let document = json!({
        "expiration": policy.expires.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "conditions": conditions,
    });
    let encoded = B64.encode(document.to_string());
    let signature = sign(
        &creds.secret_access_key,
        &date,
        policy.region,
        "s3",
        &encoded,
    );
    let mut fields = BTreeMap::new();
    fields.insert("key".into(), policy.key.to_string());
    fields.insert("Content-Type".into(), policy.content_type.to_string());
    fields.insert("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into());
    fields.insert("X-Amz-Credential".into(), credential);
    fields.insert("X-Amz-Date".into(), amz_date);
    if let Some(token) = &creds.session_token {
        fields.insert("X-Amz-Security-Token".into(), token.clone());
    }
    fields.insert("Policy".into(), encoded);
    fields.insert("X-Amz-Signature".into(), signature);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published SigV4 example (IAM, 2015-08-30): the documented signature.
    #[test]
    fn known_answer_signature() {
        let sts = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
                   f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59";
        assert_eq!(
            sign(
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "20150830",
                "us-east-1",
                "iam",
                sts
            ),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn policy_pins_key_type_and_size() {
        let now = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let creds = SigningCredentials {
            access_key_id: "AK".into(),
            secret_access_key: "SK".into(),
            session_token: Some("TOKEN".into()),
        };
        let fields = presigned_post(
            &PostPolicy {
                bucket: "phys",
                key: "app/b/k/v1",
                content_type: "image/png",
                max_bytes: 1234,
                region: "us-east-2",
                now,
                expires: now + chrono::Duration::hours(1),
            },
            &creds,
        );
        assert_eq!(
            fields["X-Amz-Credential"],
            "AK/20260102/us-east-2/s3/aws4_request"
        );
        assert_eq!(fields["X-Amz-Date"], "20260102T030405Z");
        assert_eq!(fields["X-Amz-Security-Token"], "TOKEN");
        let policy: Value =
            serde_json::from_slice(&B64.decode(&fields["Policy"]).unwrap()).unwrap();
        assert_eq!(policy["expiration"], "2026-01-02T04:04:05.000Z");
        let conds = policy["conditions"].to_string();
        assert!(conds.contains(r#"["eq","$key","app/b/k/v1"]"#), "{conds}");
        assert!(
            conds.contains(r#"["content-length-range",0,1234]"#),
            "{conds}"
        );
        assert!(
            conds.contains(r#"["eq","$Content-Type","image/png"]"#),
            "{conds}"
        );
        let want = sign("SK", "20260102", "us-east-2", "s3", &fields["Policy"]);
        assert_eq!(fields["X-Amz-Signature"], want);
    }
}
