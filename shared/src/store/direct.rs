//! SQLite called in place, on the request's own thread: [`Direct`] and [`shim`].
//!
//! sqlx runs every SQLite connection on a thread of its own and hands each statement to it over
//! a channel: the request's task parks, the connection thread wakes, runs the statement, sends
//! the rows back and wakes the task, which then waits in the runtime's queue behind every other
//! request. A GET by id read one row and a handful of group rows in 0.1 ms of SQLite time, and
//! spent ten times that in those hand-offs; a PATCH held the one writer for 1.2 ms, of which
//! 0.25 ms of SQLite work (`perf`: a third of the server's samples were futex wake-ups and
//! context switches). Here rusqlite, over the same bundled SQLite, runs the statement where the
//! request is, in microseconds, without a hand-off:
//!
//! - the hot point reads (a user by id or userName, a user's groups, a group by id, "is a
//!   webhook endpoint due?", a SCIM filter naming one row by a unique key, the create path's
//!   adoption lookups, a group write's member check; see [`super::with_read!`]) on
//!   [`Direct`]'s own read connections to the same file;
//! - every transaction of a request on the process's writer connection (see [`super::writer`],
//!   with group commit). Its statements are the same code as on PostgreSQL: inside
//!   [`super::tx::with_conn!`]'s arm for it, `sqlx` names [`shim`], which offers the part of
//!   sqlx's query API the store uses.
//!
//! What stays on sqlx: lists, counts and searches, which can take long over a large tenant and
//! would hold a runtime thread, and imports ([`super::TenantStore::begin_pooled`]). A
//! whole-tenant placement's batches run in place too, off the runtime's workers
//! ([`super::Store::run_long`]): a batch of a thousand users spent 20 ms in hand-offs to sqlx's
//! thread for 4 ms of SQLite work. A direct read sees what is committed, like a read on
//! any pooled connection (WAL: readers never wait for the writer). An in-memory database exists
//! once per connection, so a store on one has no [`Direct`] and goes through sqlx alone.
//!
//! Written here rather than taken from a crate: the crates that run SQLite off the runtime
//! (sqlx, tokio-rusqlite, deadpool-sqlite) all hand each statement to another thread, which is
//! the cost being removed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::error::{DomainError, DomainResult};

/// Connections kept open between reads; more are opened when more threads read at once.
const MAX_IDLE: usize = 16;

/// The writer connection checkpoints the WAL itself only past this many frames (about 400 MB),
/// should the checkpointer fall that far behind (see [`super::writer`]'s module doc).
pub(crate) const BACKSTOP_FRAMES: i64 = 100_000;

/// Direct read connections to one SQLite file (see the module doc).
pub(crate) struct Direct {
    path: PathBuf,
    idle: Mutex<Vec<shim::DirectConn>>,
    /// The store was closed ([`Direct::close`]): no more reads or writes here, as on the pool.
    closed: AtomicBool,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct").field("path", &self.path).finish()
    }
}

impl Direct {
    /// Direct reads of the database file at `path` (opened on first use).
    pub(crate) fn new(path: PathBuf) -> Direct {
        Direct { path, idle: Mutex::new(Vec::new()), closed: AtomicBool::new(false) }
    }

