//! Content types: what to store for an upload and how to serve a stored type (CONTRACT §4.5).

/// Bytes of the upload's head kept for sniffing.
pub const SNIFF_BYTES: usize = 4096;

const OCTET: &str = "application/octet-stream";

/// Types a browser would render or execute from our origin.
const UNSAFE: &[&str] = &[
    "text/html",
    "image/svg+xml",
    "text/javascript",
    "application/javascript",
    "application/ecmascript",
    "text/ecmascript",
    "application/x-javascript",
    "application/xhtml+xml",
    "application/x-xhtml+xml",
    "text/xml",
    "application/xml",
];

const MARKUP: &[&str] = &[
    "<html",
    "<script",
    "<svg",
    "<!doctype html",
    "<body",
    "<iframe",
    "<object",
    "<form",
];

/// True when a stored type must be served as an attachment.
pub fn is_unsafe(mime: &str) -> bool {
    let essence = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    UNSAFE.contains(&essence.as_str())
}

/// A client-declared type, kept only when it is well-formed and safe.
pub fn safe_declared(declared: Option<&str>) -> String {
    match declared.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) if well_formed(d) && !is_unsafe(d) => d.to_string(),
        _ => OCTET.to_string(),
    }
}

fn well_formed(mime: &str) -> bool {
    mime.len() <= 255
        && mime
            .parse::<mime_guess::mime::Mime>()
            .is_ok_and(|m| !m.type_().as_str().is_empty() && !m.subtype().as_str().is_empty())
}

/// The type to store for an upload: magic bytes first, then the client's claim, then the key's
/// extension; never an unsafe type, and never anything for content that looks like markup.
pub fn decide(head: &[u8], declared: Option<&str>, key: &str) -> String {
    if let Some(kind) = infer::get(head) {
        let detected = kind.mime_type();
        return if is_unsafe(detected) {
            OCTET.to_string()
        } else {
            detected.to_string()
        };
    }
    let lowered = head.to_ascii_lowercase();
    if MARKUP
        .iter()
        .any(|m| lowered.windows(m.len()).any(|w| w == m.as_bytes()))
    {
        return OCTET.to_string();
    }
    let declared = declared
        .map(str::trim)
        .filter(|d| !d.is_empty() && *d != OCTET);
    match declared {
        Some(d) => safe_declared(Some(d)),
        None => {
            let guessed = mime_guess::from_path(key).first_raw();
            safe_declared(guessed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

    #[test]
    fn magic_bytes_win() {
        assert_eq!(decide(PNG, Some("text/plain"), "x.txt"), "image/png");
        assert_eq!(decide(b"%PDF-1.7\n", None, "x"), "application/pdf");
    }

    #[test]
    fn markup_is_never_stored_as_is() {
        assert_eq!(decide(b"<html><body>", Some("text/plain"), "a.txt"), OCTET);
        assert_eq!(
            decide(b"hello <SCRIPT>", Some("text/plain"), "a.txt"),
            OCTET
        );
        assert_eq!(decide(b"x", Some("text/html"), "a.html"), OCTET);
        assert_eq!(decide(b"x", None, "a.svg"), OCTET);
    }

    #[test]
    fn declared_then_extension() {
        assert_eq!(
            decide(b"{}", Some("application/json"), "a"),
            "application/json"
        );
        assert_eq!(decide(b"hi", None, "notes.txt"), "text/plain");
        assert_eq!(decide(b"hi", Some("nonsense"), "a"), OCTET);
        assert_eq!(decide(b"hi", Some(OCTET), "a.csv"), "text/csv");
    }

    #[test]
    fn unsafe_list_ignores_case_and_params() {
        assert!(is_unsafe("Text/HTML; charset=utf-8"));
        assert!(!is_unsafe("text/plain"));
    }
}
