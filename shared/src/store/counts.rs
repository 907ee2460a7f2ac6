//! How many users a tenant has, by source and active (table `user_counts`, kept by triggers in
//! the transaction of every write: migration 0025). The users lists take their totals from here
//! instead of counting rows per page: counting a million users' index entries took 60 ms on
//! SQLite and several hundred on PostgreSQL, per page.
//!
//! SQLite keeps one row per (tenant, source, active), updated in place by its one writer.
//! PostgreSQL's writes run side by side, and a row updated by each would hold its lock until
//! the writer's COMMIT, one tenant's writes committing one at a time; so every write statement
//! adds a row of differences, a count is the sum of the tenant's rows, and
//! [`super::Store::fold_user_counts`] now and then replaces a tenant's rows by their sums
//! (which leaves every sum as it was: the delete and the insert commit together).
//!
//! How many active users are in no user group is kept the same way, in `unassigned_counts`
//! (migration 0028, from a row per user in `user_assignment` that the writes keep), and so are
//! how many users have each role and how many each user group holds (`role_counts` and
//! `user_group_sizes`, migration 0029, from each user's role in `user_assignment`).

use std::sync::atomic::{AtomicI64, Ordering};

use super::{with_read, Pool, Store, TenantStore};
use crate::dto::GroupRole;
use crate::error::DomainResult;

/// A tenant's users by source and active.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserCounts {
    rows: Vec<(String, bool, i64)>,
}

impl UserCounts {
    fn sum(&self, keep: impl Fn(&str, bool) -> bool) -> i64 {
        self.rows.iter().filter(|(s, a, _)| keep(s, *a)).map(|r| r.2).sum()
    }

    /// Every user.
    pub fn all(&self) -> i64 {
        self.sum(|_, _| true)
    }

    /// The users the SCIM API lists (all but those created in the dashboard).
    pub fn scim_visible(&self) -> i64 {
        self.sum(|s, _| s != "manual")
    }

    /// Users with `active` as given.
    pub fn with_active(&self, active: bool) -> i64 {
        self.sum(|_, a| a == active)
    }

    /// Users of one source (`scim`, `jit`, `manual`).
    pub fn of_source(&self, source: &str) -> i64 {
        self.sum(|s, _| s == source)
    }
}

/// The count a table of kept counts holds: the sum of its `users` (see the module doc), as a
/// `BIGINT` on both backends.
pub(super) const KEPT_SUM: &str = "CAST(COALESCE(SUM(users), 0) AS BIGINT)";

/// Folds at most this often per instance (PostgreSQL).
const FOLD_EVERY_MS: i64 = 2_000;
/// A tenant's rows are folded once it has more than this many.
const FOLD_ABOVE: i64 = 16;

impl TenantStore<'_> {
    /// This tenant's users by source and active.
    pub async fn user_counts(&self) -> DomainResult<UserCounts> {
        let sql = match self.store.pool {
            Pool::Sqlite(_) => "SELECT source, active, users FROM user_counts WHERE tenant_id = $1",
            Pool::Postgres(_) => {
                "SELECT source, active, SUM(users)::BIGINT FROM user_counts WHERE tenant_id = $1 GROUP BY source, active"
            }
        };
        let rows = with_read!(self.store, |p| {
            sqlx::query_as::<_, (String, bool, i64)>(sql).bind(self.id.as_str()).fetch_all(p).await?
        });
        Ok(UserCounts { rows })
    }

    /// How many active users are in no user group (kept by the writes: migration 0028).
    pub async fn unassigned_count(&self) -> DomainResult<i64> {
        self.kept_sum("unassigned_counts", "", &[]).await
    }

    /// How many users have `role` as their highest user group's, and also those in no user
    /// group when `with_no_group` (the organization's default role is `role`).
    pub async fn role_count(&self, role: GroupRole, with_no_group: bool) -> DomainResult<i64> {
        let no_group = if with_no_group { "" } else { role.as_str() };
        self.kept_sum("role_counts", " AND role IN ($2, $3)", &[role.as_str(), no_group]).await
    }

    /// How many users a user group holds (0 for one that does not exist).
    pub async fn user_group_size(&self, group: &str) -> DomainResult<i64> {
        self.kept_sum("user_group_sizes", " AND group_id = $2", &[group]).await
    }

    /// The sum of a table of kept counts' rows for this tenant (`$1`) that meet `and` (SQL
    /// after the tenant's condition, its parameters from `$2`): one row per key on SQLite,
    /// rows of differences on PostgreSQL.
    async fn kept_sum(&self, table: &str, and: &str, args: &[&str]) -> DomainResult<i64> {
        let sql = format!("SELECT {KEPT_SUM} FROM {table} WHERE tenant_id = $1{and}");
        Ok(with_read!(self.store, |p| {
            let mut q = sqlx::query_scalar::<_, i64>(&sql).bind(self.id.as_str());
            for a in args {
                q = q.bind(*a);
            }
            q.fetch_one(p).await?
        }))
    }
}