    /// Refuses every later read and write, as a closed pool does (answered "unavailable, retry"),
    /// and closes the idle read connections.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// [`DomainError::Unavailable`] once the store is closed.
    pub(crate) fn check_open(&self) -> DomainResult<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(DomainError::from(sqlx::Error::PoolClosed));
        }
        Ok(())
    }

    fn connect(&self) -> rusqlite::Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Only reads go through here; the writer's lock is never taken, and a reader waits
        // only while the WAL is being recovered.
        conn.pragma_update(None, "query_only", true)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    /// A new connection for the process's writer (see [`super::writer`]), set up as sqlx sets
    /// up the pool's: foreign keys on, `synchronous = FULL` under WAL (each COMMIT syncs the WAL
    /// before it returns, so an acknowledged write survives a power loss or an operating system
    /// crash, not only a crash of this process as with `NORMAL`; group commit shares that sync
    /// among the group's writes); temporary storage in
    /// memory (every request of a shared commit is a savepoint, whose undo journal otherwise
    /// spills to a temp file past 64 KiB); its own checkpoints only as a backstop
    /// ([`BACKSTOP_FRAMES`]: the checkpointer does them); without a busy handler (the writer
    /// waits for another process's lock asleep, see [`super::writer::Writer::begin`]).
    pub(crate) fn writer(&self) -> DomainResult<rusqlite::Connection> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(error)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; \
             PRAGMA temp_store = MEMORY;",
        )
        .map_err(error)?;
        conn.pragma_update(None, "wal_autocheckpoint", BACKSTOP_FRAMES).map_err(error)?;
        conn.set_prepared_statement_cache_capacity(256);
        conn.busy_timeout(Duration::ZERO).map_err(error)?;
        Ok(conn)
    }

    /// A connection for the checkpointer (see [`super::writer`]'s module doc).
    pub(crate) fn checkpointer(&self) -> rusqlite::Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(conn)
    }

    /// The rows of `sql` with `args` (bound by sqlx's rules, see [`shim`]), read in place on an
    /// idle connection (one is opened if none is idle): the writer's tests' look at what is
    /// stored. (The code reads through [`super::with_read!`].)
    #[cfg(test)]
    pub(crate) fn fetch(&self, sql: &str, args: &[&dyn shim::Encode]) -> DomainResult<Vec<shim::DirectRow>> {
        let conn = self.read()?;
        let values: Vec<_> = args.iter().map(|a| a.value()).collect();
        Ok(shim::rows(&conn.conn, sql, &values, usize::MAX)?)
    }

    /// An idle read connection (one is opened if none is idle), back among the idle ones when
    /// dropped: the executor of [`super::with_read!`]'s statements.
    pub(crate) fn read(&self) -> DomainResult<ReadConn<'_>> {
        self.check_open()?;
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match taken {
            Some(c) => c,
            None => shim::DirectConn::new(self.connect().map_err(error)?),
        };
        Ok(ReadConn { direct: self, slot: Some(conn) })
    }
}

/// A read connection taken from [`Direct`]'s idle ones (see [`Direct::read`]).
pub(crate) struct ReadConn<'d> {
    direct: &'d Direct,
    /// Taken back in `drop`.
    slot: Option<shim::DirectConn>,
}

impl std::ops::Deref for ReadConn<'_> {
    type Target = shim::DirectConn;
    fn deref(&self) -> &shim::DirectConn {
        self.slot.as_ref().expect("a read connection is present until dropped")
    }
}

impl std::ops::DerefMut for ReadConn<'_> {
    fn deref_mut(&mut self) -> &mut shim::DirectConn {
        self.slot.as_mut().expect("a read connection is present until dropped")
    }
}

impl ReadConn<'_> {
    /// Begins a read transaction: the statements until [`Self::end_snapshot`] read one snapshot
    /// of the database, and SQLite takes the WAL's read lock (and checks whether its page cache
    /// still holds) once for all of them instead of once per statement.
    pub(crate) fn begin_snapshot(&mut self) -> DomainResult<()> {
        run_cached(&self.conn, &["BEGIN"]).map_err(error)
    }

    /// Ends the read transaction [`Self::begin_snapshot`] began.
    pub(crate) fn end_snapshot(&mut self) -> DomainResult<()> {
        run_cached(&self.conn, &["COMMIT"]).map_err(error)
    }
}

/// Runs each statement of `sql` (prepared once per connection, then cached) on `conn`.
pub(crate) fn run_cached(conn: &rusqlite::Connection, sql: &[&str]) -> rusqlite::Result<()> {
    for s in sql {
        conn.prepare_cached(s)?.execute([])?;
    }
    Ok(())
}

