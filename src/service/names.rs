//! Checked names: a [`BucketName`] or [`ObjectKey`] has passed the rules of CONTRACT §4.3
//! (with the fixes of §9 item 11), so code below the edge never re-validates.

use std::fmt;

use super::Error;

/// Longest accepted bucket name (InsForge has no limit; S3 allows 63, we allow a little more).
const MAX_BUCKET_LEN: usize = 128;
/// Longest accepted key, in bytes (S3's limit).
pub const MAX_KEY_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketName(String);

impl BucketName {
    pub fn parse(name: &str) -> Result<BucketName, Error> {
        let ok = !name.is_empty()
            && name.len() <= MAX_BUCKET_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(BucketName(name.to_string()))
        } else {
            Err(Error::InvalidBucketName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Keys are opaque strings: `/`, spaces, `+`, `%` and unicode are fine. Refused: empty,
    /// over 1024 bytes, a leading `/`, a `..` segment, and control characters.
    pub fn parse(key: &str) -> Result<ObjectKey, Error> {
        if key.is_empty() {
            return Err(Error::KeyRequired);
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(Error::InvalidKey(format!(
                "Invalid key. Keys are at most {MAX_KEY_BYTES} bytes"
            )));
        }
        if key.starts_with('/') || key.split('/').any(|segment| segment == "..") {
            return Err(Error::InvalidKey(
                "Invalid key. Cannot use \"..\" or start with \"/\"".into(),
            ));
        }
        if key.chars().any(char::is_control) {
            return Err(Error::InvalidKey(
                "Invalid key. Control characters are not allowed".into(),
            ));
        }
        Ok(ObjectKey(key.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["a", "My_Bucket", "b-1", &"x".repeat(128)] {
            assert!(BucketName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "ä", "a.b", "..", &"x".repeat(129)] {
            assert!(BucketName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys() {
        for ok in [
            "a",
            "a/b/c.txt",
            "with space+plus%25.txt",
            "ünï/çødé 😀",
            "v1..2.txt",
            "dir/",
            &"k".repeat(1024),
        ] {
            assert!(ObjectKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/abs",
            "..",
            "a/../b",
            "../x",
            "a/..",
            "nul\0byte",
            "line\nbreak",
            &"k".repeat(1025),
        ] {
            assert!(ObjectKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
