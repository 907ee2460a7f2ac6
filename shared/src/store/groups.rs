//! A tenant's SCIM groups and their members (users and nested groups).

use std::collections::HashMap;

use sqlx::Row;

use super::filter_sql::{Arg, Sql};
use super::mappings::{lock_placement, place_touched, Planner};
use super::query::{bind_all, page_query, Page, Query};
use super::scans::ScanConnection;
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

/// Adds members to a group inside a transaction (an existing membership is kept as is).
macro_rules! insert_members {
    ($tx:ident, $tenant:expr, $group:expr, $members:expr, $now:expr) => {
        for (member, kind) in $members {
            sqlx::query(
                "INSERT INTO scim_group_members (tenant_id, group_id, member_id, member_type, added_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind($tenant)
            .bind($group)
            .bind(member)
            .bind(kind)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        }
    };
}

impl TenantStore<'_> {
    /// Inserts a group with its members in one transaction.
    pub async fn insert_group(
        &self,
        id: &str,
        cols: &GroupColumns,
        data: &str,
        members: &[(String, String)],
        now_ms: i64,
        planner: Option<Planner<'_>>,
    ) -> DomainResult<()> {
        let touched: Vec<String> = members.iter().map(|(m, _)| m.clone()).collect();
        let data_out = self.data_out();
        let sql = format!(
            "INSERT INTO scim_groups (tenant_id, id, display_name, display_name_norm, external_id, data, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, {}, 1, $7, $7)",
            self.json_in(6)
        );
        with_pool!(self.store, |p| {
            let mut tx = p.begin().await?;
            lock_placement!(tx, self.store, self.id.as_str(), planner.is_some());
            sqlx::query(&sql)
                .bind(self.id.as_str())
                .bind(id)
                .bind(&cols.display_name)
                .bind(&cols.display_name_norm)
                .bind(&cols.external_id)
                .bind(data)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            insert_members!(tx, self.id.as_str(), id, members, now_ms);
            place_touched!(tx, self.id.as_str(), data_out, planner, &touched, now_ms);
            tx.commit().await?;
            DomainResult::Ok(())
        })
    }

    fn group_select(&self) -> String {
        format!(
            "SELECT t.id, t.display_name, {}, t.version, t.created_at, t.updated_at FROM scim_groups t",
            self.data_out()
        )
    }

    /// A group by id.
    pub async fn group(&self, id: &str) -> DomainResult<Option<GroupRow>> {
        let sql = format!("{} WHERE t.tenant_id = $1 AND t.id = $2", self.group_select());
        with_pool!(self.store, |p| {
            let row = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(p).await?;
            row.as_ref().map(group_from_row).transpose()
        })
    }

    /// Writes a group's attributes and changes its members in one transaction, if the group is
    /// still at `expected_version` (when given). `members`: `None` leaves them, `Some` replaces
    /// them; `add`/`remove` change them row by row (so concurrent changes never lose a member).
    #[allow(clippy::too_many_arguments)]
    pub async fn update_group(
        &self,
        id: &str,
        cols: &GroupColumns,
        data: &str,
        expected_version: Option<i64>,
        replace_members: Option<&[(String, String)]>,
        add: &[(String, String)],
        remove: &[String],
        now_ms: i64,
        placement: Option<(Planner<'_>, &[String])>,
    ) -> DomainResult<bool> {
        let data_out = self.data_out();
        let (planner, touched) = match placement {
            Some((p, t)) => (Some(p), t),
            None => (None, &[][..]),
        };
        let sql = format!(
            "UPDATE scim_groups SET display_name = $1, display_name_norm = $2, external_id = $3, data = {}, version = version + 1, updated_at = $5 \
             WHERE tenant_id = $6 AND id = $7 AND ($8 < 0 OR version = $8)",
            self.json_in(4)
        );
        with_pool!(self.store, |p| {
            let mut tx = p.begin().await?;
            lock_placement!(tx, self.store, self.id.as_str(), planner.is_some());
            let n = sqlx::query(&sql)
                .bind(&cols.display_name)
                .bind(&cols.display_name_norm)
                .bind(&cols.external_id)
                .bind(data)
                .bind(now_ms)
                .bind(self.id.as_str())
                .bind(id)
                .bind(expected_version.unwrap_or(-1))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                tx.rollback().await?;
                return DomainResult::Ok(false);
            }
            if let Some(members) = replace_members {
                sqlx::query("DELETE FROM scim_group_members WHERE tenant_id = $1 AND group_id = $2")
                    .bind(self.id.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                insert_members!(tx, self.id.as_str(), id, members, now_ms);
            }
            for member in remove {
                sqlx::query("DELETE FROM scim_group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3")
                    .bind(self.id.as_str())
                    .bind(id)
                    .bind(member)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_members!(tx, self.id.as_str(), id, add, now_ms);
            place_touched!(tx, self.id.as_str(), data_out, planner, touched, now_ms);
            tx.commit().await?;
            DomainResult::Ok(true)
        })
    }

    /// Deletes a group, its members, and its memberships in other groups.
    pub async fn delete_group(&self, id: &str, placement: Option<(Planner<'_>, &[String])>) -> DomainResult<bool> {
        let data_out = self.data_out();
        let (planner, touched) = match placement {
            Some((p, t)) => (Some(p), t),
            None => (None, &[][..]),
        };
        with_pool!(self.store, |p| {
            let mut tx = p.begin().await?;
            lock_placement!(tx, self.store, self.id.as_str(), planner.is_some());
            sqlx::query("DELETE FROM scim_group_members WHERE tenant_id = $1 AND (group_id = $2 OR member_id = $2)")
                .bind(self.id.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM scim_groups WHERE tenant_id = $1 AND id = $2")
                .bind(self.id.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            place_touched!(tx, self.id.as_str(), data_out, planner, touched, crate::clock::now_ms());
            tx.commit().await?;
            DomainResult::Ok(n > 0)
        })
    }

    /// Groups matching a compiled query.
    pub(crate) async fn query_groups(&self, q: Query) -> DomainResult<Page<GroupRow>> {
        let cols = format!("t.id, t.display_name, {}, t.version, t.created_at, t.updated_at", self.data_out());
        page_query!(self, q, "scim_groups", "", cols, group_from_row)
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
        with_pool!(self.store, |p| {
            let mut q = sqlx::query(&sql).bind(self.id.as_str());
            for id in ids {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(p).await? {
                out.insert(r.try_get::<String, _>("id")?, r.try_get::<String, _>("kind")?);
            }
            DomainResult::Ok(())
        })?;
        Ok(out)
    }
}

fn group_from_row<R>(row: &R) -> DomainResult<GroupRow>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(GroupRow {
        id: row.try_get("id")?,
        display_name: row.try_get("display_name")?,
        data: row.try_get("data")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
