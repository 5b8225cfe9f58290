-- Presigned uploads issued but not yet confirmed. Confirm claims a row; the sweeper deletes
-- expired rows and their bytes.
CREATE TABLE IF NOT EXISTS pending_uploads (
    version TEXT PRIMARY KEY NOT NULL,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    owner TEXT,
    content_type TEXT NOT NULL,
    max_bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_uploads_key ON pending_uploads (bucket, key);
CREATE INDEX IF NOT EXISTS pending_uploads_expiry ON pending_uploads (expires_at);
