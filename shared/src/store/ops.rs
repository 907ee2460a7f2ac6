//! What operators ask of the database itself: which migrations are applied, and a consistent
//! copy of an SQLite database while it is in use.

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

    /// SQLite's `PRAGMA integrity_check`: `ok`, or what is wrong.
    pub async fn integrity_check(&self) -> DomainResult<String> {
        let Pool::Sqlite(p) = &self.pool else { return Ok("ok".into()) };
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check").fetch_all(p).await?;
        Ok(rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("; "))
    }
}
