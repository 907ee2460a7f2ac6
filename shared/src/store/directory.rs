//! The dashboard's users table: search, filters, sort and pages over a tenant's users (every
//! source), with the counts the navigation shows.
//!
//! Search is a case-insensitive substring match on one column, `search_text` (userName, names,
//! primary email and externalId, folded and joined when the user is written), through a trigram
//! index: SQLite's FTS5 `trigram` tokenizer (table `scim_users_fts`, external content,
//! `detail=none`: 53 MB at a million users where positions took 222 MB) and PostgreSQL's
//! `pg_trgm` GIN index. On SQLite the writes' triggers queue the index's changes, which are
//! applied in bulk about once a second ([`super::Store::move_search_index`], migration 0039:
//! FTS5 writes a new segment per transaction, which each write paid for); a search takes the
//! index's candidates among the rows with nothing queued and every row with something queued
//! ([`search_candidates`]). Measured at a million users on SQLite: a term in 111 rows is found
//! in 1–3 ms where the scan of the tenant's rows took 300–400 ms. A term shorter than three
//! characters (`ab`) gives a trigram index nothing to look up; it scans as before. The index
//! only proposes rows: each is confirmed with the exact `LIKE` on its own row, so what matches
//! is what matched before the index. (The FTS5 index is keyed by
//! `scim_users`' implicit rowid; SQLite's `VACUUM` and `VACUUM INTO`, which backups use, keep
//! rowids on this build: a unit test checks it.)
//!
//! A broad term (`example.com`) matches most of the tenant, and counting every match costs a
//! pass over them all (1.1–1.4 s at a million), so a search counts up to [`COUNT_CAP`] matches
//! (or the page being read, if further) and says when there are more. Sorting uses
//! `(tenant_id, sort_name, id)`-style indexes. The unassigned users (active, in no user group)
//! are kept by the writes (`user_assignment`, with a partial index on the unassigned, and their
//! count in `unassigned_counts`: migration 0028): counted from the memberships, they cost a pass
//! over every membership, about a second at a million users when most are assigned. So are
//! each user's role (the highest of its user groups') and each role's and user group's number
//! of users (migration 0029): a filter by one role or one user group takes its total from
//! there, and its page tests the kept role, instead of counting every member (3.1 s for a user
//! group everyone is in at a million users on PostgreSQL, 7.0 s for the role nearly everyone
//! has, which tested each user's memberships twice).

use sqlx::Row;

use super::{with_pool, Backend, TenantStore, UserCounts};
use crate::dto::{GroupRole, UserFilter, UserQuery, UserSort};
use crate::error::DomainResult;

/// One user as the users table needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryRow {
    /// The id.
    pub id: String,
    /// userName.
    pub user_name: String,
    /// `scim`, `jit` or `manual`.
    pub source: String,
    /// Active.
    pub active: bool,
    /// The stored resource (JSON text).
    pub data: String,
    /// The version.
    pub version: i64,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

/// A page of the users table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryPage {
    /// The matches counted (all of them unless `capped`).
    pub total: i64,
    /// More match than `total` (a search counts up to [`COUNT_CAP`]).
    pub capped: bool,
    /// The page.
    pub rows: Vec<DirectoryRow>,
}

/// A row's place in the users table's order (its sort column's value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// userName or name (folded).
    Text(String),
    /// Created or updated (epoch ms).
    Int(i64),
}

const SEARCH_CLAUSE: &str = " AND t.search_text LIKE $2 ESCAPE '\\'";

/// Up to this many matches, a search reads only the matching rows (see `directory_page`).
const SELECTIVE: i64 = 5000;

/// A search counts its matches up to this many (see the module doc).
pub const COUNT_CAP: i64 = 10_000;

fn row<R>(r: &R) -> DomainResult<DirectoryRow>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(DirectoryRow {
        id: r.try_get("id")?,
        user_name: r.try_get("user_name")?,
        source: r.try_get("source")?,
        active: r.try_get("active")?,
        data: r.try_get("data")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// `%text%`, folded and with LIKE's wildcards escaped (for `LIKE … ESCAPE '\'`).
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in super::fold_ascii(s).chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The join from a materialized list of keys to their rows. SQLite's planner (3.46, without
/// statistics) otherwise walks the tenant's sort index and probes the list for each row (the
/// deactivated filter took 311 ms at a million users); `CROSS JOIN` keeps the list outside.
fn keys_first(sqlite: bool) -> &'static str {
    if sqlite {
        "CROSS JOIN"
    } else {
        "JOIN"
    }
}

/// From this offset on, a page of everyone reads its keys first (see `directory_page`).
const DEEP_PAGE: i64 = 1000;

/// The column of `scim_users` a sort orders by (ties broken by `id`).
fn sort_column(sort: UserSort) -> &'static str {
    match sort {
        UserSort::UserName => "user_name_norm",
        UserSort::Name => "sort_name",
        UserSort::Created => "created_at",
        UserSort::Updated => "updated_at",
    }
}

/// Where a walk of the users table in its order reads: the `FROM` (with `scim_users t`), the
/// alias of the table whose index gives the order, that order's sort key and tie-breaking id
/// there, and where a deep page finds its keys (each order's index holds them).
struct Walk {
    from: &'static str,
    alias: &'static str,
    key: &'static str,
    id: &'static str,
    /// The sort index's table, the key it holds (selected as `k`), and the column of
    /// `scim_users` that key is.
    deep: (&'static str, &'static str, &'static str),
}

impl Walk {
    /// On PostgreSQL the order of last change is kept in `user_updated` (migration 0033), so
    /// that a user's row has no index on `updated_at` and most of its updates are HOT: that
    /// order walks `user_updated_order` and reads each row by key. `w.updated_at` is
    /// `t.updated_at` (the same transaction writes both), so `users_order` sorts the rows alike.
    fn of(sort: UserSort, sqlite: bool) -> Walk {
        if sort == UserSort::Updated && !sqlite {
            // user_updated_order (tenant_id, updated_at, user_id).
            return Walk {
                from: "user_updated w JOIN scim_users t ON t.tenant_id = w.tenant_id AND t.id = w.user_id",
                alias: "w",
                key: "updated_at",
                id: "user_id",
                deep: ("user_updated", "user_id", "id"),
            };
        }
        let key = sort_column(sort);
        // The unique (tenant_id, user_name_norm) holds the user name; (tenant_id, sort_name,
        // id), (tenant_id, created_at, id) and on SQLite (tenant_id, updated_at, id) (migration
        // 0033) hold the id.
        let deep = if sort == UserSort::UserName { ("scim_users", key, key) } else { ("scim_users", "id", "id") };
        Walk { from: "scim_users t", alias: "t", key, id: "id", deep }
    }

    /// A column of the walked table, as the walk's `FROM` names it.
    fn column(&self, name: &str) -> String {
        format!("{}.{name}", self.alias)
    }

    /// The walk's `ORDER BY` over the walked table aliased `alias`.
    fn order(&self, alias: &str, descending: bool) -> String {
        let dir = if descending { "DESC" } else { "ASC" };
        format!("{alias}.{} {dir}, {alias}.{} {dir}", self.key, self.id)
    }