/// When this process last folded (epoch ms), so that callers in a loop fold only now and then.
static LAST_FOLD: AtomicI64 = AtomicI64::new(0);

impl Store {
    /// PostgreSQL: replaces the difference rows of every tenant that has many by their sums
    /// (see the module doc), at most every [`FOLD_EVERY_MS`] per process; returns how many rows
    /// went. A no-op on SQLite. Safe beside writers and other instances: a row a writer adds
    /// meanwhile is not seen, so not deleted; a row two folds both try to delete is deleted and
    /// summed by one of them.
    pub async fn fold_user_counts(&self, now_ms: i64) -> DomainResult<u64> {
        if !matches!(self.pool, Pool::Postgres(_)) {
            return Ok(0);
        }
        let last = LAST_FOLD.load(Ordering::Relaxed);
        if now_ms - last < FOLD_EVERY_MS
            || LAST_FOLD.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return Ok(0);
        }
        self.fold_counts_above(FOLD_ABOVE).await
    }

    /// Folds every tenant's rows now, however few and however recently it ran (PostgreSQL).
    pub async fn fold_all_user_counts(&self) -> DomainResult<u64> {
        self.fold_counts_above(0).await
    }

    async fn fold_counts_above(&self, above: i64) -> DomainResult<u64> {
        let Pool::Postgres(p) = &self.pool else { return Ok(0) };
        let mut folded = 0;
        // Each table of differences, with the columns its counts are kept by.
        for (table, keys) in [
            ("user_counts", "tenant_id, source, active"),
            ("unassigned_counts", "tenant_id"),
            ("role_counts", "tenant_id, role"),
            ("user_group_sizes", "tenant_id, group_id"),
        ] {
            let done = sqlx::query(&format!(
                "WITH many AS (SELECT tenant_id FROM {table} GROUP BY tenant_id HAVING COUNT(*) > $1), \
                 gone AS (DELETE FROM {table} WHERE tenant_id IN (SELECT tenant_id FROM many) \
                          RETURNING {keys}, users) \
                 INSERT INTO {table} ({keys}, users) \
                 SELECT {keys}, SUM(users) FROM gone GROUP BY {keys} HAVING SUM(users) <> 0"
            ))
            .bind(above)
            .execute(p)
            .await?;
            folded += done.rows_affected();
        }
        Ok(folded)
    }
}

#[cfg(test)]
mod tests {
    use super::UserCounts;

    #[test]
    fn counts_sum_by_source_and_active() {
        let c = UserCounts {
            rows: vec![
                ("scim".into(), true, 5),
                ("scim".into(), false, 2),
                ("jit".into(), true, 3),
                ("manual".into(), true, 1),
                ("manual".into(), false, 4),
            ],
        };
        assert_eq!(c.all(), 15);
        assert_eq!(c.scim_visible(), 10);
        assert_eq!(c.with_active(false), 6);
        assert_eq!(c.of_source("manual"), 5);
        assert_eq!(c.of_source("jit"), 3);
        assert_eq!(UserCounts::default().all(), 0);
    }
}
