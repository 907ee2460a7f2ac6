//! The platform's user groups and their memberships.
//!
//! A membership row says why the user is in the group (`admin`, `rule`, `default`); a user is in
//! a group while any of its rows exists. Rows are only ever written for users of the same
//! tenant: the inserts select the user ids from `scim_users` of this tenant, so an id from
//! another tenant adds nothing.

use sqlx::Row;

use super::tx::{with_tx, TenantTx};
use super::{placeholders, unique_violation, with_pool, TenantStore, Unique};
use crate::error::{DomainError, DomainResult, Taken};

/// A stored user group with its member count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserGroupRecord {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// `admin`, `member` or `viewer`.
    pub role: String,
    /// The tenant's default group.
    pub is_default: bool,
    /// Distinct users in it.
    pub member_count: i64,
    /// Its seat limit, if any.
    pub seat_limit: Option<i64>,
    /// Epoch ms.
    pub created_at: i64,
}

/// One membership row, with the group's name and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipRecord {
    /// The user.
    pub user_id: String,
    /// The group.
    pub group_id: String,
    /// The group's name.
    pub group_name: String,
    /// The group's role.
    pub role: String,
    /// `admin`, `rule` or `default`.
    pub reason: String,
    /// The rule, for `rule` ('' otherwise).
    pub rule_id: String,
    /// Who added it.
    pub added_by: Option<String>,
    /// Epoch ms.
    pub added_at: i64,
}

const GROUP_COLUMNS: &str = "g.id, g.name, g.description, g.role, g.is_default, g.created_at, g.seat_limit, \
     (SELECT CAST(COALESCE(SUM(s.users), 0) AS BIGINT) FROM user_group_sizes s WHERE s.tenant_id = g.tenant_id AND s.group_id = g.id) AS member_count";

fn group_from_row<R>(row: &R) -> DomainResult<UserGroupRecord>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(UserGroupRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        role: row.try_get("role")?,
        is_default: row.try_get("is_default")?,
        member_count: row.try_get("member_count")?,
        seat_limit: row.try_get("seat_limit")?,
        created_at: row.try_get("created_at")?,
    })
}

fn map_name_conflict(e: sqlx::Error) -> DomainError {
    match unique_violation(&e) {
        Some(Unique::UserGroupName) => DomainError::Taken(Taken::UserGroupName),
        _ => e.into(),
    }
}

