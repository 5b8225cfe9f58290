//! `Range` and conditional-request rules for downloads (RFC 9110 §13, §14).

use std::ops::Range;

use chrono::{DateTime, Utc};

/// What a `Range` header asks for, against an object of a known size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    Full,
    Part(Range<u64>),
    Unsatisfiable,
}

/// One `bytes=` range. Several ranges, other units or bad syntax are served in full, which
/// RFC 9110 allows; a well-formed range outside the object is unsatisfiable (416).
pub fn parse_range(header: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Wanted::Full;
    };
    if spec.contains(',') {
        return Wanted::Full;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Wanted::Full;
    };
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (start.trim(), end.trim()) {
        ("", suffix) => match num(suffix) {
            Some(0) => Wanted::Unsatisfiable,
            Some(_) if size == 0 => Wanted::Unsatisfiable,
            Some(n) => Wanted::Part(size - n.min(size)..size),
            None => Wanted::Full,
        },
        (first, "") => match num(first) {
            Some(a) if a >= size => Wanted::Unsatisfiable,
            Some(a) => Wanted::Part(a..size),
            None => Wanted::Full,
        },
        (first, last) => match (num(first), num(last)) {
            (Some(a), Some(b)) if a > b => Wanted::Full,
            (Some(a), Some(_)) if a >= size => Wanted::Unsatisfiable,
            (Some(a), Some(b)) => Wanted::Part(a..b.min(size - 1) + 1),
            _ => Wanted::Full,
        },
    }
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// True when the client's cached copy is current (answer 304). `etag` is quoted.
pub fn not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    etag: &str,
    modified: DateTime<Utc>,
) -> bool {
    if let Some(list) = if_none_match {
        return etag_matches(list, etag);
    }
    match if_modified_since.and_then(|d| httpdate::parse_http_date(d).ok()) {
        Some(since) => modified.timestamp() <= DateTime::<Utc>::from(since).timestamp(),
        None => false,
    }
}

/// `If-Range`: the range applies only when the validator still names this version.
pub fn range_applies(if_range: Option<&str>, etag: &str, modified: DateTime<Utc>) -> bool {
    match if_range.map(str::trim) {
        None => true,
        Some(v) if v.starts_with('"') => v == etag,
        Some(v) => httpdate::parse_http_date(v)
            .map(|d| modified.timestamp() <= DateTime::<Utc>::from(d).timestamp())
            .unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Wanted::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Part(0..4));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Part(5..10));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part(7..10));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Part(0..10));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Part(8..10));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=10-20"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Full);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Full);
        assert_eq!(parse_range(Some("bytes=a-b"), 10), Full);
        assert_eq!(parse_range(Some("bytes=+1-2"), 10), Full);
    }

    #[test]
    fn conditionals() {
        let t = DateTime::from_timestamp(1_700_000_000, 500_000_000).unwrap();
        let date = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        );
        assert!(not_modified(Some("\"abc\""), None, "\"abc\"", t));
        assert!(not_modified(Some("W/\"abc\", \"x\""), None, "\"abc\"", t));
        assert!(not_modified(Some("*"), None, "\"abc\"", t));
        assert!(!not_modified(Some("\"x\""), Some(&date), "\"abc\"", t));
        assert!(not_modified(None, Some(&date), "\"abc\"", t));
        assert!(!not_modified(None, Some("garbage"), "\"abc\"", t));
        assert!(range_applies(Some("\"abc\""), "\"abc\"", t));
        assert!(!range_applies(Some("\"old\""), "\"abc\"", t));
        assert!(range_applies(Some(&date), "\"abc\"", t));
    }
}