impl Drop for ReadConn<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.slot.take() {
            if self.direct.closed.load(Ordering::SeqCst) {
                return;
            }
            // A read transaction left open (a read that failed or was dropped between
            // `begin_snapshot` and `end_snapshot`) would keep the connection on an old snapshot
            // for every later read: end it, or close the connection.
            if !conn.conn.is_autocommit() && conn.conn.execute_batch("ROLLBACK").is_err() {
                return;
            }
            let mut idle = self.direct.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }
}

fn error(e: rusqlite::Error) -> DomainError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) =>
        {
            DomainError::Unavailable(format!("database: {e}"))
        }
        _ => DomainError::Internal(format!("database: {e}")),
    }
}

/// The part of sqlx's query API the store's statements use, over a [`shim::DirectConn`]: inside
/// [`super::tx::with_conn!`]'s arm for a direct transaction it stands in for `sqlx`, so each
/// statement is written once and runs through sqlx on PostgreSQL and in place on SQLite.
///
/// Placeholders follow sqlx's SQLite rules: `$N` and `?N` take argument N, a bare `?` the next.
/// Errors are `sqlx::Error`s (a failed statement is a `Database` error with SQLite's extended
/// code and message, as sqlx reports it), so error mapping and unique-constraint detection
/// ([`super::unique_violation`]) are the same on both paths.
pub(crate) mod shim {
    use std::borrow::Cow;
    use std::marker::PhantomData;
    use std::sync::Arc;

    use rusqlite::types::Value;

    pub(crate) use sqlx::Error;

    /// One connection used in place (see the module doc). `DB` is only there so that sqlx's
    /// `query_as::<_, T>` spelling infers (it is always `()`).
    pub(crate) struct DirectConn<DB = ()> {
        pub(crate) conn: rusqlite::Connection,
        _db: PhantomData<DB>,
    }