impl TenantTx<'_> {
    /// Every user group's name, by id.
    pub async fn user_group_names(&mut self) -> DomainResult<std::collections::HashMap<String, String>> {
        let tenant = self.id.as_str();
        let rows: Vec<(String, String)> = with_tx!(self, |c| {
            sqlx::query_as("SELECT id, name FROM user_groups WHERE tenant_id = $1").bind(tenant).fetch_all(c).await
        })?;
        Ok(rows.into_iter().collect())
    }

    /// Creates a user group; `Taken` if the name is taken.
    pub async fn insert_user_group(
        &mut self,
        id: &str,
        name: &str,
        description: &str,
        role: &str,
        now_ms: i64,
    ) -> DomainResult<()> {
        with_tx!(self, |c| {
            sqlx::query(
                "INSERT INTO user_groups (tenant_id, id, name, name_norm, description, role, is_default, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7, $7)",
            )
            .bind(self.id.as_str())
            .bind(id)
            .bind(name)
            .bind(super::fold_ascii(name))
            .bind(description)
            .bind(role)
            .bind(now_ms)
            .execute(&mut *c)
            .await
            .map(|_| ())
        })
        .map_err(map_name_conflict)
    }

    /// Renames, describes or re-roles a user group; returns whether it exists.
    pub async fn update_user_group(
        &mut self,
        id: &str,
        name: &str,
        description: &str,
        role: &str,
        now_ms: i64,
    ) -> DomainResult<bool> {
        let n = with_tx!(self, |c| {
            sqlx::query(
                "UPDATE user_groups SET name = $1, name_norm = $2, description = $3, role = $4, updated_at = $5 \
                 WHERE tenant_id = $6 AND id = $7",
            )
            .bind(name)
            .bind(super::fold_ascii(name))
            .bind(description)
            .bind(role)
            .bind(now_ms)
            .bind(self.id.as_str())
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(map_name_conflict)?;
        Ok(n > 0)
    }

    /// Deletes a user group and its memberships; returns whether it existed.
    pub async fn delete_user_group(&mut self, id: &str) -> DomainResult<bool> {
        with_tx!(self, |c| {
            sqlx::query("DELETE FROM user_group_members WHERE tenant_id = $1 AND group_id = $2")
                .bind(self.id.as_str())
                .bind(id)
                .execute(&mut *c)
                .await?;
            let n = sqlx::query("DELETE FROM user_groups WHERE tenant_id = $1 AND id = $2")
                .bind(self.id.as_str())
                .bind(id)
                .execute(&mut *c)
                .await?
                .rows_affected();
            DomainResult::Ok(n > 0)
        })
    }

    /// Makes `id` the default user group (or none); returns false if `id` is not a group here
    /// (then the transaction must not be committed: the old default was cleared).
    pub async fn set_default_user_group(&mut self, id: Option<&str>, now_ms: i64) -> DomainResult<bool> {
        with_tx!(self, |c| {
            sqlx::query(
                "UPDATE user_groups SET is_default = FALSE, updated_at = $1 WHERE tenant_id = $2 AND is_default",
            )
            .bind(now_ms)
            .bind(self.id.as_str())
            .execute(&mut *c)
            .await?;
            let ok =
                match id {
                    Some(id) => sqlx::query(
                        "UPDATE user_groups SET is_default = TRUE, updated_at = $1 WHERE tenant_id = $2 AND id = $3",
                    )
                    .bind(now_ms)
                    .bind(self.id.as_str())
                    .bind(id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected()
                        > 0,
                    None => true,
                };
            DomainResult::Ok(ok)
        })
    }

    /// Adds users (of this tenant; other ids are skipped) to a group for `reason`; returns how
    /// many rows were added (an existing row is kept).
    pub async fn add_user_group_members(
        &mut self,
        group_id: &str,
        user_ids: &[String],
        reason: &str,
        rule_id: &str,
        added_by: Option<&str>,
        now_ms: i64,
    ) -> DomainResult<u64> {
        let mut added = 0;
        for chunk in user_ids.chunks(500) {
            let sql = format!(
                "INSERT INTO user_group_members (tenant_id, group_id, user_id, reason, rule_id, added_by, added_at) \
                 SELECT $1, $2, u.id, $3, $4, $5, $6 FROM scim_users u WHERE u.tenant_id = $1 AND u.id IN ({}) \
                 ON CONFLICT DO NOTHING",
                placeholders(7, chunk.len())
            );
            added += with_tx!(self, |c| {
                let mut q = sqlx::query(&sql)
                    .bind(self.id.as_str())
                    .bind(group_id)
                    .bind(reason)
                    .bind(rule_id)
                    .bind(added_by)
                    .bind(now_ms);
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(added)
    }

    /// Removes the `reason` rows of users from a group; returns how many rows went.
    pub async fn remove_user_group_members(
        &mut self,
        group_id: &str,
        user_ids: &[String],
        reason: &str,
    ) -> DomainResult<u64> {
        let mut removed = 0;
        for chunk in user_ids.chunks(500) {
            let sql = format!(
                "DELETE FROM user_group_members WHERE tenant_id = $1 AND group_id = $2 AND reason = $3 AND user_id IN ({})",
                placeholders(4, chunk.len())
            );
            removed += with_tx!(self, |c| {
                let mut q = sqlx::query(&sql).bind(self.id.as_str()).bind(group_id).bind(reason);
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(&mut *c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(removed)
    }
}

impl TenantStore<'_> {
    /// Every user group, by name.
    pub async fn user_groups(&self) -> DomainResult<Vec<UserGroupRecord>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM user_groups g WHERE g.tenant_id = $1 ORDER BY g.name_norm");
        with_pool!(self.store, |p| {
            let rows = sqlx::query(&sql).bind(self.id.as_str()).fetch_all(p).await?;
            rows.iter().map(group_from_row).collect()
        })
    }

    /// One user group.
    pub async fn user_group(&self, id: &str) -> DomainResult<Option<UserGroupRecord>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM user_groups g WHERE g.tenant_id = $1 AND g.id = $2");
        with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(p).await?;
            row.as_ref().map(group_from_row).transpose()
        })
    }

    /// Every membership row of these users.
    pub async fn memberships_of_users(&self, user_ids: &[String]) -> DomainResult<Vec<MembershipRecord>> {
        let mut out = Vec::new();
        for chunk in user_ids.chunks(500) {
            let sql = format!(
                "SELECT m.user_id, m.group_id, g.name, g.role, m.reason, m.rule_id, m.added_by, m.added_at \
                 FROM user_group_members m JOIN user_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
                 WHERE m.tenant_id = $1 AND m.user_id IN ({}) ORDER BY g.name_norm, m.added_at",
                placeholders(2, chunk.len())
            );
            let rows = with_pool!(self.store, |p| {
                let mut q = sqlx::query(&sql).bind(self.id.as_str());
                for id in chunk {
                    q = q.bind(id);
                }
                let rows = q.fetch_all(p).await?;
                rows.iter()
                    .map(|r| {
                        Ok(MembershipRecord {
                            user_id: r.try_get("user_id")?,
                            group_id: r.try_get("group_id")?,
                            group_name: r.try_get("name")?,
                            role: r.try_get("role")?,
                            reason: r.try_get("reason")?,
                            rule_id: r.try_get("rule_id")?,
                            added_by: r.try_get("added_by")?,
                            added_at: r.try_get("added_at")?,
                        })
                    })
                    .collect::<DomainResult<Vec<_>>>()
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Which of these ids are users of this tenant.
    pub async fn existing_user_ids(&self, user_ids: &[String]) -> DomainResult<Vec<String>> {
        let mut out = Vec::new();
        for chunk in user_ids.chunks(500) {
            let sql =
                format!("SELECT id FROM scim_users WHERE tenant_id = $1 AND id IN ({})", placeholders(2, chunk.len()));
            let ids: Vec<String> = with_pool!(self.store, |p| {
                let mut q = sqlx::query_scalar::<_, String>(&sql).bind(self.id.as_str());
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await
            })?;
            out.extend(ids);
        }
        Ok(out)
    }

    /// Which of these normalized userNames are taken in this tenant.
    pub async fn existing_user_names(&self, norms: &[String]) -> DomainResult<Vec<String>> {
        let mut out = Vec::new();
        for chunk in norms.chunks(500) {
            let sql = format!(
                "SELECT user_name_norm FROM scim_users WHERE tenant_id = $1 AND user_name_norm IN ({})",
                placeholders(2, chunk.len())
            );
            let found: Vec<String> = with_pool!(self.store, |p| {
                let mut q = sqlx::query_scalar::<_, String>(&sql).bind(self.id.as_str());
                for n in chunk {
                    q = q.bind(n);
                }
                q.fetch_all(p).await
            })?;
            out.extend(found);
        }
        Ok(out)
    }
}
