//! What operators ask of the database itself: which migrations are applied, and a consistent
//! copy of an SQLite database while it is in use.

use super::directory::apply_search_queue;
use super::tx::{with_conn, TxConn};
use super::{migrations, Pool, Store};
use crate::error::{DomainError, DomainResult};

/// A migration, and whether the database has it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MigrationState {
    /// Its number.
    pub version: i64,
    /// What it does.
    pub description: String,
    /// `applied`, `pending` (this binary would apply it), or `newer` (applied by a newer
    /// release than this binary: normal during a rolling upgrade).
    pub state: &'static str,
}

impl Store {
    /// Every migration this binary knows, and those the database has that it does not.
    pub async fn migration_status(&self) -> DomainResult<Vec<MigrationState>> {
        let known: Vec<(i64, String)> = match &self.pool {
            Pool::Sqlite(_) => migrations::sqlite(),
            Pool::Postgres(_) => migrations::postgres(),
        }
        .iter()
        .map(|m| (m.version, m.description.to_string()))
        .collect();
        // No table yet: nothing applied.
        let applied: Vec<(i64, String)> = super::with_pool!(self, |p| {
            sqlx::query_as::<_, (i64, String)>(
                "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(p)
            .await
        })
        .unwrap_or_default();
        let mut out: Vec<MigrationState> = known
            .iter()
            .map(|(v, d)| MigrationState {
                version: *v,
                description: d.clone(),
                state: if applied.iter().any(|(a, _)| a == v) { "applied" } else { "pending" },
            })
            .collect();
        for (v, d) in applied {
            if !known.iter().any(|(k, _)| *k == v) {
                out.push(MigrationState { version: v, description: d, state: "newer" });
            }
        }
        out.sort_by_key(|m| m.version);
        Ok(out)
    }

    /// Writes a consistent copy of the SQLite database to `path` (which must not exist) while
    /// it stays in use: `VACUUM INTO` reads one snapshot (writers go on, in WAL mode) and writes
    /// a compact file. PostgreSQL: `Invalid` (use `pg_dump`).
    pub async fn backup_sqlite(&self, path: &std::path::Path) -> DomainResult<()> {
        let Pool::Sqlite(p) = &self.pool else {
            return Err(DomainError::Invalid("backups of PostgreSQL are made with pg_dump (see README)".into()));
        };
        let target = path.to_str().ok_or_else(|| DomainError::Invalid("the backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1").bind(target).execute(p).await?;
        Ok(())
    }

    /// SQLite's `PRAGMA integrity_check`, and the users' search index checked against the
    /// rows it indexes: `ok`, or what is wrong.
    pub async fn integrity_check(&self) -> DomainResult<String> {
        let Pool::Sqlite(p) = &self.pool else { return Ok("ok".into()) };
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check").fetch_all(p).await?;
        let found = rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("; ");
        if found != "ok" || !self.has_search_index(p).await? {
            return Ok(found);
        }
        // FTS5 compares its index with the content table (rank 1: external content too), once
        // the changes still queued for it are applied (migration 0039) — in a transaction rolled
        // back after the check, so that checking writes nothing (a backup stays as it was).
        let mut conn = TxConn::begin_pooled(self).await?;
        let checked = with_conn!(&mut conn, |c| {
            async {
                apply_search_queue!(c, -1_i64).await?;
                let check = "INSERT INTO scim_users_fts (scim_users_fts, rank) VALUES ('integrity-check', 1)";
                Ok::<_, sqlx::Error>(sqlx::query(check).execute(&mut *c).await.map(|_| ()))
            }
            .await
        })?;
        conn.rollback().await?;
        match checked {
            Ok(_) => Ok(found),
            Err(e) => Ok(format!("the users' search index does not match the users: {e}")),
        }
    }

    /// Rebuilds the users' search index from the users (SQLite; PostgreSQL's index needs no
    /// help), then merges it ([`Self::merge_search_index`]). A restore does this: the index is
    /// keyed by SQLite's rowids, which `VACUUM INTO` keeps on this build, but the backup may
    /// come from another.
    pub async fn rebuild_search_index(&self) -> DomainResult<()> {
        let Pool::Sqlite(p) = &self.pool else { return Ok(()) };
        if self.has_search_index(p).await? {
            // The queued changes are in the rebuilt index: applied after it, they would index
            // a row twice. Both in one transaction, so that no change is queued in between.
            let mut conn = TxConn::begin_pooled(self).await?;
            with_conn!(&mut conn, |c| {
                async {
                    sqlx::query("DELETE FROM scim_users_fts_queue").execute(&mut *c).await?;
                    let rebuild = "INSERT INTO scim_users_fts (scim_users_fts) VALUES ('rebuild')";
                    sqlx::query(rebuild).execute(&mut *c).await.map(|_| ())
                }
                .await
            })?;
            conn.commit().await?;
            self.merge_search_index().await?;
        }
        Ok(())
    }

    /// Merges the users' search index into one segment (SQLite's FTS5 `optimize`; PostgreSQL's
    /// index needs no help), after a bulk write of it: a rebuild, or the load benchmark's seed.
    ///
    /// FTS5 keeps its index as segments, which later writes merge a step at a time, each in
    /// the transaction of the write that crossed the step (`automerge`). A bulk write leaves
    /// big segments behind, whose merges the next SCIM writes then paid for: after a million
    /// users written 10,000 to a transaction, the first 8 s of creates ran 1,378–1,599/s with
    /// p99 83–801 ms, and the same after a rebuild (1,412/s, p99 80 ms; 1,897/s, p99 66 ms in
    /// the next 8 s), against 2,270/s and p99 12.6 ms with the index merged first. Merging a
    /// million users' index took 2.1 s (a rebuild 6.0 s; both in the `sqlite3` shell, SQLite
    /// 3.40), with the database's write lock held: for a restore (before the server starts) and
    /// the benchmark's seed, not for a live import of at most 10,000 rows, whose segments the
    /// writes after it merge as any others'.
    pub async fn merge_search_index(&self) -> DomainResult<()> {
        let Pool::Sqlite(p) = &self.pool else { return Ok(()) };
        if self.has_search_index(p).await? {
            // Every queued change first (migration 0039), in one transaction: a bulk write's.
            let mut conn = TxConn::begin_pooled(self).await?;
            with_conn!(&mut conn, |c| apply_search_queue!(c, -1_i64).await)?;
            conn.commit().await?;
            sqlx::query("INSERT INTO scim_users_fts (scim_users_fts) VALUES ('optimize')").execute(p).await?;
        }
        Ok(())
    }

    async fn has_search_index(&self, p: &sqlx::SqlitePool) -> DomainResult<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'scim_users_fts'").fetch_one(p).await?;
        Ok(n > 0)
    }
}
