-- Coffer metadata on the embedded SQLite store. Column names follow InsForge's `storage`
-- schema; timestamps are epoch milliseconds; keys compare byte-wise (BINARY collation).
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY NOT NULL,
    public INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    cors_rules TEXT,
    versioning_status TEXT NOT NULL DEFAULT 'Disabled'
        CHECK (versioning_status IN ('Enabled', 'Disabled', 'Suspended'))
);

CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    mime_type TEXT,
    uploaded_at INTEGER NOT NULL,
    uploaded_by TEXT,
    uploaded_via TEXT NOT NULL DEFAULT 'rest' CHECK (uploaded_via IN ('rest', 's3', 'dashboard')),
    s3_access_key_id TEXT,
    etag TEXT,
    -- Names the bytes in the blob store; a new upload always gets a new version.
    version TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS objects_owner_key ON objects (bucket, uploaded_by, key);

CREATE TABLE IF NOT EXISTS config (
    id TEXT PRIMARY KEY NOT NULL,
    max_file_size_mb INTEGER NOT NULL DEFAULT 50,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
