-- Coffer metadata on PostgreSQL: InsForge's `storage` schema, with the defects the contract
-- records fixed (64-bit sizes) and the columns the write protocol needs (version).
CREATE SCHEMA IF NOT EXISTS storage;

CREATE TABLE IF NOT EXISTS storage.buckets (
    name TEXT PRIMARY KEY,
    public BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    cors_rules JSONB,
    versioning_status TEXT NOT NULL DEFAULT 'Disabled'
        CHECK (versioning_status IN ('Enabled', 'Disabled', 'Suspended'))
);

CREATE TABLE IF NOT EXISTS storage.objects (
    bucket TEXT NOT NULL REFERENCES storage.buckets(name) ON DELETE CASCADE,
    -- Byte order, as S3 and the SQLite store list keys.
    key TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    mime_type TEXT,
    uploaded_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    uploaded_by TEXT,
    uploaded_via TEXT NOT NULL DEFAULT 'rest' CHECK (uploaded_via IN ('rest', 's3', 'dashboard')),
    s3_access_key_id TEXT,
    etag TEXT,
    version TEXT NOT NULL,
    CONSTRAINT objects_pkey PRIMARY KEY (bucket, key)
);

CREATE INDEX IF NOT EXISTS idx_storage_objects_owner_key
    ON storage.objects (bucket, uploaded_by, key);

CREATE TABLE IF NOT EXISTS storage.config (
    id UUID PRIMARY KEY,
    max_file_size_mb INTEGER NOT NULL DEFAULT 50,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_storage_config_singleton ON storage.config ((1));
