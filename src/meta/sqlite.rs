//! The embedded metadata store: one SQLite file in the data directory.
//!
//! Writes run in `BEGIN IMMEDIATE` transactions, so a read-check-write sequence holds the
//! database's single write lock throughout (SQLite has no row locks).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::{
    Bucket, Error, ListQuery, Lookup, MetaStore, NewObject, Object, Page, Pending, Removed,
    ReplaceCheck, Result, StorageConfig, now_ms, prefix_range,
};

pub struct SqliteMeta {
    /// Readers: WAL lets them run beside the writer.
    pool: SqlitePool,
    /// The one writer connection. SQLite admits one writer at a time anyway; queueing in the
    /// pool is fair and immediate, where contending on the file lock sleeps in growing steps.
    writer: SqlitePool,
}

impl SqliteMeta {
    /// Opens (creating if needed) the database file and applies the migrations.
    pub async fn open(path: &Path, max_connections: u32) -> Result<SqliteMeta> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged upload survives power loss, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(2))
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let meta = SqliteMeta { pool, writer };
        meta.ensure_config().await?;
        Ok(meta)
    }

    async fn ensure_config(&self) -> Result<()> {
        let now = now_ms().timestamp_millis();
        sqlx::query(
            "INSERT INTO config (id, max_file_size_mb, created_at, updated_at)
             SELECT ?1, 50, ?2, ?2 WHERE NOT EXISTS (SELECT 1 FROM config)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

fn ts(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn bucket_row(row: &SqliteRow) -> Bucket {
    Bucket {
        name: row.get("name"),
        public: row.get::<i64, _>("public") != 0,
        created_at: ts(row.get("created_at")),
    }
}

fn object_row(row: &SqliteRow) -> Object {
    Object {
        bucket: row.get("bucket"),
        key: row.get("key"),
        size: row.get("size"),
        mime_type: row.get("mime_type"),
        uploaded_at: ts(row.get("uploaded_at")),
        uploaded_by: row.get("uploaded_by"),
        etag: row.get("etag"),
        version: row.get("version"),
    }
}

fn config_row(row: &SqliteRow) -> StorageConfig {
    StorageConfig {
        id: row.get("id"),
        max_file_size_mb: row.get("max_file_size_mb"),
        created_at: ts(row.get("created_at")),
        updated_at: ts(row.get("updated_at")),
    }
}

fn pending_row(row: &SqliteRow) -> Pending {
    Pending {
        version: row.get("version"),
        bucket: row.get("bucket"),
        key: row.get("key"),
        owner: row.get("owner"),
        content_type: row.get("content_type"),
        max_bytes: row.get("max_bytes"),
        expires_at: ts(row.get("expires_at")),
    }
}

/// A `RETURNING key, version` row: bytes the metadata no longer points at.
fn removed_row(row: &SqliteRow) -> Removed {
    Removed {
        key: row.get("key"),
        version: row.get("version"),
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn is_fk_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

#[async_trait]
impl MetaStore for SqliteMeta {
    async fn list_buckets(&self) -> Result<Vec<Bucket>> {
        let rows = sqlx::query("SELECT name, public, created_at FROM buckets ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(bucket_row).collect())
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        let row = sqlx::query("SELECT name, public, created_at FROM buckets WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(bucket_row))
    }

    async fn create_bucket(&self, name: &str, public: bool) -> Result<Bucket> {
        let now = now_ms();
        let result = sqlx::query(
            "INSERT INTO buckets (name, public, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        )
        .bind(name)
        .bind(public as i64)
        .bind(now.timestamp_millis())
        .execute(&self.writer)
        .await;
        match result {
            Ok(_) => Ok(Bucket {
                name: name.to_string(),
                public,
                created_at: now,
            }),
            Err(e) if is_unique_violation(&e) => Err(Error::BucketExists),
            Err(e) => Err(e.into()),
        }
    }

    async fn set_bucket_public(&self, name: &str, public: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE buckets SET public = ?2, updated_at = ?3 WHERE name = ?1")
            .bind(name)
            .bind(public as i64)
            .bind(now_ms().timestamp_millis())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_bucket(&self, name: &str) -> Result<Option<Vec<Removed>>> {
        let mut tx = self.write_tx().await?;
        let mut removed: Vec<Removed> =
            sqlx::query("DELETE FROM objects WHERE bucket = ?1 RETURNING key, version")
                .bind(name)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(removed_row)
                .collect();
        // Unconfirmed uploads into the bucket go with it; their bytes are released too.
        let pending: Vec<Removed> =
            sqlx::query("DELETE FROM pending_uploads WHERE bucket = ?1 RETURNING key, version")
                .bind(name)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(removed_row)
                .collect();
        removed.extend(pending);
        let done = sqlx::query("DELETE FROM buckets WHERE name = ?1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(removed))
    }

    async fn lookup(&self, bucket: &str, key: &str) -> Result<Option<Lookup>> {
        let row = sqlx::query(
            "SELECT b.name, b.public, b.created_at, o.key AS okey, o.size, o.mime_type,
                    o.uploaded_at, o.uploaded_by, o.etag, o.version
             FROM buckets b LEFT JOIN objects o ON o.bucket = b.name AND o.key = ?2
             WHERE b.name = ?1",
        )
        .bind(bucket)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| {
            let bucket = bucket_row(&row);
            let object = row.get::<Option<String>, _>("okey").map(|key| Object {
                bucket: bucket.name.clone(),
                key,
                size: row.get("size"),
                mime_type: row.get("mime_type"),
                uploaded_at: ts(row.get("uploaded_at")),
                uploaded_by: row.get("uploaded_by"),
                etag: row.get("etag"),
                version: row.get("version"),
            });
            Lookup { bucket, object }
        }))
    }

    async fn put_object(
        &self,
        new: NewObject,
        may_replace: ReplaceCheck<'_>,
    ) -> Result<Option<String>> {
        let o = &new.object;
        let mut tx = self.write_tx().await?;
        let existing = sqlx::query(
            "SELECT bucket, key, size, mime_type, uploaded_at, uploaded_by, etag, version
             FROM objects WHERE bucket = ?1 AND key = ?2",
        )
        .bind(&o.bucket)
        .bind(&o.key)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| object_row(&r));
        let previous = match existing {
            Some(old) => {
                if !may_replace(&old) {
                    return Err(Error::ReplaceDenied);
                }
                sqlx::query(
                    "UPDATE objects SET size = ?3, mime_type = ?4, uploaded_at = ?5,
                        uploaded_via = ?6, etag = ?7, version = ?8
                     WHERE bucket = ?1 AND key = ?2",
                )
                .bind(&o.bucket)
                .bind(&o.key)
                .bind(o.size)
                .bind(&o.mime_type)
                .bind(o.uploaded_at.timestamp_millis())
                .bind(new.via.as_str())
                .bind(&o.etag)
                .bind(&o.version)
                .execute(&mut *tx)
                .await?;
                Some(old.version)
            }
            None => {
                let inserted = sqlx::query(
                    "INSERT INTO objects (bucket, key, size, mime_type, uploaded_at, uploaded_by,
                        uploaded_via, etag, version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .bind(&o.bucket)
                .bind(&o.key)
                .bind(o.size)
                .bind(&o.mime_type)
                .bind(o.uploaded_at.timestamp_millis())
                .bind(&o.uploaded_by)
                .bind(new.via.as_str())
                .bind(&o.etag)
                .bind(&o.version)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Ok(_) => None,
                    Err(e) if is_fk_violation(&e) => return Err(Error::BucketNotFound),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        tx.commit().await?;
        Ok(previous)
    }

    async fn delete_objects(
        &self,
        bucket: &str,
        keys: &[String],
        owner: Option<&str>,
    ) -> Result<Vec<Removed>> {
        let mut tx = self.write_tx().await?;
        let mut removed = Vec::new();
        for key in keys {
            let row = sqlx::query(
                "DELETE FROM objects WHERE bucket = ?1 AND key = ?2
                   AND (?3 IS NULL OR uploaded_by = ?3)
                 RETURNING key, version",
            )
            .bind(bucket)
            .bind(key)
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = row {
                removed.push(removed_row(&row));
            }
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn list_objects(&self, q: &ListQuery) -> Result<Page> {
        let (lower, upper) = prefix_range(q.prefix.as_deref());
        let rows = sqlx::query(
            "SELECT bucket, key, size, mime_type, uploaded_at, uploaded_by, etag, version
             FROM objects
             WHERE bucket = ?1 AND key >= ?2 AND key < ?3
               AND (?4 IS NULL OR instr(key, ?4) > 0)
               AND (?5 IS NULL OR uploaded_by = ?5)
             ORDER BY key LIMIT ?6 OFFSET ?7",
        )
        .bind(&q.bucket)
        .bind(&lower)
        .bind(&upper)
        .bind(&q.search)
        .bind(&q.owner)
        .bind(q.limit)
        .bind(q.offset)
        .fetch_all(&self.pool)
        .await?;
        // A page that is not full says the total by itself: no count query.
        let short = (rows.len() as i64) < q.limit && (!rows.is_empty() || q.offset == 0);
        if short {
            return Ok(Page {
                total: q.offset + rows.len() as i64,
                objects: rows.iter().map(object_row).collect(),
            });
        }
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM objects
             WHERE bucket = ?1 AND key >= ?2 AND key < ?3
               AND (?4 IS NULL OR instr(key, ?4) > 0)
               AND (?5 IS NULL OR uploaded_by = ?5)",
        )
        .bind(&q.bucket)
        .bind(&lower)
        .bind(&upper)
        .bind(&q.search)
        .bind(&q.owner)
        .fetch_one(&self.pool)
        .await?;
        Ok(Page {
            objects: rows.iter().map(object_row).collect(),
            total,
        })
    }

    async fn get_config(&self) -> Result<StorageConfig> {
        let row =
            sqlx::query("SELECT id, max_file_size_mb, created_at, updated_at FROM config LIMIT 1")
                .fetch_one(&self.pool)
                .await?;
        Ok(config_row(&row))
    }

    async fn set_max_file_size_mb(&self, mb: i64) -> Result<StorageConfig> {
        let row = sqlx::query(
            "UPDATE config SET max_file_size_mb = ?1, updated_at = ?2
             RETURNING id, max_file_size_mb, created_at, updated_at",
        )
        .bind(mb)
        .bind(now_ms().timestamp_millis())
        .fetch_one(&self.writer)
        .await?;
        Ok(config_row(&row))
    }

    async fn add_pending(&self, p: &Pending) -> Result<()> {
        sqlx::query(
            "INSERT INTO pending_uploads
                (version, bucket, key, owner, content_type, max_bytes, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&p.version)
        .bind(&p.bucket)
        .bind(&p.key)
        .bind(&p.owner)
        .bind(&p.content_type)
        .bind(p.max_bytes)
        .bind(now_ms().timestamp_millis())
        .bind(p.expires_at.timestamp_millis())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn pending_for(&self, bucket: &str, key: &str) -> Result<Vec<Pending>> {
        let rows = sqlx::query(
            "SELECT * FROM pending_uploads WHERE bucket = ?1 AND key = ?2 AND expires_at > ?3
             ORDER BY created_at DESC",
        )
        .bind(bucket)
        .bind(key)
        .bind(now_ms().timestamp_millis())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(pending_row).collect())
    }

    async fn claim_pending(&self, version: &str) -> Result<Option<Pending>> {
        let row = sqlx::query(
            "DELETE FROM pending_uploads WHERE version = ?1 AND expires_at > ?2 RETURNING *",
        )
        .bind(version)
        .bind(now_ms().timestamp_millis())
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.as_ref().map(pending_row))
    }

    async fn take_expired_pending(&self, limit: i64) -> Result<Vec<Pending>> {
        let rows = sqlx::query(
            "DELETE FROM pending_uploads WHERE version IN
                (SELECT version FROM pending_uploads WHERE expires_at <= ?1 LIMIT ?2)
             RETURNING *",
        )
        .bind(now_ms().timestamp_millis())
        .bind(limit)
        .fetch_all(&self.writer)
        .await?;
        Ok(rows.iter().map(pending_row).collect())
    }

    async fn bucket_versions(&self, bucket: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT version FROM objects WHERE bucket = ?1
             UNION ALL SELECT version FROM pending_uploads WHERE bucket = ?1",
        )
        .bind(bucket)
        .fetch_all(&self.pool)
        .await?)
    }
}
