//! A tenant's SCIM groups and their members (users and nested groups).

use std::collections::HashMap;

use sqlx::Row;

use super::direct::DbRow;
use super::filter_sql::{Arg, Sql};
use super::query::{bind_all, json_in, page_query, Page, Query};
use super::tx::{with_tx, TenantTx};
use super::with_scan;
use super::{with_pool, TenantStore};
use crate::error::DomainResult;

/// A stored group (the SCIM resource is `data` plus id, meta and members).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRow {
    /// The SCIM id.
    pub id: String,
    /// displayName.
    pub display_name: String,
    /// The canonical resource without id/meta/members, as JSON text.
    pub data: String,
    /// The ETag version.
    pub version: i64,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

/// The indexed columns of a group.
#[derive(Clone, Debug)]
pub struct GroupColumns {
    /// displayName.
    pub display_name: String,
    /// displayName, ASCII-lower-cased.
    pub display_name_norm: String,
    /// externalId.
    pub external_id: Option<String>,
}

/// One member of a group, as the resource shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    /// The member's id.
    pub id: String,
    /// `User` or `Group`.
    pub kind: String,
    /// Its displayName (or userName).
    pub display: Option<String>,
}

impl TenantTx<'_> {
    /// Inserts a group with its members.
    pub async fn insert_group(
        &mut self,
        id: &str,
        cols: &GroupColumns,
        data: &str,
        members: &[(String, String)],
        now_ms: i64,
    ) -> DomainResult<()> {
        let sql = format!(
            "INSERT INTO scim_groups (tenant_id, id, display_name, display_name_norm, external_id, data, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, {}, 1, $7, $7)",
            json_in(self.backend(), 6)
        );
        let tenant = self.id.as_str();
        with_tx!(self, |c| sqlx::query(&sql)
            .bind(tenant)
            .bind(id)
            .bind(&cols.display_name)
            .bind(&cols.display_name_norm)
            .bind(&cols.external_id)
            .bind(data)
            .bind(now_ms)
            .execute(c)
            .await
            .map(|_| ()))?;
        self.add_members(id, members, now_ms).await
    }

    /// Adds members to a group (an existing membership is kept as is).
    pub async fn add_members(&mut self, group: &str, members: &[(String, String)], now_ms: i64) -> DomainResult<()> {
        let tenant = self.id.as_str();
        with_tx!(self, |c| {
            for (member, kind) in members {
                sqlx::query(
                    "INSERT INTO scim_group_members (tenant_id, group_id, member_id, member_type, added_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(tenant)
                .bind(group)
                .bind(member)
                .bind(kind)
                .bind(now_ms)
                .execute(&mut *c)
                .await?;
            }
            DomainResult::Ok(())
        })
    }

    /// Takes members out of a group, row by row (so concurrent changes never lose a member).
    pub async fn remove_members(&mut self, group: &str, members: &[String]) -> DomainResult<()> {
        let tenant = self.id.as_str();
        with_tx!(self, |c| {
            for member in members {
                sqlx::query("DELETE FROM scim_group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3")
                    .bind(tenant)
                    .bind(group)
                    .bind(member)
                    .execute(&mut *c)
                    .await?;
            }
            DomainResult::Ok(())
        })
    }

    /// Replaces all members of a group.
    pub async fn replace_members(
        &mut self,
        group: &str,
        members: &[(String, String)],
        now_ms: i64,
    ) -> DomainResult<()> {
        let tenant = self.id.as_str();
        with_tx!(self, |c| sqlx::query("DELETE FROM scim_group_members WHERE tenant_id = $1 AND group_id = $2")
            .bind(tenant)
            .bind(group)
            .execute(c)
            .await
            .map(|_| ()))?;
        self.add_members(group, members, now_ms).await
    }

    /// The ids of a group's direct members (users and groups), as this transaction sees them.
    pub async fn member_ids(&mut self, group: &str) -> DomainResult<Vec<String>> {
        let tenant = self.id.as_str();
        let ids = with_tx!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT member_id FROM scim_group_members WHERE tenant_id = $1 AND group_id = $2"
        )
        .bind(tenant)
        .bind(group)
        .fetch_all(c)
        .await)?;
        Ok(ids)
    }

    /// Which of `ids` are members of `group` now, as this transaction sees it.
    pub async fn members_among(&mut self, group: &str, ids: &[String]) -> DomainResult<Vec<String>> {
        let tenant = self.id.as_str();
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT member_id FROM scim_group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id IN ({})",
                super::placeholders(3, chunk.len())
            );
            let found: Vec<String> = with_tx!(self, |c| {
                let mut q = sqlx::query_scalar::<_, String>(&sql).bind(tenant).bind(group);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            out.extend(found);
        }
        Ok(out)
    }

    /// Writes a group's attributes if it is still at `expected_version` (when given); returns
    /// whether it was written (not when the group is gone or changed meanwhile).
    pub async fn update_group(
        &mut self,
        id: &str,
        cols: &GroupColumns,
        data: &str,
        expected_version: Option<i64>,
        now_ms: i64,
    ) -> DomainResult<bool> {
        let sql = format!(
            "UPDATE scim_groups SET display_name = $1, display_name_norm = $2, external_id = $3, data = {}, version = version + 1, updated_at = $5 \
             WHERE tenant_id = $6 AND id = $7 AND ($8 < 0 OR version = $8)",
            json_in(self.backend(), 4)
        );
        let tenant = self.id.as_str();
        let n = with_tx!(self, |c| sqlx::query(&sql)
            .bind(&cols.display_name)
            .bind(&cols.display_name_norm)
            .bind(&cols.external_id)
            .bind(data)
            .bind(now_ms)
            .bind(tenant)
            .bind(id)
            .bind(expected_version.unwrap_or(-1))
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Deletes a group, its members, and its memberships in other groups; returns whether it
    /// existed.
    pub async fn delete_group(&mut self, id: &str) -> DomainResult<bool> {
        let tenant = self.id.as_str();
        let n = with_tx!(self, |c| {
            sqlx::query("DELETE FROM scim_group_members WHERE tenant_id = $1 AND (group_id = $2 OR member_id = $2)")
                .bind(tenant)
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM scim_groups WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }
}

impl TenantStore<'_> {
    fn group_select(&self) -> String {
        format!(
            "SELECT t.id, t.display_name, {}, t.version, t.created_at, t.updated_at FROM scim_groups t",
            self.data_out()
        )
    }

    /// A group by id.
    pub async fn group(&self, id: &str) -> DomainResult<Option<GroupRow>> {
        let sql = format!("{} WHERE t.tenant_id = $1 AND t.id = $2", self.group_select());
        super::with_read!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(p).await?;
            row.as_ref().map(group_from_row).transpose()
        })
    }

    /// Groups matching a compiled query.
    pub(crate) async fn query_groups(&self, q: Query) -> DomainResult<Page<GroupRow>> {
        let cols = format!("t.id, t.display_name, {}, t.version, t.created_at, t.updated_at", super::query::data_raw());
        page_query!(self, q, "scim_groups", "", cols, group_from_row, None)
    }

    /// The members of groups, with display names.
    pub async fn members_of(&self, group_ids: &[String]) -> DomainResult<HashMap<String, Vec<MemberRow>>> {
        let mut out: HashMap<String, Vec<MemberRow>> = HashMap::new();
        if group_ids.is_empty() {
            return Ok(out);
        }
        let placeholders: Vec<String> = (0..group_ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT m.group_id, m.member_id, m.member_type, COALESCE(g.display_name, u.user_name) AS display \
             FROM scim_group_members m \
             LEFT JOIN scim_users u ON m.member_type = 'User' AND u.tenant_id = m.tenant_id AND u.id = m.member_id \
             LEFT JOIN scim_groups g ON m.member_type = 'Group' AND g.tenant_id = m.tenant_id AND g.id = m.member_id \
             WHERE m.tenant_id = $1 AND m.group_id IN ({}) ORDER BY m.group_id, m.added_at, m.member_id",
            placeholders.join(", ")
        );
        with_pool!(self.store, |p| {
            let mut q = sqlx::query(&sql).bind(self.id.as_str());
            for id in group_ids {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(p).await? {
                let group: String = r.try_get("group_id")?;
                out.entry(group).or_default().push(MemberRow {
                    id: r.try_get("member_id")?,
                    kind: r.try_get("member_type")?,
                    display: r.try_get("display")?,
                });
            }
            DomainResult::Ok(())
        })?;
        Ok(out)
    }

    /// Which of these ids are users or groups of this tenant (manual users included: an admin
    /// may want them in IdP groups too).
    pub async fn resource_kinds(&self, ids: &[String]) -> DomainResult<HashMap<String, String>> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
        let list = placeholders.join(", ");
        let sql = format!(
            "SELECT id, 'User' AS kind FROM scim_users WHERE tenant_id = $1 AND id IN ({list}) \
             UNION ALL SELECT id, 'Group' AS kind FROM scim_groups WHERE tenant_id = $1 AND id IN ({list})"
        );
        // Point lookups by key (at most a chunk of ids): in place on SQLite.
        super::with_read!(self.store, |p| {
            let mut q = sqlx::query(&sql).bind(self.id.as_str());
            for id in ids {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(p).await? {
                out.insert(DbRow::get::<String>(&r, "id")?, DbRow::get::<String>(&r, "kind")?);
            }
            DomainResult::Ok(())
        })?;
        Ok(out)
    }
}

fn group_from_row<R: super::direct::DbRow>(row: &R) -> DomainResult<GroupRow> {
    Ok(GroupRow {
        id: row.get("id")?,
        display_name: row.get("display_name")?,
        data: row.get::<super::direct::JsonText>("data")?.0,
        version: row.get("version")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}