    /// A deep page's keys from the sort index alone: `SELECT s.… AS k` of tenant `$1` in the
    /// walk's order (the caller cuts it), and the column of `scim_users` the key is.
    fn deep_page_keys(&self, descending: bool) -> (String, &'static str) {
        let (table, key, column) = self.deep;
        let order = self.order("s", descending);
        (format!("SELECT s.{key} AS k FROM {table} s WHERE s.tenant_id = $1 ORDER BY {order}"), column)
    }
}

/// Where a sparse filter's users are found on their partial index (migrations 0026, 0028): the
/// `FROM … WHERE …` of a query selecting `s.id` for tenant `$1`, written so that both planners
/// see it implies the index's condition.
fn sparse_filter(filter: UserFilter, sqlite: bool) -> Option<String> {
    let on_users = |cond: &str| format!("FROM scim_users s WHERE s.tenant_id = $1 AND {cond}");
    match filter {
        UserFilter::Deactivated => Some(on_users("s.active = FALSE")),
        UserFilter::Jit => Some(on_users("s.source <> 'scim' AND s.source = 'jit'")),
        UserFilter::Manual => Some(on_users("s.source <> 'scim' AND s.source = 'manual'")),
        // The unassigned users' ids first, then their rows by key: SQLite, without statistics,
        // walked the whole tenant's sort index and tested each id against the list.
        UserFilter::Unassigned if sqlite => Some(
            "FROM user_assignment a INDEXED BY user_assignment_unassigned CROSS JOIN scim_users s \
             ON s.tenant_id = a.tenant_id AND s.id = a.user_id WHERE a.tenant_id = $1 AND a.unassigned"
                .into(),
        ),
        // PostgreSQL, on statistics taken while everyone was unassigned (a first import, before
        // a default group placed them), walked the sort index of every user and looked each up
        // in user_assignment: 4.5 s at a million users. Each `OFFSET 0` keeps its subquery whole,
        // so the ids come first and each row is then read by key (a lateral join is a nested
        // loop), whatever the statistics say.
        UserFilter::Unassigned => Some(
            "FROM (SELECT a.user_id FROM user_assignment a WHERE a.tenant_id = $1 AND a.unassigned OFFSET 0) a \
             CROSS JOIN LATERAL (SELECT s.id, s.user_name_norm, s.sort_name, s.created_at, s.updated_at \
             FROM scim_users s WHERE s.tenant_id = $1 AND s.id = a.user_id OFFSET 0) s WHERE TRUE"
                .into(),
        ),
        UserFilter::All | UserFilter::Scim => None,
    }
}

/// The users table's `ORDER BY` over `scim_users t`.
pub fn users_order(sort: UserSort, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    format!("t.{} {dir}, t.id {dir}", sort_column(sort))
}

/// A page (`columns` of `scim_users t` in `order`, see [`users_order`]) of a sparse filter's
/// users, found on their partial index (0026, 0028), for tenant `$1`; `None` for a filter
/// that is not sparse. The page's keys are sorted and cut inside (the matches are few), so
/// that the outer query joins only the page: given all the matches, PostgreSQL's planner
/// walked the sort index instead (131 ms at 100,000 users).
pub fn sparse_page_sql(
    filter: UserFilter,
    order: &str,
    columns: &str,
    offset: i64,
    limit: i64,
    sqlite: bool,
) -> Option<String> {
    let sparse = sparse_filter(filter, sqlite)?;
    // On SQLite a unary `+` keeps the sort index from serving the ORDER BY (it walked the
    // whole tenant for the LIMIT, 259 ms at a million users): the partial index finds the
    // rows, then they are sorted.
    let inner = order.replace("t.", if sqlite { "+s." } else { "s." });
    Some(format!(
        "WITH m AS MATERIALIZED (SELECT s.id {sparse} ORDER BY {inner} LIMIT {limit} OFFSET {offset}) \
         SELECT {columns} FROM m {} scim_users t ON t.tenant_id = $1 AND t.id = m.id ORDER BY {order}",
        keys_first(sqlite)
    ))
}

/// The query SQLite's trigram index is asked (FTS5 `MATCH`): every three consecutive characters
/// of the folded term, each a quoted string, all required — a superset of the exact match,
/// which each candidate's own row then confirms. `None` when the term is shorter than three
/// characters. `LIKE` is not used on the index: FTS5 tests a `LIKE` against the indexed column
/// itself, which it reads from `scim_users` — a row whose change is still queued (migration
/// 0039) is then not what was indexed, or gone (FTS5 reports the index corrupt). `MATCH` reads
/// the index alone; and `%` and `_` are plain characters in it, so they narrow the candidates
/// too. A window with a NUL character is left out (FTS5 reads its query as a C string: the NUL
/// would end it, "unterminated string"); asking for less still proposes every match.
pub(crate) fn trigram_query(term: &str) -> Option<String> {
    let folded: Vec<char> = super::fold_ascii(term).chars().collect();
    let mut grams: Vec<String> = folded.windows(3).filter(|w| !w.contains(&'\0')).map(|w| w.iter().collect()).collect();
    grams.sort_unstable();
    grams.dedup();
    (!grams.is_empty())
        .then(|| grams.iter().map(|g| format!("\"{}\"", g.replace('"', "\"\""))).collect::<Vec<_>>().join(" AND "))
}

/// The condition of a users-table query: SQL after `WHERE t.tenant_id = $1`, and its text
/// parameters from `$2` on.
fn condition(q: &UserQuery, default_role: Option<GroupRole>) -> (String, Vec<String>) {
    let (sql, args, _) = condition_and_members(q, default_role);
    (sql, args)
}

/// [`condition`], and for a filter by user group, IdP group or role, a query of the ids of the
/// users it can match, read from the memberships or the kept roles (`SELECT … AS id`, tenant
/// `$1`, the condition's parameters): where a sparse filter's page is read (and on SQLite, its
/// count). Tested on each user as it walked the sort index and counted, a user group of 20
/// took 1.9 s at 100,000 users on SQLite.
fn condition_and_members(q: &UserQuery, default_role: Option<GroupRole>) -> (String, Vec<String>, Option<String>) {
    let mut members = None;
    let mut sql = String::new();
    let mut args = Vec::new();
    let search = q.search.trim();
    if !search.is_empty() {
        args.push(like_escape(search));
        sql.push_str(SEARCH_CLAUSE);
    }
    if let Some(group) = q.user_group.as_deref() {
        args.push(group.to_string());
        members = Some(format!(
            "SELECT DISTINCT m.user_id AS id FROM user_group_members m WHERE m.tenant_id = $1 AND m.group_id = ${}",
            args.len() + 1
        ));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM user_group_members m WHERE m.tenant_id = t.tenant_id AND m.user_id = t.id AND m.group_id = ${})",
            args.len() + 1
        ));
    }
    if let Some(group) = q.idp_group.as_deref() {
        args.push(group.to_string());
        members = members.or(Some(format!(
            "SELECT DISTINCT gm.member_id AS id FROM scim_group_members gm WHERE gm.tenant_id = $1 \
             AND gm.member_type = 'User' AND gm.group_id = ${}",
            args.len() + 1
        )));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM scim_group_members gm WHERE gm.tenant_id = t.tenant_id AND gm.member_id = t.id \
             AND gm.member_type = 'User' AND gm.group_id = ${})",
            args.len() + 1
        ));
    }
    if let Some(role) = q.role {
        // The user's role as the writes keep it (migration 0029): the highest among its user
        // groups, NULL in none, where the organization's default role applies. The role is
        // written into the SQL (one of three names), so that each gets a plan of its own: a
        // role 20 users have is found on `user_assignment_role`, the role nearly everyone has
        // is tested on each row of the sort index's walk.
        let r = role.as_str();
        let clause = if default_role == Some(role) {
            format!("a.role = '{r}' OR a.role IS NULL")
        } else {
            members = members.or(Some(format!(
                "SELECT a.user_id AS id FROM user_assignment a WHERE a.tenant_id = $1 AND a.role = '{r}'"
            )));
            format!("a.role = '{r}'")
        };
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM user_assignment a WHERE a.tenant_id = t.tenant_id AND a.user_id = t.id AND ({clause}))"
        ));
    }
    match q.filter {
        UserFilter::All => {}
        UserFilter::Unassigned => sql.push_str(
            " AND EXISTS (SELECT 1 FROM user_assignment a WHERE a.tenant_id = t.tenant_id AND a.user_id = t.id AND a.unassigned)",
        ),
        UserFilter::Deactivated => sql.push_str(" AND t.active = FALSE"),
        UserFilter::Scim => sql.push_str(" AND t.source = 'scim'"),
        UserFilter::Jit => sql.push_str(" AND t.source = 'jit'"),
        UserFilter::Manual => sql.push_str(" AND t.source = 'manual'"),
    }
    (sql, args, members)
}

