//! Dashboard sessions in the same database as everything else, so that a restart or a second
//! instance keeps everyone signed in. tower-sessions' sqlx stores are per backend; this enum
//! picks one at run time. The tables are created by our migrations (`console_sessions`), not by
//! the stores' own `migrate`, which races when several instances start at once.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{ExpiredDeletion, Result, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use super::Pool;

const TABLE: &str = "console_sessions";

/// A tower-sessions store on SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub enum SessionBackend {
    /// On SQLite.
    Sqlite(SqliteStore),
    /// On PostgreSQL.
    Postgres(PostgresStore),
}

impl SessionBackend {
    pub(super) fn new(pool: &Pool) -> Self {
        match pool {
            Pool::Sqlite(p) => SessionBackend::Sqlite(
                SqliteStore::new(p.clone())
                    .with_table_name(TABLE)
                    .unwrap_or_else(|_| unreachable!("{TABLE} is a valid table name")),
            ),
            Pool::Postgres(p) => SessionBackend::Postgres(
                PostgresStore::new(p.clone())
                    .with_schema_name("public")
                    .and_then(|s| s.with_table_name(TABLE))
                    .unwrap_or_else(|_| unreachable!("public.{TABLE} is a valid table name")),
            ),
        }
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.create(record).await,
            SessionBackend::Postgres(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.save(record).await,
            SessionBackend::Postgres(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        match self {
            SessionBackend::Sqlite(s) => s.load(id).await,
            SessionBackend::Postgres(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.delete(id).await,
            SessionBackend::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for SessionBackend {
    async fn delete_expired(&self) -> Result<()> {
        match self {
            SessionBackend::Sqlite(s) => s.delete_expired().await,
            SessionBackend::Postgres(s) => s.delete_expired().await,
        }
    }
}

impl super::Store {
    /// Deletes expired dashboard sessions (the maintenance job; the sessions' own store would
    /// do it once per instance). Returns 0: the store does not count.
    pub async fn delete_expired_sessions(&self) -> crate::error::DomainResult<u64> {
        self.session_store()
            .delete_expired()
            .await
            .map_err(|e| crate::error::DomainError::Unavailable(e.to_string()))?;
        Ok(0)
    }
}
