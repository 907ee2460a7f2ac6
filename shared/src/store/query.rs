//! Paged searches over a tenant's SCIM users and groups: a compiled filter (see
//! [`super::filter_sql`]) and an order become one page of rows, on the pool or, for expensive
//! filters, on the scan pool (see [`super::scans`]); a point query (one row by a unique key)
//! in place where it can (see [`super::direct`]).

use super::filter_sql::{Dialect, Sql};
use super::{Backend, TenantStore};

/// A page of rows and the total count.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// All matching rows (not counted for cursor pages).
    pub total: Option<i64>,
    /// This page.
    pub rows: Vec<T>,
}

/// What a query selects (the condition and order are compiled SQL).
pub(crate) struct Query {
    pub where_sql: Option<(String, Sql)>,
    pub order_by: Option<(String, bool)>,
    pub offset: i64,
    pub limit: i64,
    /// Keyset paging (RFC 9865 cursors): only rows after this (created_at, id), in the default
    /// order, without a total count, so every page after the first costs the same however deep
    /// it is.
    pub after: Option<(i64, String)>,
    /// The filter scans the tenant's rows: run it under the limits of [`super::scans`].
    pub expensive: bool,
    /// The filter names one row by a unique key (`userName eq …`, `id eq …`): at most one row
    /// is counted and read, so the query runs in place where it can (see [`super::direct`]).
    pub point: bool,
}

impl Query {
    /// A point query's first page with room for its one row: the page's length is the total,
    /// so it is not counted.
    pub(crate) fn counts_by_page(&self) -> bool {
        self.point && self.after.is_none() && self.offset <= 0 && self.limit > 0
    }
}

/// The deepest offset of an unfiltered page read in place on SQLite (see [`super::direct`]): the
/// read walks the order's index over `offset + limit` entries (~1 ms at 10,000), the same order
/// of cost as rendering the page; deeper pages go to the pool's threads, off the runtime.
pub(crate) const IN_PLACE_MAX_OFFSET: i64 = 10_000;

/// Runs a paged query over `$table` (aliased `t`), with the SQL of `Query`; `$cols` are the
/// selected columns, `$decode` turns a row into the page's type; `$known` is the total when the
/// caller knows it (not counted then).
macro_rules! page_query {
    ($self:ident, $q:ident, $table:literal, $extra:literal, $cols:expr, $decode:ident, $known:expr) => {{
        let q = $q;
        let known: Option<i64> = $known;
        let unfiltered = q.where_sql.is_none();
        // A point query matches at most one row: one statement instead of two.
        let counted_by_page = known.is_none() && q.counts_by_page();
        let (cond, mut sql) = match q.where_sql {
            Some((c, s)) => (format!(" AND ({c})"), s),
            None => (String::new(), Sql::new($self.dialect())),
        };
        let tenant_arg = sql.arg(Arg::Text($self.id.as_str().to_string()));
        let base = format!(concat!("FROM ", $table, " t WHERE t.tenant_id = {} ", $extra, "{}"), tenant_arg, cond);
        let count_sql = format!("SELECT COUNT(*) FROM (SELECT 1 {base}) c");
        let keyset = match &q.after {
            Some((at, id)) => {
                let a = sql.arg(Arg::Int(*at));
                let b = sql.arg(Arg::Text(id.clone()));
                format!(" AND (t.created_at > {a} OR (t.created_at = {a} AND t.id > {b}))")
            }
            None => String::new(),
        };
        let order = match &q.order_by {
            Some((expr, desc)) => format!(" ORDER BY {expr} {} NULLS LAST, t.id", if *desc { "DESC" } else { "ASC" }),
            None => " ORDER BY t.created_at, t.id".to_string(),
        };
        let page_sql =
            format!("SELECT {} {base}{keyset}{order} LIMIT {} OFFSET {}", $cols, q.limit.max(0), q.offset.max(0));
        let args = sql.args;
        // The count query binds only the filter's and the tenant's parameters.
        let count_args = &args[..args.len() - if q.after.is_some() { 2 } else { 0 }];
        macro_rules! run {
            ($exec:expr) => {{
                let total = if q.after.is_some() || counted_by_page {
                    None
                } else if known.is_some() {
                    known
                } else {
                    Some(bind_all!(sqlx::query_scalar::<_, i64>(&count_sql), count_args).fetch_one($exec).await?)
                };
                let rows = if q.limit > 0 {
                    bind_all!(sqlx::query(&page_sql), &args).fetch_all($exec).await?
                } else {
                    Vec::new()
                };
                let total = if counted_by_page { Some(rows.len() as i64) } else { total };
                let rows = rows.iter().map($decode).collect::<DomainResult<Vec<_>>>()?;
                DomainResult::Ok(Page { total, rows })
            }};
        }
        // A read whose cost is bounded whatever the tenant's size runs in place (see
        // `IN_PLACE_MAX_OFFSET`): one row by a unique key, or an unfiltered page whose total is
        // known or not wanted, not deep in the tenant.
        let bounded = q.point
            || (unfiltered
                && (known.is_some() || q.after.is_some())
                && q.offset <= $crate::store::query::IN_PLACE_MAX_OFFSET);
        if q.expensive {
            with_scan!($self.store, $self.id, |c| run!(&mut *c))
        } else if let (true, Some(direct)) = (bounded, $self.store.direct.as_deref()) {
            let mut conn = direct.read()?;
            let c = &mut *conn;
            #[allow(unused_imports)]
            use $crate::store::direct::shim as sqlx;
            run!(c)
        } else if let (true, Some(conns)) = (bounded, $self.store.pg_conns.as_ref()) {
            $crate::store::with_pg_conn!(conns, |c| run!(&mut *c))
        } else {
            with_pool!($self.store, |p| run!(p))
        }
    }};
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
                Arg::Real(f) => q.bind(*f),
                Arg::Bool(b) => q.bind(*b),
            };
        }
        q
    }};
}
pub(crate) use {bind_all, page_query};

impl TenantStore<'_> {
    pub(crate) fn dialect(&self) -> Dialect {
        self.store.dialect()
    }

    /// The `data` column as text (PostgreSQL stores JSONB), for `SELECT … FROM … t`.
    pub(super) fn data_out(&self) -> &'static str {
        data_out(self.store.backend())
    }
}

/// The `data` column as text (PostgreSQL stores JSONB), for `SELECT … FROM … t`.
pub(super) fn data_out(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "t.data",
        Backend::Postgres => "t.data::text AS data",
    }
}

/// The `data` column as it is stored, for `SELECT … FROM … t` where the row reader takes it as
/// [`super::direct::JsonText`]: on PostgreSQL a page of 100 read with `data::text` cast the `data`
/// of every row its scan passed up, the ones its `OFFSET` skipped included (the harness's list,
/// pages of 100 at `startIndex` 1 to 901 of 1,000 users: 7.4 ms a page statement, 2.9 ms at
/// `OFFSET 400` with the cast against 0.7 ms without, `EXPLAIN ANALYZE`).
pub(super) fn data_raw() -> &'static str {
    "t.data"
}

/// Parameter `$n` as the `data` column takes it (PostgreSQL stores JSONB).
pub(super) fn json_in(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("${n}"),
        Backend::Postgres => format!("CAST(${n} AS JSONB)"),
    }
}