    impl<DB> std::fmt::Debug for DirectConn<DB> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("DirectConn")
        }
    }

    impl DirectConn {
        pub(crate) fn new(conn: rusqlite::Connection) -> DirectConn {
            DirectConn { conn, _db: PhantomData }
        }
    }

    /// A value that can be bound to a statement.
    pub(crate) trait Encode {
        fn value(&self) -> Value;
    }
    impl<T: Encode + ?Sized> Encode for &T {
        fn value(&self) -> Value {
            (**self).value()
        }
    }
    impl Encode for str {
        fn value(&self) -> Value {
            Value::Text(self.to_string())
        }
    }
    impl Encode for String {
        fn value(&self) -> Value {
            Value::Text(self.clone())
        }
    }
    impl Encode for i64 {
        fn value(&self) -> Value {
            Value::Integer(*self)
        }
    }
    impl Encode for i32 {
        fn value(&self) -> Value {
            Value::Integer(i64::from(*self))
        }
    }
    impl Encode for u32 {
        fn value(&self) -> Value {
            Value::Integer(i64::from(*self))
        }
    }
    impl Encode for bool {
        fn value(&self) -> Value {
            Value::Integer(i64::from(*self))
        }
    }
    impl Encode for f64 {
        fn value(&self) -> Value {
            Value::Real(*self)
        }
    }
    impl Encode for [u8] {
        fn value(&self) -> Value {
            Value::Blob(self.to_vec())
        }
    }
    impl Encode for Vec<u8> {
        fn value(&self) -> Value {
            Value::Blob(self.clone())
        }
    }
    impl<T: Encode> Encode for Option<T> {
        fn value(&self) -> Value {
            self.as_ref().map_or(Value::Null, Encode::value)
        }
    }

    /// A value a column can be read as.
    pub(crate) trait Decode: Sized {
        fn decode(v: &Value) -> Option<Self>;
    }
    impl Decode for String {
        fn decode(v: &Value) -> Option<Self> {
            match v {
                Value::Text(s) => Some(s.clone()),
                Value::Blob(b) => String::from_utf8(b.clone()).ok(),
                _ => None,
            }
        }
    }
    impl Decode for i64 {
        fn decode(v: &Value) -> Option<Self> {
            match v {
                Value::Integer(i) => Some(*i),
                _ => None,
            }
        }
    }
    impl Decode for i32 {
        fn decode(v: &Value) -> Option<Self> {
            match v {
                Value::Integer(i) => i32::try_from(*i).ok(),
                _ => None,
            }
        }
    }
    impl Decode for bool {
        fn decode(v: &Value) -> Option<Self> {
            match v {
                Value::Integer(i) => Some(*i != 0),
                _ => None,
            }
        }
    }
    impl Decode for f64 {
        fn decode(v: &Value) -> Option<Self> {
            match v {
                Value::Real(f) => Some(*f),
                Value::Integer(i) => Some(*i as f64),
                _ => None,
            }
        }
    }
    impl Decode for Vec<u8> {
        fn decode(v: &Value) -> Option<Self> {
            match v {
                Value::Blob(b) => Some(b.clone()),
                Value::Text(s) => Some(s.clone().into_bytes()),
                _ => None,
            }
        }
    }
    impl<T: Decode> Decode for Option<T> {
        fn decode(v: &Value) -> Option<Self> {
            match v {
                Value::Null => Some(None),
                v => T::decode(v).map(Some),
            }
        }
    }

    /// One result row.
    #[derive(Debug)]
    pub(crate) struct DirectRow {
        names: Arc<[String]>,
        values: Vec<Value>,
    }

    /// A column of a [`DirectRow`], by name or position.
    pub(crate) trait ColumnIndex {
        fn index(&self, row: &DirectRow) -> Result<usize, sqlx::Error>;
    }
    impl ColumnIndex for &str {
        fn index(&self, row: &DirectRow) -> Result<usize, sqlx::Error> {
            row.names.iter().position(|n| n == self).ok_or_else(|| sqlx::Error::ColumnNotFound(self.to_string()))
        }
    }
    impl ColumnIndex for usize {
        fn index(&self, row: &DirectRow) -> Result<usize, sqlx::Error> {
            if *self < row.values.len() {
                Ok(*self)
            } else {
                Err(sqlx::Error::ColumnIndexOutOfBounds { index: *self, len: row.values.len() })
            }
        }
    }

    impl DirectRow {
        pub(crate) fn try_get<T: Decode, I: ColumnIndex>(&self, column: I) -> Result<T, sqlx::Error> {
            let i = column.index(self)?;
            T::decode(&self.values[i]).ok_or_else(|| sqlx::Error::ColumnDecode {
                index: self.names[i].clone(),
                source: format!("cannot read {:?} as {}", self.values[i].data_type(), std::any::type_name::<T>())
                    .into(),
            })
        }
    }

    /// Rows read as tuples (`query_as`).
    pub(crate) trait FromRow: Sized {
        fn from_row(row: &DirectRow) -> Result<Self, sqlx::Error>;
    }
    macro_rules! tuple_from_row {
        ($($t:ident $i:tt),+) => {
            impl<$($t: Decode),+> FromRow for ($($t,)+) {
                fn from_row(row: &DirectRow) -> Result<Self, sqlx::Error> {
                    Ok(($(row.try_get::<$t, usize>($i)?,)+))
                }
            }
        };
    }
    tuple_from_row!(A 0);
    tuple_from_row!(A 0, B 1);
    tuple_from_row!(A 0, B 1, C 2);
    tuple_from_row!(A 0, B 1, C 2, D 3);
    tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
    tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
    tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
    tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
    tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
    tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);

    /// What `execute` returns.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct QueryResult {
        rows_affected: u64,
    }
    impl QueryResult {
        pub(crate) fn rows_affected(&self) -> u64 {
            self.rows_affected
        }
    }

    /// A statement with its arguments.
    pub(crate) struct Query<'q, DB = ()> {
        sql: &'q str,
        args: Vec<Value>,
        _db: PhantomData<DB>,
    }

    pub(crate) fn query(sql: &str) -> Query<'_> {
        Query { sql, args: Vec::new(), _db: PhantomData }
    }

    impl<'q, DB> Query<'q, DB> {
        pub(crate) fn bind<T: Encode>(mut self, value: T) -> Self {
            self.args.push(value.value());
            self
        }

        pub(crate) async fn execute(self, c: &mut DirectConn<DB>) -> Result<QueryResult, sqlx::Error> {
            let mut stmt = prepare(&c.conn, self.sql, &self.args)?;
            // Stepped to the end rather than `raw_execute`, which refuses a statement that
            // returns rows (`RETURNING`), as sqlx's `execute` does not.
            let read_only = stmt.readonly();
            let mut rows = stmt.raw_query();
            while rows.next().map_err(error)?.is_some() {}
            drop(rows);
            drop(stmt);
            Ok(QueryResult { rows_affected: if read_only { 0 } else { c.conn.changes() } })
        }

        pub(crate) async fn fetch_all(self, c: &mut DirectConn<DB>) -> Result<Vec<DirectRow>, sqlx::Error> {
            rows(&c.conn, self.sql, &self.args, usize::MAX)
        }

        pub(crate) async fn fetch_optional(self, c: &mut DirectConn<DB>) -> Result<Option<DirectRow>, sqlx::Error> {
            Ok(rows(&c.conn, self.sql, &self.args, 1)?.pop())
        }
    }

    /// A statement whose rows are read as tuples.
    pub(crate) struct QueryAs<'q, DB, O> {
        q: Query<'q, DB>,
        _out: PhantomData<O>,
    }

    pub(crate) fn query_as<DB, O: FromRow>(sql: &str) -> QueryAs<'_, DB, O> {
        QueryAs { q: Query { sql, args: Vec::new(), _db: PhantomData }, _out: PhantomData }
    }

    impl<'q, DB, O: FromRow> QueryAs<'q, DB, O> {
        pub(crate) fn bind<T: Encode>(mut self, value: T) -> Self {
            self.q.args.push(value.value());
            self
        }

        pub(crate) async fn fetch_all(self, c: &mut DirectConn<DB>) -> Result<Vec<O>, sqlx::Error> {
            rows(&c.conn, self.q.sql, &self.q.args, usize::MAX)?.iter().map(O::from_row).collect()
        }

        pub(crate) async fn fetch_optional(self, c: &mut DirectConn<DB>) -> Result<Option<O>, sqlx::Error> {
            rows(&c.conn, self.q.sql, &self.q.args, 1)?.first().map(O::from_row).transpose()
        }

        pub(crate) async fn fetch_one(self, c: &mut DirectConn<DB>) -> Result<O, sqlx::Error> {
            self.fetch_optional(c).await?.ok_or(sqlx::Error::RowNotFound)
        }
    }

    /// A statement whose rows are read as their first column.
    pub(crate) struct QueryScalar<'q, DB, O> {
        q: Query<'q, DB>,
        _out: PhantomData<O>,
    }

    pub(crate) fn query_scalar<DB, O: Decode>(sql: &str) -> QueryScalar<'_, DB, O> {
        QueryScalar { q: Query { sql, args: Vec::new(), _db: PhantomData }, _out: PhantomData }
    }

    impl<'q, DB, O: Decode> QueryScalar<'q, DB, O> {
        pub(crate) fn bind<T: Encode>(mut self, value: T) -> Self {
            self.q.args.push(value.value());
            self
        }

        pub(crate) async fn fetch_all(self, c: &mut DirectConn<DB>) -> Result<Vec<O>, sqlx::Error> {
            rows(&c.conn, self.q.sql, &self.q.args, usize::MAX)?.iter().map(|r| r.try_get::<O, usize>(0)).collect()
        }

        pub(crate) async fn fetch_optional(self, c: &mut DirectConn<DB>) -> Result<Option<O>, sqlx::Error> {
            rows(&c.conn, self.q.sql, &self.q.args, 1)?.first().map(|r| r.try_get::<O, usize>(0)).transpose()
        }

        pub(crate) async fn fetch_one(self, c: &mut DirectConn<DB>) -> Result<O, sqlx::Error> {
            self.fetch_optional(c).await?.ok_or(sqlx::Error::RowNotFound)
        }
    }

    /// Prepares (from the connection's statement cache) and binds, by sqlx's SQLite rules.
    fn prepare<'c>(
        conn: &'c rusqlite::Connection,
        sql: &str,
        args: &[Value],
    ) -> Result<rusqlite::CachedStatement<'c>, sqlx::Error> {
        let mut stmt = conn.prepare_cached(sql).map_err(error)?;
        let count = stmt.parameter_count();
        let order = if count > ORDER_CACHED_FROM {
            let cached = ORDERS.lock().unwrap_or_else(|p| p.into_inner()).get(sql).cloned();
            match cached {
                Some(order) => order,
                None => {
                    let order: Arc<[usize]> = argument_order(&stmt)?.into();
                    let mut orders = ORDERS.lock().unwrap_or_else(|p| p.into_inner());
                    if orders.len() >= ORDERS_KEPT {
                        orders.clear();
                    }
                    orders.insert(sql.into(), order.clone());
                    order
                }
            }
        } else {
            argument_order(&stmt)?.into()
        };
        for (i, n) in order.iter().enumerate() {
            let value = n
                .checked_sub(1)
                .and_then(|k| args.get(k))
                .ok_or_else(|| sqlx::Error::Protocol(format!("statement wants argument {n}, {} given", args.len())))?;
            stmt.raw_bind_parameter(i + 1, value).map_err(error)?;
        }
        Ok(stmt)
    }

    /// Statements with more parameters than this have their [`argument_order`] kept in
    /// [`ORDERS`]: SQLite finds a parameter's name by walking the statement's list of names, so
    /// naming every parameter of a statement costs steps in the square of their number (an
    /// `IN` list of 500 numbered ids: 125,000), once per statement text rather than per run.
    const ORDER_CACHED_FROM: usize = 64;
    /// At most this many statement texts are kept in [`ORDERS`] (cleared when full).
    const ORDERS_KEPT: usize = 512;
    static ORDERS: std::sync::LazyLock<std::sync::Mutex<Orders>> = std::sync::LazyLock::new(Default::default);
    /// Statement text → [`argument_order`].
    type Orders = std::collections::HashMap<Box<str>, Arc<[usize]>>;

    /// The argument (1-based) each parameter of `stmt` takes, by sqlx's rules: `$N` and `?N`
    /// take argument N, a bare `?` the next.
    fn argument_order(stmt: &rusqlite::Statement<'_>) -> Result<Vec<usize>, sqlx::Error> {
        let mut next = 0;
        (1..=stmt.parameter_count())
            .map(|i| match stmt.parameter_name(i) {
                Some(name) if name.len() > 1 && (name.starts_with('$') || name.starts_with('?')) => {
                    name[1..].parse::<usize>().map_err(|_| sqlx::Error::Protocol(format!("parameter {name}")))
                }
                _ => {
                    next += 1;
                    Ok(next)
                }
            })
            .collect()
    }

    pub(super) fn rows(
        conn: &rusqlite::Connection,
        sql: &str,
        args: &[Value],
        most: usize,
    ) -> Result<Vec<DirectRow>, sqlx::Error> {
        let mut stmt = prepare(conn, sql, args)?;
        let names: Arc<[String]> = stmt.column_names().into_iter().map(str::to_string).collect();
        let width = names.len();
        let mut out = Vec::new();
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next().map_err(error)? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(row.get::<usize, Value>(i).map_err(error)?);
            }
            out.push(DirectRow { names: names.clone(), values });
            if out.len() >= most {
                break;
            }
        }
        Ok(out)
    }

    /// A failed statement, as sqlx's SQLite driver reports it.
    #[derive(Debug)]
    pub(crate) struct DirectError {
        code: i32,
        message: String,
    }

    impl std::fmt::Display for DirectError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.message)
        }
    }

    impl std::error::Error for DirectError {}

    impl sqlx::error::DatabaseError for DirectError {
        fn message(&self) -> &str {
            &self.message
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(self.code.to_string().into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            use libsqlite3_sys as ffi;
            match self.code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    sqlx::error::ErrorKind::UniqueViolation
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => sqlx::error::ErrorKind::ForeignKeyViolation,
                ffi::SQLITE_CONSTRAINT_NOTNULL => sqlx::error::ErrorKind::NotNullViolation,
                ffi::SQLITE_CONSTRAINT_CHECK => sqlx::error::ErrorKind::CheckViolation,
                _ => sqlx::error::ErrorKind::Other,
            }
        }
    }

    /// rusqlite's error as sqlx's.
    pub(crate) fn error(e: rusqlite::Error) -> sqlx::Error {
        match e {
            rusqlite::Error::SqliteFailure(f, message) => sqlx::Error::Database(Box::new(DirectError {
                code: f.extended_code,
                message: message.unwrap_or_else(|| f.to_string()),
            })),
            e => sqlx::Error::Protocol(format!("SQLite: {e}")),
        }
    }
}

