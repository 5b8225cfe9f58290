//! The production metadata store: PostgreSQL, schema `storage` (CONTRACT §4.1).
//!
//! Overwrites lock the object row (`SELECT … FOR UPDATE`) so the ownership check, the update
//! and the superseded version all refer to the same committed row, even under concurrency.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, Postgres, Row, Transaction};

use super::cache::{Change, LookupCache};
use super::{
    Bucket, Error, ListQuery, Lookup, MetaStore, NewObject, Object, Page, Pending, Removed,
    ReplaceCheck, Result, StorageConfig, now_ms, prefix_range,
};

pub struct PgMeta {
    pool: PgPool,
}

/// Serialises concurrent start-ups' migrations (any constant unique to Coffer works).
const MIGRATION_LOCK: i64 = 0x0C0F_FE12;

impl PgMeta {
    /// Connects, then applies the migrations (one server at a time) and seeds the config row.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<PgMeta> {
        let options: PgConnectOptions = url.parse()?;
        // One direct connection first: when it fails, its error says why (refused, unknown
        // host, bad password, no such database); a pool only reports that it timed out.
        match tokio::time::timeout(acquire_timeout, PgConnection::connect_with(&options)).await {
            Ok(Ok(conn)) => conn.close().await?,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                let waited = format!("no answer within {} s", acquire_timeout.as_secs());
                let e = std::io::Error::new(std::io::ErrorKind::TimedOut, waited);
                return Err(sqlx::Error::Io(e).into());
            }
        }
        // No ping on acquire: it doubled every query's round trips; a dead connection
        // surfaces as an error on use and is replaced.
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .test_before_acquire(false)
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await?;
        let meta = PgMeta { pool };
        meta.migrate().await?;
        Ok(meta)
    }

    /// Keeps `cache` coherent with writes made by other servers: applies every announced
    /// change, and turns the cache off whenever the notification connection is down (changes
    /// may have been missed), on again once it is listening.
    pub fn spawn_listener(&self, cache: Arc<LookupCache>) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            loop {
                cache.set_enabled(false);
                if let Ok(mut listener) = PgListener::connect_with(&pool).await
                    && listener.listen(CHANGES_CHANNEL).await.is_ok()
                {
                    cache.set_enabled(true);
                    while let Ok(Some(note)) = listener.try_recv().await {
                        cache.changed(&Change::decode(note.payload()));
                    }
                    cache.set_enabled(false);
                    tracing::warn!("lookup cache off: the change notifications stopped");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    async fn migrate(&self) -> Result<()> {
        // sqlx takes its own advisory lock too; ours also covers the config seed below.
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
        let outcome = async {
            sqlx::query("CREATE SCHEMA IF NOT EXISTS storage")
                .execute(&mut *conn)
                .await?;
            sqlx::migrate!("./migrations/postgres")
                .run(&mut *conn)
                .await?;
            sqlx::query(
                "INSERT INTO storage.config (id, max_file_size_mb)
                 SELECT gen_random_uuid(), 50 WHERE NOT EXISTS (SELECT 1 FROM storage.config)",
            )
            .execute(&mut *conn)
            .await?;
            Ok::<_, Error>(())
        }
        .await;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
        outcome
    }
}

fn bucket_row(row: &PgRow) -> Bucket {
    Bucket {
        name: row.get("name"),
        public: row.get("public"),
        created_at: row.get("created_at"),
    }
}

fn object_row(row: &PgRow) -> Object {
    Object {
        bucket: row.get("bucket"),
        key: row.get("key"),
        size: row.get("size"),
        mime_type: row.get("mime_type"),
        uploaded_at: row.get("uploaded_at"),
        uploaded_by: row.get("uploaded_by"),
        etag: row.get("etag"),
        version: row.get("version"),
    }
}

fn config_row(row: &PgRow) -> StorageConfig {
    StorageConfig {
        id: row.get::<uuid::Uuid, _>("id").to_string(),
        max_file_size_mb: row.get::<i32, _>("max_file_size_mb") as i64,
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn pending_row(row: &PgRow) -> Pending {
    Pending {
        version: row.get("version"),
        bucket: row.get("bucket"),
        key: row.get("key"),
        owner: row.get("owner"),
        content_type: row.get("content_type"),
        max_bytes: row.get("max_bytes"),
        expires_at: row.get("expires_at"),
    }
}

/// A `RETURNING key, version` row: bytes the metadata no longer points at.
fn removed_row(row: &PgRow) -> Removed {
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

/// The channel on which servers sharing a database announce metadata changes.
pub const CHANGES_CHANNEL: &str = "coffer_meta";

/// Announces a change to every server's lookup cache; delivered when the transaction (or,
/// outside one, the statement) commits.
async fn announce<'e, E>(executor: E, change: &Change) -> Result<()>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANGES_CHANNEL)
        .bind(change.encode())
        .execute(executor)
        .await?;
    Ok(())
}

async fn locked_object(
    tx: &mut Transaction<'static, Postgres>,
    bucket: &str,
    key: &str,
) -> Result<Option<Object>> {
    let row = sqlx::query(
        "SELECT bucket, key, size, mime_type, uploaded_at, uploaded_by, etag, version
         FROM storage.objects WHERE bucket = $1 AND key = $2 FOR UPDATE",
    )
    .bind(bucket)
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.as_ref().map(object_row))
}

#[async_trait]
impl MetaStore for PgMeta {
    async fn list_buckets(&self) -> Result<Vec<Bucket>> {
        let rows = sqlx::query(
            "SELECT name, public, created_at FROM storage.buckets ORDER BY name COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(bucket_row).collect())
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        let row =
            sqlx::query("SELECT name, public, created_at FROM storage.buckets WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.as_ref().map(bucket_row))
    }

    async fn create_bucket(&self, name: &str, public: bool) -> Result<Bucket> {
        let now = now_ms();
        let result = sqlx::query(
            "INSERT INTO storage.buckets (name, public, created_at, updated_at)
             VALUES ($1, $2, $3, $3)",
        )
        .bind(name)
        .bind(public)
        .bind(now)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => {
                announce(&self.pool, &Change::All).await?;
                Ok(Bucket {
                    name: name.to_string(),
                    public,
                    created_at: now,
                })
            }
            Err(e) if is_unique_violation(&e) => Err(Error::BucketExists),
            Err(e) => Err(e.into()),
        }
    }

    async fn set_bucket_public(&self, name: &str, public: bool) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE storage.buckets SET public = $2, updated_at = NOW() WHERE name = $1",
        )
        .bind(name)
        .bind(public)
        .execute(&self.pool)
        .await?;
        announce(&self.pool, &Change::All).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_bucket(&self, name: &str) -> Result<Option<Vec<Removed>>> {
        let mut tx = self.pool.begin().await?;
        // Lock the bucket first: concurrent inserts hold a key-share lock on it through the
        // foreign key, so after this no new object can slip in before the delete commits.
        let found = sqlx::query("SELECT 1 FROM storage.buckets WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Ok(None);
        }
        let mut removed: Vec<Removed> =
            sqlx::query("DELETE FROM storage.objects WHERE bucket = $1 RETURNING key, version")
                .bind(name)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(removed_row)
                .collect();
        // Unconfirmed uploads into the bucket go with it; their bytes are released too.
        let pending: Vec<Removed> = sqlx::query(
            "DELETE FROM storage.pending_uploads WHERE bucket = $1 RETURNING key, version",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(removed_row)
        .collect();
        removed.extend(pending);
        sqlx::query("DELETE FROM storage.buckets WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        announce(&mut *tx, &Change::All).await?;
        tx.commit().await?;
        Ok(Some(removed))
    }

    async fn lookup(&self, bucket: &str, key: &str) -> Result<Option<Lookup>> {
        let row = sqlx::query(
            "SELECT b.name, b.public, b.created_at, o.key AS okey, o.size, o.mime_type,
                    o.uploaded_at, o.uploaded_by, o.etag, o.version
             FROM storage.buckets b
             LEFT JOIN storage.objects o ON o.bucket = b.name AND o.key = $2
             WHERE b.name = $1",
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
                uploaded_at: row.get("uploaded_at"),
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
        let mut tx = self.pool.begin().await?;
        loop {
            if let Some(old) = locked_object(&mut tx, &o.bucket, &o.key).await? {
                if !may_replace(&old) {
                    return Err(Error::ReplaceDenied);
                }
                sqlx::query(
                    "UPDATE storage.objects SET size = $3, mime_type = $4, uploaded_at = $5,
                        uploaded_via = $6, etag = $7, version = $8
                     WHERE bucket = $1 AND key = $2",
                )
                .bind(&o.bucket)
                .bind(&o.key)
                .bind(o.size)
                .bind(&o.mime_type)
                .bind(o.uploaded_at)
                .bind(new.via.as_str())
                .bind(&o.etag)
                .bind(&o.version)
                .execute(&mut *tx)
                .await?;
                announce(&mut *tx, &Change::Key(o.bucket.clone(), o.key.clone())).await?;
                tx.commit().await?;
                return Ok(Some(old.version));
            }
            let inserted = sqlx::query(
                "INSERT INTO storage.objects (bucket, key, size, mime_type, uploaded_at,
                    uploaded_by, uploaded_via, etag, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (bucket, key) DO NOTHING",
            )
            .bind(&o.bucket)
            .bind(&o.key)
            .bind(o.size)
            .bind(&o.mime_type)
            .bind(o.uploaded_at)
            .bind(&o.uploaded_by)
            .bind(new.via.as_str())
            .bind(&o.etag)
            .bind(&o.version)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(done) if done.rows_affected() == 1 => {
                    announce(&mut *tx, &Change::Key(o.bucket.clone(), o.key.clone())).await?;
                    tx.commit().await?;
                    return Ok(None);
                }
                // Another writer created the key since our SELECT: lock it and go round again.
                Ok(_) => continue,
                Err(e) if is_fk_violation(&e) => return Err(Error::BucketNotFound),
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn delete_objects(
        &self,
        bucket: &str,
        keys: &[String],
        owner: Option<&str>,
    ) -> Result<Vec<Removed>> {
        let rows = sqlx::query(
            "DELETE FROM storage.objects WHERE bucket = $1 AND key = ANY($2)
               AND ($3::text IS NULL OR uploaded_by = $3)
             RETURNING key, version",
        )
        .bind(bucket)
        .bind(keys)
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let key: String = r.get("key");
            announce(&self.pool, &Change::Key(bucket.to_string(), key)).await?;
        }
        Ok(rows.iter().map(removed_row).collect())
    }

    async fn list_objects(&self, q: &ListQuery) -> Result<Page> {
        let (lower, upper) = prefix_range(q.prefix.as_deref());
        let rows = sqlx::query(
            "SELECT bucket, key, size, mime_type, uploaded_at, uploaded_by, etag, version
             FROM storage.objects
             WHERE bucket = $1 AND key >= $2 AND key < $3
               AND ($4::text IS NULL OR strpos(key, $4) > 0)
               AND ($5::text IS NULL OR uploaded_by = $5)
             ORDER BY key LIMIT $6 OFFSET $7",
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
            "SELECT COUNT(*) FROM storage.objects
             WHERE bucket = $1 AND key >= $2 AND key < $3
               AND ($4::text IS NULL OR strpos(key, $4) > 0)
               AND ($5::text IS NULL OR uploaded_by = $5)",
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
        let row = sqlx::query(
            "SELECT id, max_file_size_mb, created_at, updated_at FROM storage.config LIMIT 1",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(config_row(&row))
    }

    async fn set_max_file_size_mb(&self, mb: i64) -> Result<StorageConfig> {
        let row = sqlx::query(
            "UPDATE storage.config SET max_file_size_mb = $1, updated_at = NOW()
             RETURNING id, max_file_size_mb, created_at, updated_at",
        )
        .bind(mb as i32)
        .fetch_one(&self.pool)
        .await?;
        announce(&self.pool, &Change::Config).await?;
        Ok(config_row(&row))
    }

    async fn add_pending(&self, p: &Pending) -> Result<()> {
        sqlx::query(
            "INSERT INTO storage.pending_uploads
                (version, bucket, key, owner, content_type, max_bytes, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&p.version)
        .bind(&p.bucket)
        .bind(&p.key)
        .bind(&p.owner)
        .bind(&p.content_type)
        .bind(p.max_bytes)
        .bind(p.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn pending_for(&self, bucket: &str, key: &str) -> Result<Vec<Pending>> {
        let rows = sqlx::query(
            "SELECT * FROM storage.pending_uploads
             WHERE bucket = $1 AND key = $2 AND expires_at > NOW()
             ORDER BY created_at DESC",
        )
        .bind(bucket)
        .bind(key)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(pending_row).collect())
    }

    async fn claim_pending(&self, version: &str) -> Result<Option<Pending>> {
        let row = sqlx::query(
            "DELETE FROM storage.pending_uploads WHERE version = $1 AND expires_at > NOW()
             RETURNING *",
        )
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(pending_row))
    }

    async fn take_expired_pending(&self, limit: i64) -> Result<Vec<Pending>> {
        let rows = sqlx::query(
            "DELETE FROM storage.pending_uploads WHERE version IN
                (SELECT version FROM storage.pending_uploads WHERE expires_at <= NOW()
                 LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING *",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(pending_row).collect())
    }

    async fn bucket_versions(&self, bucket: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT version FROM storage.objects WHERE bucket = $1
             UNION ALL SELECT version FROM storage.pending_uploads WHERE bucket = $1",
        )
        .bind(bucket)
        .fetch_all(&self.pool)
        .await?)
    }
}
