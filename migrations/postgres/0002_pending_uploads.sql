-- Presigned uploads issued but not yet confirmed. Confirm claims a row; the sweeper deletes
-- expired rows and their bytes.
CREATE TABLE IF NOT EXISTS storage.pending_uploads (
    version TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    owner TEXT,
    content_type TEXT NOT NULL,
    max_bytes BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_storage_pending_uploads_key ON storage.pending_uploads (bucket, key);
CREATE INDEX IF NOT EXISTS idx_storage_pending_uploads_expiry ON storage.pending_uploads (expires_at);