/// A result row of either path (sqlx's on SQLite or PostgreSQL, or [`shim::DirectRow`]), for
/// the row readers that statements of both paths share.
pub(crate) trait DbRow {
    /// The column `name` as a `T`.
    fn get<T: Column>(&self, name: &str) -> Result<T, sqlx::Error>;
}

/// A type a column can be read as on every path.
pub(crate) trait Column:
    shim::Decode
    + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
{
}

impl<T> Column for T where
    T: shim::Decode
        + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
{
}

/// A JSON document column read as its text: SQLite's `TEXT`, and on PostgreSQL the text of
/// `data::text` or the `jsonb` column itself. Selected as is, `jsonb` goes out in its binary
/// format (a version byte, then the text), and PostgreSQL runs its output function only for the
/// rows it returns: a cast in the select list runs in the scan, for every row a sort or an
/// `OFFSET` then throws away (see [`super::query::data_raw`]).
#[derive(Debug)]
pub(crate) struct JsonText(pub(crate) String);

/// PostgreSQL's `jsonb` type.
const JSONB_OID: sqlx::postgres::types::Oid = sqlx::postgres::types::Oid(3802);

impl sqlx::Type<sqlx::Postgres> for JsonText {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_oid(JSONB_OID)
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        ty.oid() == Some(JSONB_OID) || <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for JsonText {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        use sqlx::ValueRef;
        let binary_jsonb =
            value.format() == sqlx::postgres::PgValueFormat::Binary && value.type_info().oid() == Some(JSONB_OID);
        let bytes = value.as_bytes()?;
        let text = match (binary_jsonb, bytes.split_first()) {
            (false, _) => bytes,
            (true, Some((1, text))) => text,
            (true, _) => return Err("unsupported jsonb binary format version".into()),
        };
        Ok(JsonText(std::str::from_utf8(text)?.to_owned()))
    }
}

impl sqlx::Type<sqlx::Sqlite> for JsonText {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <String as sqlx::Type<sqlx::Sqlite>>::type_info()
    }

    fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for JsonText {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <String as sqlx::Decode<'r, sqlx::Sqlite>>::decode(value).map(JsonText)
    }
}

impl shim::Decode for JsonText {
    fn decode(v: &rusqlite::types::Value) -> Option<Self> {
        <String as shim::Decode>::decode(v).map(JsonText)
    }
}

impl DbRow for sqlx::sqlite::SqliteRow {
    fn get<T: Column>(&self, name: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, name)
    }
}

impl DbRow for sqlx::postgres::PgRow {
    fn get<T: Column>(&self, name: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, name)
    }
}

impl DbRow for shim::DirectRow {
    fn get<T: Column>(&self, name: &str) -> Result<T, sqlx::Error> {
        self.try_get(name)
    }
}