impl TenantStore<'_> {
    /// The default role, when a role filter needs it.
    async fn default_role_for(&self, q: &UserQuery) -> DomainResult<Option<GroupRole>> {
        if q.role.is_none() {
            return Ok(None);
        }
        Ok(self.default_role().await?.as_deref().and_then(GroupRole::parse))
    }

    /// The number of users matching `q` (without a search) as the writes keep it, where a kept
    /// count says it: a filter of the users' own columns alone, or one user group or one role
    /// alone (`default_role`: the organization's, which users in no user group have).
    async fn kept_total(
        &self,
        q: &UserQuery,
        default_role: Option<GroupRole>,
        counts: &UserCounts,
    ) -> DomainResult<Option<i64>> {
        Ok(match (q.user_group.as_deref(), q.role, q.idp_group.as_deref(), q.filter) {
            (None, None, None, UserFilter::All) => Some(counts.all()),
            (None, None, None, UserFilter::Deactivated) => Some(counts.with_active(false)),
            (None, None, None, UserFilter::Scim) => Some(counts.of_source("scim")),
            (None, None, None, UserFilter::Jit) => Some(counts.of_source("jit")),
            (None, None, None, UserFilter::Manual) => Some(counts.of_source("manual")),
            (None, None, None, UserFilter::Unassigned) => Some(self.unassigned_count().await?),
            (Some(group), None, None, UserFilter::All) => Some(self.user_group_size(group).await?),
            (None, Some(role), None, UserFilter::All) => Some(self.role_count(role, default_role == Some(role)).await?),
            _ => None,
        })
    }

    /// A page of the users table and the number of matches (counted unless the caller already
    /// knows it, as an export walking page after page does). A search counts up to
    /// [`COUNT_CAP`] matches, or to the end of this page if further: `capped` says more match.
    pub async fn directory_page(
        &self,
        q: &UserQuery,
        offset: i64,
        limit: i64,
        known_total: Option<i64>,
    ) -> DomainResult<DirectoryPage> {
        self.directory_page_counting(q, offset, limit, known_total, COUNT_CAP).await
    }

    /// [`Self::directory_page`], a search counting up to `count_cap` matches.
    async fn directory_page_counting(
        &self,
        q: &UserQuery,
        offset: i64,
        limit: i64,
        known_total: Option<i64>,
        count_cap: i64,
    ) -> DomainResult<DirectoryPage> {
        let default_role = self.default_role_for(q).await?;
        let (cond, mut args, members) = condition_and_members(q, default_role);
        let (offset, limit) = (offset.max(0), limit.max(0));
        let order = users_order(q.sort, q.descending);
        let search = q.search.trim();
        let searching = !search.is_empty();
        let sqlite = self.store.backend() == Backend::Sqlite;
        // On SQLite the trigram index is a table of its own that proposes candidate rows (joined
        // first: CROSS JOIN keeps that order); PostgreSQL's GIN index serves the LIKE itself.
        let fts = match (sqlite, searching.then(|| trigram_query(search)).flatten()) {
            (true, Some(pattern)) => {
                args.push(pattern);
                Some(search_candidates(args.len() + 1))
            }
            _ => None,
        };
        let from = match &fts {
            Some(candidates) => format!("{candidates} CROSS JOIN scim_users t ON t.rowid = f.r"),
            None => "scim_users t".to_string(),
        };
        let cap = count_cap.max(offset + limit);
        // The tenant's counts as the writes keep them, for any query without a search; a
        // filter of the users' own columns alone (`plain`) can read only its matches.
        let counts = if searching { None } else { Some(self.user_counts().await?) };
        let by_membership = q.user_group.is_some() || q.idp_group.is_some() || q.role.is_some();
        let plain = counts.is_some() && !by_membership;
        let known_total = match (known_total, &counts) {
            (Some(t), _) => Some(t),
            (None, Some(c)) => self.kept_total(q, default_role, c).await?,
            (None, None) => None,
        };
        // A filter by membership, without a search: its users are read from the memberships
        // (the `WITH`), then tested on the rest of the condition. Kept as the `WITH` naming them
        // and the `FROM … WHERE` that follows a `SELECT`. SQLite counts this way too, and reads
        // a page this way when the matches are few (see `prefer_matches`). PostgreSQL only reads
        // a page this way: given the members first it counted a user group of a million in
        // 7.0 s against 3.1 s for its semi-join. Its page needs this SQL of its own all the
        // same: with the user group a bound parameter, a connection that had filtered by a
        // large group five times kept the generic plan that walks the sort index testing each
        // user, and a group of 20 then took 11.2 s at a million users. Each row is read by key
        // in a lateral join (`OFFSET 0` keeps it whole), so no plan can walk the sort index.
        let members_first = members.filter(|_| !searching).map(|m| {
            let with = format!("WITH c AS MATERIALIZED ({m})");
            let from = if sqlite {
                format!("FROM c CROSS JOIN scim_users t ON t.tenant_id = $1 AND t.id = c.id WHERE TRUE{cond}")
            } else {
                format!(
                    "FROM c CROSS JOIN LATERAL (SELECT s.* FROM scim_users s WHERE s.tenant_id = $1 AND s.id = c.id OFFSET 0) t \
                     WHERE TRUE{cond}"
                )
            };
            (with, from)
        });
        let count_sql = if searching {
            format!("SELECT COUNT(*) FROM (SELECT 1 FROM {from} WHERE t.tenant_id = $1{cond} LIMIT {}) c", cap + 1)
        } else if let Some((with, from)) = members_first.as_ref().filter(|_| sqlite) {
            format!("{with} SELECT COUNT(*) {from}")
        } else {
            format!("SELECT COUNT(*) FROM scim_users t WHERE t.tenant_id = $1{cond}")
        };
        let data = self.data_out();
        let columns = format!("t.id, t.user_name, t.source, t.active, {data}, t.version, t.created_at, t.updated_at");
        let tail = format!("ORDER BY {order} LIMIT {limit} OFFSET {offset}");
        // Walking the sort index and testing each row stops early when many rows match.
        let walk = Walk::of(q.sort, sqlite);
        let walk_sql = if cond.is_empty() && offset >= DEEP_PAGE {
            // A deep page of everyone: the page's keys first, from the sort index alone (it
            // holds them), then only those rows, instead of reading every row skipped
            // (PostgreSQL read 25,000 rows from the heap for page 500).
            let (keys, column) = walk.deep_page_keys(q.descending);
            format!(
                "WITH p AS MATERIALIZED ({keys} LIMIT {limit} OFFSET {offset}) \
                 SELECT {columns} FROM p {} scim_users t ON t.tenant_id = $1 AND t.{column} = p.k ORDER BY {order}",
                keys_first(sqlite)
            )
        } else {
            format!(
                "SELECT {columns} FROM {} WHERE {} = $1{cond} ORDER BY {} LIMIT {limit} OFFSET {offset}",
                walk.from,
                walk.column("tenant_id"),
                walk.order(walk.alias, q.descending)
            )
        };
        // A selective search reads and sorts only the matching rows, found through the trigram
        // index (on PostgreSQL materialized first, so that the planner does not walk the sort
        // index instead, testing every row).
        let matches_sql = if fts.is_some() {
            Some(format!("SELECT {columns} FROM {from} WHERE t.tenant_id = $1{cond} {tail}"))
        } else if searching && !sqlite {
            Some(format!(
                "WITH m AS MATERIALIZED (SELECT s.id FROM scim_users s WHERE s.tenant_id = $1 AND s.search_text LIKE $2 ESCAPE '\\') \
                 SELECT {columns} FROM m JOIN scim_users t ON t.tenant_id = $1 AND t.id = m.id WHERE TRUE{} {tail}",
                cond.replacen(SEARCH_CLAUSE, "", 1)
            ))
        } else if let Some((with, from)) = &members_first {
            // On SQLite a unary `+` keeps the sort index from serving the ORDER BY (see
            // `sparse_page_sql`): the members are found, then sorted.
            let sorted = if sqlite { order.replace("t.", "+t.") } else { order.clone() };
            Some(format!("{with} SELECT {columns} {from} ORDER BY {sorted} LIMIT {limit} OFFSET {offset}"))
        } else {
            // Deactivated, just-in-time, manual or unassigned users: see `sparse_page_sql`.
            plain.then(|| sparse_page_sql(q.filter, &order, &columns, offset, limit, sqlite)).flatten()
        };
        // Reading only the matches is worth it when they are few, or when walking the sort
        // index to this page would test many more rows than there are matches (a deep page of a
        // sparse filter: the walk meets about (offset + limit) × everyone / matches rows).
        let everyone = counts.as_ref().map(UserCounts::all);
        let prefer_matches = |total: i64| {
            total <= SELECTIVE
                || everyone.is_some_and(|all| (offset + limit).saturating_mul(all) > 4 * total.saturating_mul(total))
        };
        // The walk's SQL does not name the trigram pattern: it binds one parameter less.
        let walk_args = if fts.is_some() { &args[..args.len() - 1] } else { &args[..] };
        with_pool!(self.store, |p| {
            let counted = match known_total {
                Some(t) => t,
                None => {
                    let mut count = sqlx::query_scalar::<_, i64>(&count_sql).bind(self.id.as_str());
                    for a in &args {
                        count = count.bind(a);
                    }
                    count.fetch_one(p).await?
                }
            };
            let capped = searching && known_total.is_none() && counted > cap;
            let total = if capped { cap } else { counted };
            let (page_sql, page_args) = match &matches_sql {
                Some(sql) if !capped && prefer_matches(total) => (sql, &args[..]),
                _ => (&walk_sql, walk_args),
            };
            let mut page = sqlx::query(page_sql).bind(self.id.as_str());
            for a in page_args {
                page = page.bind(a);
            }
            let rows = page.fetch_all(p).await?;
            let rows = rows.iter().map(row).collect::<DomainResult<Vec<_>>>()?;
            DomainResult::Ok(DirectoryPage { total, capped, rows })
        })
    }

    /// The next `limit` rows of the users table in its order, after `after` (the last row's
    /// sort key and id from the previous call; `None` to start): a keyset walk, so the
    /// thousandth page costs what the first does (an export of a whole tenant uses it).
    pub async fn directory_after(
        &self,
        q: &UserQuery,
        after: Option<&(SortKey, String)>,
        limit: i64,
    ) -> DomainResult<Vec<(SortKey, DirectoryRow)>> {
        let (cond, args) = condition(q, self.default_role_for(q).await?);
        let op = if q.descending { "<" } else { ">" };
        let walk = Walk::of(q.sort, self.store.backend() == Backend::Sqlite);
        let int = matches!(q.sort, UserSort::Created | UserSort::Updated);
        let (col, id) = (walk.column(walk.key), walk.column(walk.id));
        let (k, kid) = (args.len() + 2, args.len() + 3);
        let keyset = if after.is_some() {
            format!(" AND ({col} {op} ${k} OR ({col} = ${k} AND {id} {op} ${kid}))")
        } else {
            String::new()
        };
        let data = self.data_out();
        let sql = format!(
            "SELECT t.id, t.user_name, t.source, t.active, {data}, t.version, t.created_at, t.updated_at, {col} AS sort_key \
             FROM {} WHERE {} = $1{cond}{keyset} ORDER BY {} LIMIT {}",
            walk.from,
            walk.column("tenant_id"),
            walk.order(walk.alias, q.descending),
            limit.max(0)
        );
        with_pool!(self.store, |p| {
            let mut query = sqlx::query(&sql).bind(self.id.as_str());
            for a in &args {
                query = query.bind(a);
            }
            match after {
                Some((SortKey::Text(key), id)) => query = query.bind(key).bind(id),
                Some((SortKey::Int(key), id)) => query = query.bind(key).bind(id),
                None => {}
            }
            let rows = query.fetch_all(p).await?;
            rows.iter()
                .map(|r| {
                    let key =
                        if int { SortKey::Int(r.try_get("sort_key")?) } else { SortKey::Text(r.try_get("sort_key")?) };
                    Ok((key, row(r)?))
                })
                .collect::<DomainResult<Vec<_>>>()
        })
    }

    /// The columns of a [`DirectoryRow`] of `scim_users t`.
    fn row_columns(&self) -> String {
        format!("t.id, t.user_name, t.source, t.active, {}, t.version, t.created_at, t.updated_at", self.data_out())
    }

    /// The next `limit` users (any source) after `after` in id order. A read of many users (a
    /// tenant's export, a rule's preview) goes by ranges of ids: a list of ids costs a bound
    /// parameter each, more than its rows (see `TenantTx::placement_inputs_after`).
    pub async fn directory_users_after(&self, after: &str, limit: i64) -> DomainResult<Vec<DirectoryRow>> {
        let sql = format!(
            "SELECT {} FROM scim_users t WHERE t.tenant_id = $1 AND t.id > $2 ORDER BY t.id LIMIT $3",
            self.row_columns()
        );
        with_pool!(self.store, |p| {
            let rows = sqlx::query(&sql).bind(self.id.as_str()).bind(after).bind(limit).fetch_all(p).await?;
            rows.iter().map(row).collect::<DomainResult<Vec<_>>>()
        })
    }

    /// These users (any source), in no particular order; unknown ids are skipped.
    pub async fn directory_users(&self, ids: &[String]) -> DomainResult<Vec<DirectoryRow>> {
        let columns = self.row_columns();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let list = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect::<Vec<_>>().join(", ");
            let sql = format!("SELECT {columns} FROM scim_users t WHERE t.tenant_id = $1 AND t.id IN ({list})");
            let rows = with_pool!(self.store, |p| {
                let mut q = sqlx::query(&sql).bind(self.id.as_str());
                for id in chunk {
                    q = q.bind(id);
                }
                let rows = q.fetch_all(p).await?;
                rows.iter().map(row).collect::<DomainResult<Vec<_>>>()
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// One user of any source.
    pub async fn directory_user(&self, id: &str) -> DomainResult<Option<DirectoryRow>> {
        let sql = format!("SELECT {} FROM scim_users t WHERE t.tenant_id = $1 AND t.id = $2", self.row_columns());
        with_pool!(self.store, |p| {
            let found = sqlx::query(&sql).bind(self.id.as_str()).bind(id).fetch_optional(p).await?;
            found.as_ref().map(row).transpose()
        })
    }
}

/// The most queued changes of the users' search index [`Store::move_search_index`] applies in
/// one transaction.
pub const SEARCH_MOVE_BATCH: i64 = 4000;

/// The sequence number of the last of the oldest `$1` queued changes of the users' search index
/// (a negative `$1`: of them all), or NULL when none is queued (migration 0039).
pub const SEARCH_QUEUE_END: &str = "SELECT MAX(seq) FROM (SELECT seq FROM scim_users_fts_queue ORDER BY seq LIMIT $1)";

/// Applies the queued changes of the users' search index up to sequence number `$1` to it, in
/// the order they were made, and takes them off the queue. Public (with [`SEARCH_QUEUE_END`])
/// for `server/examples/durable_floor.rs`, which writes as Roster does.
pub const SEARCH_QUEUE_APPLIED: [&str; 2] = [
    "INSERT INTO scim_users_fts (scim_users_fts, rowid, search_text) \
     SELECT CASE WHEN removed THEN 'delete' END, doc, search_text FROM scim_users_fts_queue WHERE seq <= $1 ORDER BY seq",
    "DELETE FROM scim_users_fts_queue WHERE seq <= $1",
];

/// On SQLite, the rows a search's [`trigram_query`] (parameter `$n`) proposes, as `f.r`: the
/// index's candidates among the rows with no change queued, and every row with one (migration
/// 0039). Each row once, and in a stream (`UNION ALL`: a broad term's count still stops at its
/// cap); each is confirmed on its own row by the caller's `LIKE`.
fn search_candidates(n: usize) -> String {
    format!(
        "(SELECT rowid AS r FROM scim_users_fts WHERE scim_users_fts MATCH ${n} \
         AND rowid NOT IN (SELECT doc FROM scim_users_fts_queue) \
         UNION ALL SELECT DISTINCT doc FROM scim_users_fts_queue) f"
    )
}

/// Applies at most `limit` queued changes of the users' search index (all of them if negative)
/// on a SQLite connection holding the write lock; returns how many.
macro_rules! apply_search_queue {
    ($c:expr, $limit:expr) => {
        async {
            let end: Option<i64> =
                sqlx::query_scalar($crate::store::SEARCH_QUEUE_END).bind($limit).fetch_one(&mut *$c).await?;
            let Some(end) = end else { return Ok::<u64, sqlx::Error>(0) };
            sqlx::query($crate::store::SEARCH_QUEUE_APPLIED[0]).bind(end).execute(&mut *$c).await?;
            sqlx::query($crate::store::SEARCH_QUEUE_APPLIED[1])
                .bind(end)
                .execute(&mut *$c)
                .await
                .map(|r| r.rows_affected())
        }
    };
}
pub(crate) use apply_search_queue;

impl super::Store {
    /// SQLite: applies the oldest queued changes of the users' search index to it, at most
    /// [`SEARCH_MOVE_BATCH`], in one transaction whose COMMIT does not sync (the index is
    /// derived from the users' rows, and a search reads the queue too); returns how many.
    /// The activity writer calls this about once a second (migration 0039: the index is
    /// written in bulk, one segment for thousands of changes, instead of by each write).
    pub async fn move_search_index(&self) -> DomainResult<u64> {
        if self.backend() != Backend::Sqlite {
            return Ok(0);
        }
        // Read first, without the writer's turn: an idle server takes no write lock for nothing.
        let queued = with_pool!(self, |p| {
            sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM scim_users_fts_queue)").fetch_one(p).await
        })?;
        if !queued {
            return Ok(0);
        }
        let mut conn = super::tx::TxConn::begin_unsynced(self).await?;
        let moved = super::tx::with_conn!(&mut conn, |c| apply_search_queue!(c, SEARCH_MOVE_BATCH).await)?;
        conn.commit().await?;
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::ConsoleRole;
    use crate::ids::{AccountId, TenantId};
    use crate::store::{NewAccount, NewTenant, Pool, Store};

    #[test]
    fn the_trigram_query_asks_for_every_three_characters_of_the_term() {
        assert_eq!(trigram_query("Ada").as_deref(), Some("\"ada\""));
        assert_eq!(trigram_query("LoveL").as_deref(), Some("\"lov\" AND \"ove\" AND \"vel\""));
        assert_eq!(
            trigram_query("john_doe").as_deref(),
            Some("\"_do\" AND \"doe\" AND \"hn_\" AND \"joh\" AND \"n_d\" AND \"ohn\"")
        );
        assert_eq!(trigram_query("50%").as_deref(), Some("\"50%\""));
        assert_eq!(trigram_query("a\"b").as_deref(), Some("\"a\"\"b\""), "a quote doubled");
        assert_eq!(
            trigram_query("anna anna").as_deref(),
            Some("\" an\" AND \"a a\" AND \"ann\" AND \"na \" AND \"nna\"")
        );
        assert_eq!(trigram_query("ab\0cde").as_deref(), Some("\"cde\""), "no NUL reaches FTS5");
        for short in ["ab", "a_", "%%", "_", "é", "a\0b", "ab\0cd"] {
            assert_eq!(trigram_query(short), None, "{short}");
        }
    }

    /// The sparse filters' lookups use their indexes on SQLite (without statistics, the planner
    /// could as well walk the tenant's rows); the search's, see
    /// `search_candidates_are_read_as_a_stream`.
    #[tokio::test]
    async fn sparse_filters_use_their_indexes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("store");
        store.migrate().await.expect("migrate");
        let Pool::Sqlite(pool) = &store.pool else { unreachable!() };
        let checks: Vec<(String, &str)> = [UserFilter::Deactivated, UserFilter::Jit, UserFilter::Manual]
            .into_iter()
            .map(|f| {
                let sparse = sparse_filter(f, true).expect("sparse").replace("$1", "'t'");
                let index = if f == UserFilter::Deactivated { "scim_users_deactivated" } else { "scim_users_not_scim" };
                (format!("SELECT s.id {sparse}"), index)
            })
            .collect();
        // The lists of keys come first, then their rows.
        let cols = "t.id, t.user_name, t.source, t.active, t.data, t.version, t.created_at, t.updated_at";
        let join = keys_first(true);
        for sql in [
            format!(
                "WITH p AS MATERIALIZED (SELECT s.id AS k FROM scim_users s WHERE s.tenant_id = 'x' ORDER BY s.sort_name, s.id \
                 LIMIT 50 OFFSET 24950) SELECT {cols} FROM p {join} scim_users t ON t.tenant_id = 'x' AND t.id = p.k \
                 ORDER BY t.sort_name, t.id"
            ),
            format!(
                "WITH m AS MATERIALIZED (SELECT s.id FROM scim_users s WHERE s.tenant_id = 'x' AND s.active = FALSE \
                 ORDER BY +s.created_at DESC, +s.id DESC LIMIT 50 OFFSET 0) \
                 SELECT {cols} FROM m {join} scim_users t ON t.tenant_id = 'x' AND t.id = m.id ORDER BY t.created_at DESC, t.id DESC"
            ),
        ] {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(pool).await.expect("plan");
            let steps: Vec<&str> = plan.iter().map(|p| p.3.as_str()).collect();
            if sql.contains("active = FALSE") {
                assert!(steps.iter().any(|s| s.contains("scim_users_deactivated")), "{sql}: {steps:?}");
            }
            let outer = steps.iter().position(|s| s.starts_with("SCAN p") || s.starts_with("SCAN m"));
            let rows = steps.iter().position(|s| s.starts_with("SEARCH t"));
            assert!(matches!((outer, rows), (Some(a), Some(b)) if a < b), "{sql}: {steps:?}");
        }
        for (sql, index) in checks {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(pool).await.expect("plan");
            let detail = plan.iter().map(|p| p.3.as_str()).collect::<Vec<_>>().join("; ");
            assert!(plan.first().is_some_and(|p| p.3.contains(index)), "{sql}: {detail}");
        }
        // A deep page's keys come from the index of its order, without a sort: from the index
        // alone where it holds the order's tie-breaking id (the user name is unique; its order
        // reads each skipped row's id from the table).
        for (sort, index) in [
            (UserSort::Name, "COVERING INDEX scim_users_sort_name"),
            (UserSort::Created, "COVERING INDEX scim_users_created"),
            (UserSort::Updated, "COVERING INDEX scim_users_updated_order"),
            (UserSort::UserName, "INDEX scim_users_user_name"),
        ] {
            let (keys, _) = Walk::of(sort, true).deep_page_keys(true);
            let sql = format!("{} LIMIT 50 OFFSET 24950", keys.replace("$1", "'x'"));
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(pool).await.expect("plan");
            let detail = plan.iter().map(|p| p.3.as_str()).collect::<Vec<_>>().join("; ");
            assert!(detail.contains(index) && !detail.contains("TEMP B-TREE"), "{sort:?}: {detail}");
        }
        // The unassigned: their ids from the partial index, then their rows by key.
        let sparse = sparse_filter(UserFilter::Unassigned, true).expect("sparse").replace("$1", "'t'");
        let sql = format!("SELECT s.id {sparse} ORDER BY +s.sort_name, +s.id");
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(pool).await.expect("plan");
        let detail = plan.iter().map(|p| p.3.as_str()).collect::<Vec<_>>().join("; ");
        assert!(detail.contains("user_assignment_unassigned (tenant_id=?)"), "{detail}");
        assert!(detail.contains("scim_users_1 (tenant_id=? AND id=?)"), "{detail}");
        assert!(!detail.contains("SCAN s"), "{detail}");
    }

    /// A deep page (keys from the sort index first, then the rows) is the page the walk gives,
    /// in every order.
    #[tokio::test]
    async fn deep_pages_are_the_pages_of_the_walk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("store");
        store.migrate().await.expect("migrate");
        let acme = tenant(&store, "acme").await;
        let Pool::Sqlite(p) = &store.pool else { unreachable!() };
        // (id, user_name_norm, sort_name, created_at): names and times in other orders than ids,
        // with ties in created_at and sort_name.
        let rows: Vec<(String, String, String, i64)> = (0..1100i64)
            .map(|i| {
                (
                    format!("id{:04}", (i * 7919) % 1100),
                    format!("user{:04}", (i * 31) % 1100),
                    format!("name{}", i % 300),
                    i / 3,
                )
            })
            .collect();
        let mut tx = p.begin().await.expect("begin");
        for (id, un, name, at) in &rows {
            sqlx::query(
                "INSERT INTO scim_users (tenant_id, id, user_name, user_name_norm, active, source, data, version, created_at, \
                 updated_at, sort_name, search_text) VALUES ($1, $2, $3, $3, TRUE, 'scim', '{}', 1, $4, $4, $5, $3)",
            )
            .bind(acme.as_str())
            .bind(id)
            .bind(un)
            .bind(at)
            .bind(name)
            .execute(&mut *tx)
            .await
            .expect("insert");
        }
        tx.commit().await.expect("commit");
        for sort in [UserSort::Name, UserSort::Created, UserSort::UserName, UserSort::Updated] {
            for descending in [false, true] {
                let mut want = rows.clone();
                want.sort_by(|a, b| {
                    let o = match sort {
                        UserSort::Name => a.2.cmp(&b.2),
                        UserSort::Created | UserSort::Updated => a.3.cmp(&b.3),
                        UserSort::UserName => a.1.cmp(&b.1),
                    }
                    .then(a.0.cmp(&b.0));
                    if descending {
                        o.reverse()
                    } else {
                        o
                    }
                });
                let want: Vec<&str> = want[1040..1070].iter().map(|r| r.0.as_str()).collect();
                let q = UserQuery { sort, descending, ..UserQuery::default() };
                let page = store.tenant(&acme).directory_page(&q, 1040, 30, None).await.expect("page");
                let got: Vec<&str> = page.rows.iter().map(|r| r.id.as_str()).collect();
                assert_eq!(got, want, "{sort:?} descending {descending}");
                assert_eq!(page.total, 1100);
            }
        }
    }

    async fn tenant(store: &Store, name: &str) -> TenantId {
        let id = TenantId::random();
        let admin = NewAccount {
            id: AccountId::random(),
            role: ConsoleRole::OrgAdmin,
            email: format!("admin@{name}.test"),
            email_normalized: format!("admin@{name}.test"),
            name: "A".into(),
            password_hash: "x".into(),
        };
        store
            .create_tenant_with_admin(&NewTenant { id: id.clone(), name: name.into() }, &admin, 1)
            .await
            .expect("tenant");
        id
    }

    async fn put(p: &sqlx::SqlitePool, tenant: &TenantId, id: &str, text: &str) {
        sqlx::query(
            "INSERT INTO scim_users (tenant_id, id, user_name, user_name_norm, active, source, data, version, created_at, \
             updated_at, sort_name, search_text) VALUES ($1, $2, $2, $2, TRUE, 'scim', '{}', 1, 1, 1, $2, $3)",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(text)
        .execute(p)
        .await
        .expect("insert");
    }

    /// [`put`] of many users in one transaction (a bulk write: an import, the benchmark's seed).
    async fn put_in_one_transaction(
        p: &sqlx::SqlitePool,
        tenant: &TenantId,
        users: impl Iterator<Item = (String, String)>,
    ) {
        let mut tx = p.begin().await.expect("begin");
        for (id, text) in users {
            sqlx::query(
                "INSERT INTO scim_users (tenant_id, id, user_name, user_name_norm, active, source, data, version, \
                 created_at, updated_at, sort_name, search_text) VALUES ($1, $2, $2, $2, TRUE, 'scim', '{}', 1, 1, 1, $2, $3)",
            )
            .bind(tenant.as_str())
            .bind(id)
            .bind(text)
            .execute(&mut *tx)
            .await
            .expect("insert");
        }
        tx.commit().await.expect("commit");
    }

    fn search(term: &str) -> UserQuery {
        UserQuery { search: term.into(), ..UserQuery::default() }
    }

    async fn found(store: &Store, tenant: &TenantId, term: &str) -> Vec<String> {
        let page = store.tenant(tenant).directory_page(&search(term), 0, 50, None).await.expect("page");
        assert_eq!(page.total, page.rows.len() as i64, "{term}");
        let mut ids: Vec<String> = page.rows.into_iter().map(|r| r.id).collect();
        ids.sort();
        ids
    }

    /// The segments of the users' search index (FTS5 keeps a row of `_idx` per leaf page of
    /// each).
    async fn search_segments(p: &sqlx::SqlitePool) -> i64 {
        sqlx::query_scalar("SELECT COUNT(DISTINCT segid) FROM scim_users_fts_idx").fetch_one(p).await.expect("segments")
    }

    /// A bulk write leaves the search index in segments for later writes to merge; settling the
    /// database after a seed (`analyze`) and a rebuild after a restore merge it into one, and
    /// it still finds what it found.
    #[tokio::test]
    async fn settling_and_rebuilding_merge_the_search_index_into_one_segment() {
        let (dir, store) = migrated_file().await;
        let acme = tenant(&store, "acme").await;
        let Pool::Sqlite(p) = &store.pool else { unreachable!() };
        // Three transactions of 200 users, a bulk write (an import through another connection,
        // or the load benchmark's seed).
        for batch in 0..3 {
            let users = (0..200).map(|i| (format!("u{batch}-{i}"), format!("person{batch}x{i}@acme.test")));
            put_in_one_transaction(p, &acme, users).await;
        }
        // The writes queued their changes of the index (migration 0039): nothing indexed yet,
        // and a search finds them all the same.
        assert_eq!((search_segments(p).await, queued(p).await), (0, 600));
        assert_eq!(found(&store, &acme, "person2x17@").await, ["u2-17"]);
        store.analyze().await.expect("settle");
        assert_eq!((search_segments(p).await, queued(p).await), (1, 0));
        assert_eq!(found(&store, &acme, "person2x17@").await, ["u2-17"]);
        assert_eq!(found(&store, &acme, "person0x19").await.len(), 11);
        let everyone = store.tenant(&acme).directory_page(&search("acme.test"), 0, 50, None).await.expect("page");
        assert_eq!(everyone.total, 600);
        assert_eq!(store.integrity_check().await.expect("check"), "ok");

        put(p, &acme, "late", "late@acme.test").await;
        assert_eq!(queued(p).await, 1);
        // A rebuild writes a segment each time what it holds passes `hashsize` (1 MB; here 64
        // bytes, so that 601 users are a bulk write too). Set, then read by new connections.
        sqlx::query("INSERT INTO scim_users_fts (scim_users_fts, rank) VALUES ('hashsize', 64)")
            .execute(p)
            .await
            .expect("hashsize");
        store.close().await;
        // As a restore does it: on a store of its own, closed before the server opens the file.
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let restoring = Store::connect(&url).await.expect("store");
        restoring.rebuild_search_index().await.expect("rebuild");
        let Pool::Sqlite(p) = &restoring.pool else { unreachable!() };
        assert_eq!(search_segments(p).await, 1);
        restoring.close().await;
        // Checked on connections opened after the rebuild: FTS5's check on a pool connection
        // that had read the index before a rebuild now and then reported a "malformed inverted
        // index" that no new connection saw.
        let restored = Store::connect(&url).await.expect("store");
        assert_eq!(found(&restored, &acme, "late@").await, ["late"]);
        assert_eq!(found(&restored, &acme, "person0x19").await.len(), 11);
        assert_eq!(restored.integrity_check().await.expect("check"), "ok");
    }

    /// The trigram index follows every insert, update and delete, stays within the tenant,
    /// confirms its candidates exactly, and survives a backup (`VACUUM INTO`) of a file whose
    /// rowids have gaps.
    #[tokio::test]
    async fn search_through_the_trigram_index_follows_writes_and_backups() {
        let (dir, store) = migrated_file().await;
        let (acme, other) = (tenant(&store, "acme").await, tenant(&store, "other").await);
        let Pool::Sqlite(p) = &store.pool else { unreachable!() };
        put(p, &acme, "u1", "ada@acme.test ada lovelace").await;
        put(p, &acme, "u2", "bob_king@acme.test bob king").await;
        put(p, &acme, "u3", "bobxking@acme.test bob xking").await;
        put(p, &other, "o1", "ada@other.test ada lovelace").await;
        assert_eq!(found(&store, &acme, "LOVELACE").await, ["u1"]);
        assert_eq!(found(&store, &other, "lovelace").await, ["o1"]);
        assert_eq!(found(&store, &acme, "acme.test").await, ["u1", "u2", "u3"]);
        // `_` is a literal underscore, though the index is asked with LIKE's wildcard.
        assert_eq!(found(&store, &acme, "bob_king").await, ["u2"]);
        assert_eq!(found(&store, &acme, "a lov").await, ["u1"]);
        // Too short for a trigram: scanned, with the same answer.
        assert_eq!(found(&store, &acme, "_k").await, ["u2"]);
        assert_eq!(found(&store, &acme, "nobody").await, Vec::<String>::new());

        sqlx::query("UPDATE scim_users SET search_text = 'ada@acme.test ada byron' WHERE id = 'u1'")
            .execute(p)
            .await
            .expect("update");
        assert_eq!(found(&store, &acme, "lovelace").await, Vec::<String>::new());
        assert_eq!(found(&store, &acme, "byron").await, ["u1"]);
        sqlx::query("DELETE FROM scim_users WHERE id = 'u2'").execute(p).await.expect("delete");
        assert_eq!(found(&store, &acme, "king").await, ["u3"]);
        assert_eq!(store.integrity_check().await.expect("check"), "ok");

        // Counting stops at the cap (or the end of the page read), and says so.
        for i in 0..5 {
            put(p, &acme, &format!("n{i}"), &format!("needle{i}@acme.test")).await;
        }
        let t = store.tenant(&acme);
        let capped = t.directory_page_counting(&search("needle"), 0, 2, None, 3).await.expect("page");
        assert_eq!((capped.total, capped.capped, capped.rows.len()), (3, true, 2));
        let further = t.directory_page_counting(&search("needle"), 2, 2, None, 3).await.expect("page");
        assert_eq!((further.total, further.capped, further.rows.len()), (4, true, 2));
        let all = t.directory_page_counting(&search("needle"), 0, 2, None, 5).await.expect("page");
        assert_eq!((all.total, all.capped), (5, false));
        // Not a search: counted exactly.
        let everyone = t.directory_page_counting(&UserQuery::default(), 0, 2, None, 3).await.expect("page");
        assert_eq!((everyone.total, everyone.capped), (7, false));

        let copy = dir.path().join("copy.db");
        store.backup_sqlite(&copy).await.expect("backup");
        store.close().await;
        let restored = Store::connect(&format!("sqlite://{}", copy.display())).await.expect("copy");
        assert_eq!(restored.integrity_check().await.expect("check"), "ok");
        assert_eq!(found(&restored, &acme, "king").await, ["u3"]);
        assert_eq!(found(&restored, &acme, "byron").await, ["u1"]);
        restored.rebuild_search_index().await.expect("rebuild");
        assert_eq!(found(&restored, &acme, "needle3").await, ["n3"]);
    }

    /// A store on a new SQLite file (`t.db` in the directory returned), migrated.
    async fn migrated_file() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("store");
        store.migrate().await.expect("migrate");
        (dir, store)
    }

    /// How many changes of the search index are queued.
    async fn queued(p: &sqlx::SqlitePool) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM scim_users_fts_queue").fetch_one(p).await.expect("queued")
    }

    /// Writes queue their changes of the search index (they never write it themselves); a
    /// search finds the same rows whether a change is queued, applied, or some of each; the
    /// queue is applied in order, in transactions of at most `SEARCH_MOVE_BATCH`.
    #[tokio::test]
    async fn search_finds_queued_and_applied_changes_alike() {
        let (dir, store) = migrated_file().await;
        let (acme, other) = (tenant(&store, "acme").await, tenant(&store, "other").await);
        let Pool::Sqlite(p) = &store.pool else { unreachable!() };
        put(p, &acme, "u1", "ada@acme.test ada lovelace").await;
        put(p, &acme, "u2", "grace@acme.test grace hopper").await;
        put(p, &other, "o1", "ada@other.test ada lovelace").await;
        assert_eq!((queued(p).await, search_segments(p).await), (3, 0), "queued, nothing indexed");
        assert_eq!(found(&store, &acme, "lovelace").await, ["u1"]);
        assert_eq!(found(&store, &other, "lovelace").await, ["o1"]);
        assert_eq!(store.move_search_index().await.expect("move"), 3);
        assert_eq!(store.move_search_index().await.expect("move again"), 0);
        assert_eq!((queued(p).await, search_segments(p).await), (0, 1), "one segment for the three");
        assert_eq!(found(&store, &acme, "lovelace").await, ["u1"]);
        assert_eq!(found(&store, &acme, "acme.test").await, ["u1", "u2"]);

        // Renamed, deleted, and a row id reused, all queued on top of the applied index: the
        // index still proposes the old text's row, which its own row no longer confirms.
        sqlx::query("UPDATE scim_users SET search_text = 'ada@acme.test ada byron' WHERE id = 'u1'")
            .execute(p)
            .await
            .expect("rename");
        sqlx::query("DELETE FROM scim_users WHERE id = 'u2'").execute(p).await.expect("delete");
        put(p, &acme, "u3", "katherine@acme.test katherine johnson").await;
        put(p, &acme, "u4", "ada@acme.test ada lovelace junior").await;
        let expect = |store: &Store| {
            let (store, acme) = (store.clone(), acme.clone());
            async move {
                assert_eq!(found(&store, &acme, "lovelace").await, ["u4"]);
                assert_eq!(found(&store, &acme, "byron").await, ["u1"]);
                assert_eq!(found(&store, &acme, "hopper").await, Vec::<String>::new());
                assert_eq!(found(&store, &acme, "johnson").await, ["u3"]);
                assert_eq!(found(&store, &acme, "ada@").await, ["u1", "u4"]);
                // Hostile terms are text: FTS5's query syntax, quotes, a NUL, the longest allowed.
                for term in ["\"ada\" OR \"a\"", "ada*", "NEAR(ada lovelace)", "ada\0lovelace", &"x".repeat(200)] {
                    assert_eq!(found(&store, &acme, term).await, Vec::<String>::new(), "{term:?}");
                }
            }
        };
        expect(&store).await;
        assert_eq!(found(&store, &acme, "acme.test").await, ["u1", "u3", "u4"]);
        assert_eq!(queued(p).await, 5);
        // The check applies the queue in a transaction it rolls back: nothing written.
        assert_eq!(store.integrity_check().await.expect("check"), "ok");
        assert_eq!(queued(p).await, 5);
        // Part of it applied (the rename), then the rest: the same answers each time.
        let Pool::Sqlite(p) = &store.pool else { unreachable!() };
        let mut t = p.begin().await.expect("begin");
        let applied = apply_search_queue!(&mut *t, 2_i64).await.expect("apply two");
        t.commit().await.expect("commit");
        assert_eq!((applied, queued(p).await), (2, 3));
        expect(&store).await;
        assert_eq!(store.move_search_index().await.expect("move"), 3);
        expect(&store).await;
        assert_eq!(store.integrity_check().await.expect("check"), "ok");

        // A backlog (an import through another connection) is applied in bounded transactions.
        let n = SEARCH_MOVE_BATCH + 500;
        put_in_one_transaction(p, &acme, (0..n).map(|i| (format!("b{i}"), format!("bulk{i}@acme.test")))).await;
        assert_eq!(found(&store, &acme, "bulk4321@").await, ["b4321"]);
        assert_eq!(store.move_search_index().await.expect("move"), SEARCH_MOVE_BATCH as u64);
        assert_eq!(found(&store, &acme, "bulk4321@").await, ["b4321"]);
        assert_eq!(found(&store, &acme, "bulk12@").await, ["b12"]);
        assert_eq!(store.move_search_index().await.expect("move"), 500);
        assert_eq!(store.move_search_index().await.expect("move"), 0);
        assert_eq!(found(&store, &acme, "bulk4321@").await, ["b4321"]);
        let everyone = store.tenant(&acme).directory_page(&search("acme.test"), 0, 10, None).await.expect("page");
        assert_eq!(everyone.total, n + 3);
        expect(&store).await;
        assert_eq!(store.integrity_check().await.expect("check"), "ok");

        // A rebuild indexes every row and drops the queue (applied after it, the queue would
        // index its rows twice).
        sqlx::query("UPDATE scim_users SET search_text = 'ada@acme.test ada king' WHERE id = 'u1'")
            .execute(p)
            .await
            .expect("rename");
        store.rebuild_search_index().await.expect("rebuild");
        assert_eq!(queued(p).await, 0);
        store.close().await;
        // Checked on connections opened after the rebuild (see the test of settling).
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.expect("store");
        assert_eq!(found(&store, &acme, "king").await, ["u1"]);
        assert_eq!(found(&store, &acme, "byron").await, Vec::<String>::new());
        assert_eq!(store.integrity_check().await.expect("check"), "ok");
    }

    /// The integrity check's transaction is rolled back before it returns: the database's write
    /// lock is free the moment it does. (sqlx only queued the ROLLBACK of a dropped transaction:
    /// a deferred transaction of another connection that read, then wrote, right after the
    /// check was refused with "database is locked" — SQLite upgrades a read to a write without
    /// waiting — the CI failure of the test above.)
    #[tokio::test]
    async fn the_integrity_check_lets_go_of_the_write_lock_before_it_returns() {
        let (dir, store) = migrated_file().await;
        let acme = tenant(&store, "acme").await;
        let Pool::Sqlite(p) = &store.pool else { unreachable!() };
        let other = rusqlite::Connection::open(dir.path().join("t.db")).expect("open");
        other.busy_timeout(std::time::Duration::ZERO).expect("no busy timeout");
        for i in 0..20 {
            put(p, &acme, &format!("u{i}"), &format!("user{i}@acme.test")).await;
            assert_eq!(store.integrity_check().await.expect("check"), "ok");
            // No busy timeout: the lock must be free now, not soon.
            other.execute_batch("BEGIN IMMEDIATE").unwrap_or_else(|e| panic!("round {i}: still locked: {e}"));
            other.execute_batch("ROLLBACK").expect("rollback");
        }
    }

    /// An index that does not match the users is reported as such (the check's transaction is
    /// rolled back all the same, and the lock let go).
    #[tokio::test]
    async fn the_integrity_check_reports_an_index_that_does_not_match() {
        let (dir, store) = migrated_file().await;
        let acme = tenant(&store, "acme").await;
        let Pool::Sqlite(p) = &store.pool else { unreachable!() };
        put(p, &acme, "u1", "ada@acme.test ada lovelace").await;
        assert_eq!(store.move_search_index().await.expect("move"), 1);
        // The row changes behind the index's back: its queued change is dropped.
        sqlx::query("UPDATE scim_users SET search_text = 'grace hopper' WHERE id = 'u1'")
            .execute(p)
            .await
            .expect("rename");
        sqlx::query("DELETE FROM scim_users_fts_queue").execute(p).await.expect("drop the queue");
        let found = store.integrity_check().await.expect("check");
        assert!(found.starts_with("the users' search index does not match the users"), "{found}");
        let other = rusqlite::Connection::open(dir.path().join("t.db")).expect("open");
        other.busy_timeout(std::time::Duration::ZERO).expect("no busy timeout");
        other.execute_batch("BEGIN IMMEDIATE; ROLLBACK").expect("the write lock is free");
        store.rebuild_search_index().await.expect("rebuild");
        assert_eq!(store.integrity_check().await.expect("check"), "ok");
    }

    /// A search reads the index's candidates as a stream (a broad term's count stops at its cap
    /// without reading every match first) and the queue whole; never the users' table in full.
    #[tokio::test]
    async fn search_candidates_are_read_as_a_stream() {
        let (_dir, store) = migrated_file().await;
        let Pool::Sqlite(pool) = &store.pool else { unreachable!() };
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM {} CROSS JOIN scim_users t ON t.rowid = f.r \
             WHERE t.tenant_id = 't' AND t.search_text LIKE '%acme%' ESCAPE '\\' LIMIT 10001) c",
            search_candidates(1).replace("$1", "'\"acm\" AND \"cme\"'")
        );
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(pool).await.expect("plan");
        let detail = plan.iter().map(|p| p.3.as_str()).collect::<Vec<_>>().join("; ");
        let steps: Vec<&str> = plan.iter().map(|p| p.3.as_str()).collect();
        // The candidates a co-routine (a stream, not a table filled first), the index asked with
        // MATCH (`M`; not LIKE, `L`), each candidate's row then read by its row id.
        assert!(steps.contains(&"CO-ROUTINE f"), "{detail}");
        assert!(steps.iter().any(|s| s.starts_with("SCAN scim_users_fts VIRTUAL TABLE INDEX 0:M")), "{detail}");
        assert!(steps.contains(&"SEARCH t USING INTEGER PRIMARY KEY (rowid=?)"), "{detail}");
        assert!(!steps.iter().any(|s| s.starts_with("SCAN t") || s.starts_with("MATERIALIZE")), "{detail}");
    }
}
