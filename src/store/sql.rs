//! The store's one connection type over two engines: SQLite (rusqlite, the default) and
//! PostgreSQL (the `postgres` crate). The store's queries are written once, in the
//! SQL both engines understand (standard SQL with `ON CONFLICT` upserts), with `?N`
//! placeholders; this module translates placeholders to PostgreSQL's `$N`, maps values
//! both ways (64-bit integers, doubles, text, bytes, booleans, NULL) and gives both
//! engines the same small API, shaped like rusqlite's so the store reads the same for
//! either. The few constructs that differ (date arithmetic, two-argument `MIN`) are
//! chosen per backend by the caller through [`Connection::is_postgres`].
//!
//! It must never hold a PostgreSQL call on an async runtime's worker thread without
//! telling the runtime: every PostgreSQL call goes through [`blocking`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;

use postgres::types::{IsNull, Type};

/// A value as both engines see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Bool(bool),
}

impl Value {
    /// The PostgreSQL type a parameter of this value is sent as when the server cannot
    /// infer one (NULL as text).
    fn pg_type(&self) -> Type {
        match self {
            Value::Integer(_) => Type::INT8,
            Value::Real(_) => Type::FLOAT8,
            Value::Blob(_) => Type::BYTEA,
            Value::Bool(_) => Type::BOOL,
            Value::Null | Value::Text(_) => Type::TEXT,
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Integer(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

/// Why a statement failed.
#[derive(Debug)]
pub enum Error {
    Sqlite(rusqlite::Error),
    Postgres(postgres::Error),
    /// `query_row` found no row (rusqlite's `QueryReturnedNoRows`).
    QueryReturnedNoRows,
    /// A column's value cannot be read as the type asked for.
    Type {
        column: usize,
        wanted: &'static str,
        found: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sqlite(e) => write!(f, "{e}"),
            // The server's message (with its detail) says more than the driver's summary.
            Error::Postgres(e) => match e.as_db_error() {
                Some(db) => write!(f, "{}: {}", db.severity(), db.message()),
                None => write!(f, "{e}"),
            },
            Error::QueryReturnedNoRows => write!(f, "query returned no rows"),
            Error::Type {
                column,
                wanted,
                found,
            } => {
                write!(f, "column {column}: expected {wanted}, found {found}")
            }
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Sqlite(e) => Some(e),
            Error::Postgres(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Error::QueryReturnedNoRows,
            e => Error::Sqlite(e),
        }
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Error {
        Error::Postgres(e)
    }
}

impl Error {
    /// Whether this is a unique-constraint violation (a second writer lost a race).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            Error::Postgres(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A statement parameter.
pub trait ToSql {
    fn to_value(&self) -> Value;
}

macro_rules! int_to_sql {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_value(&self) -> Value {
                Value::Integer(i64::from(*self))
            }
        }
    )*};
}
int_to_sql!(i64, i32, u32, u16, u8, i16, i8);

impl ToSql for usize {
    fn to_value(&self) -> Value {
        // Counts and offsets that do not fit 63 bits cannot occur in memory; saturate
        // rather than wrap if one ever did.
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToSql for u64 {
    fn to_value(&self) -> Value {
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToSql for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl ToSql for bool {
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
}

impl ToSql for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToSql for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToSql for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToSql for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl ToSql for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

/// A statement's parameters: `params![...]`, `[]` or [`params_from_iter`].
pub trait Params {
    fn values(self) -> Vec<Value>;
}

impl Params for &[&dyn ToSql] {
    fn values(self) -> Vec<Value> {
        self.iter().map(|p| p.to_value()).collect()
    }
}

impl Params for [&dyn ToSql; 0] {
    fn values(self) -> Vec<Value> {
        Vec::new()
    }
}

impl Params for Vec<Value> {
    fn values(self) -> Vec<Value> {
        self
    }
}

/// Parameters from an iterator (a statement built at run time).
pub struct ParamsFromIter(Vec<Value>);

pub fn params_from_iter<I>(iter: I) -> ParamsFromIter
where
    I: IntoIterator,
    I::Item: ToSql,
{
    ParamsFromIter(iter.into_iter().map(|v| v.to_value()).collect())
}

impl Params for ParamsFromIter {
    fn values(self) -> Vec<Value> {
        self.0
    }
}

/// `params![a, b]`: the parameters `?1`, `?2`.
macro_rules! params {
    () => { &[] as &[&dyn $crate::store::sql::ToSql] };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::store::sql::ToSql),+] as &[&dyn $crate::store::sql::ToSql]
    };
}
pub(crate) use params;

/// A column value read back.
pub trait FromSql: Sized {
    fn from_value(v: Value, column: usize) -> Result<Self>;
}

fn type_error<T>(column: usize, wanted: &'static str, v: &Value) -> Result<T> {
    Err(Error::Type {
        column,
        wanted,
        found: format!("{v:?}").chars().take(60).collect(),
    })
}

impl FromSql for i64 {
    fn from_value(v: Value, column: usize) -> Result<i64> {
        match v {
            Value::Integer(i) => Ok(i),
            Value::Bool(b) => Ok(i64::from(b)),
            // PostgreSQL's SUM and ROUND return numeric/double; whole values are integers.
            Value::Real(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Ok(f as i64),
            v => type_error(column, "integer", &v),
        }
    }
}

macro_rules! int_from_sql {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn from_value(v: Value, column: usize) -> Result<$t> {
                let i = i64::from_value(v, column)?;
                <$t>::try_from(i).or_else(|_| type_error(column, stringify!($t), &Value::Integer(i)))
            }
        }
    )*};
}
int_from_sql!(i32, u32, u16, u8, usize, u64);

impl FromSql for f64 {
    fn from_value(v: Value, column: usize) -> Result<f64> {
        match v {
            Value::Real(f) => Ok(f),
            Value::Integer(i) => Ok(i as f64),
            v => type_error(column, "real", &v),
        }
    }
}

impl FromSql for bool {
    fn from_value(v: Value, column: usize) -> Result<bool> {
        match v {
            Value::Bool(b) => Ok(b),
            Value::Integer(i) => Ok(i != 0),
            v => type_error(column, "boolean", &v),
        }
    }
}

impl FromSql for String {
    fn from_value(v: Value, column: usize) -> Result<String> {
        match v {
            Value::Text(s) => Ok(s),
            v => type_error(column, "text", &v),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_value(v: Value, column: usize) -> Result<Vec<u8>> {
        match v {
            Value::Blob(b) => Ok(b),
            Value::Text(s) => Ok(s.into_bytes()),
            v => type_error(column, "blob", &v),
        }
    }
}

impl FromSql for Value {
    fn from_value(v: Value, _column: usize) -> Result<Value> {
        Ok(v)
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_value(v: Value, column: usize) -> Result<Option<T>> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v, column).map(Some),
        }
    }
}

/// Column positions (only numeric: the store reads columns by position).
pub trait RowIndex {
    fn index(&self) -> usize;
}

impl RowIndex for usize {
    fn index(&self) -> usize {
        *self
    }
}

/// One result row, read into values.
#[derive(Debug, Clone)]
pub struct Row {
    values: Vec<Value>,
}

impl Row {
    /// Column `idx` as `T`.
    ///
    /// # Errors
    /// [`Error::Type`] when the value cannot be read as `T` (or the column is missing).
    pub fn get<I: RowIndex, T: FromSql>(&self, idx: I) -> Result<T> {
        let i = idx.index();
        match self.values.get(i) {
            Some(v) => T::from_value(v.clone(), i),
            None => type_error(i, "a column", &Value::Null),
        }
    }
}

/// `.optional()` on a `query_row` result, as in rusqlite.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// How many prepared statements one PostgreSQL connection keeps.
const MAX_CACHED_STATEMENTS: usize = 256;

/// A PostgreSQL connection and its prepared statements (keyed by translated SQL).
pub struct Pg {
    /// Dropped by hand (see `Drop for Pg`): closing the connection blocks.
    client: std::mem::ManuallyDrop<RefCell<postgres::Client>>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
}

enum Engine {
    Sqlite(rusqlite::Connection),
    Postgres(Box<Pg>),
}

/// A connection to either engine.
pub struct Connection {
    engine: Engine,
}

impl Connection {
    pub fn sqlite(conn: rusqlite::Connection) -> Connection {
        Connection {
            engine: Engine::Sqlite(conn),
        }
    }

    pub fn postgres(client: postgres::Client) -> Connection {
        Connection {
            engine: Engine::Postgres(Box::new(Pg {
                client: std::mem::ManuallyDrop::new(RefCell::new(client)),
                statements: RefCell::new(HashMap::new()),
            })),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }

    /// The SQLite connection, for the SQLite-only maintenance the store does (pragmas).
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.engine {
            Engine::Sqlite(c) => Some(c),
            Engine::Postgres(_) => None,
        }
    }

    /// Runs several statements without parameters (migrations).
    ///
    /// # Errors
    /// The engine's error.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.engine {
            Engine::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Engine::Postgres(pg) => {
                let mut guard = pg.client.borrow_mut();
                let client: &mut postgres::Client = &mut guard;
                blocking(|| client.batch_execute(sql))?;
                Ok(())
            }
        }
    }

    /// Runs one statement; returns the number of rows it changed.
    ///
    /// # Errors
    /// The engine's error.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        let values = params.values();
        match &self.engine {
            Engine::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(values.iter().map(lite)))?)
            }
            Engine::Postgres(pg) => {
                let n = pg.run(sql, &values, |client, stmt, params| {
                    client.execute(stmt, params)
                })?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// Runs an `INSERT` into a table with an `id` key and returns the new row's id.
    ///
    /// # Errors
    /// The engine's error.
    pub fn insert_id<P: Params>(&self, sql: &str, params: P) -> Result<i64> {
        self.insert_id_optional(sql, params)?
            .ok_or(Error::QueryReturnedNoRows)
    }

    /// [`Connection::insert_id`] for an `INSERT` that may insert nothing (`ON CONFLICT
    /// DO NOTHING`, `INSERT ... SELECT ... WHERE`): `None` when it did not.
    ///
    /// # Errors
    /// The engine's error.
    pub fn insert_id_optional<P: Params>(&self, sql: &str, params: P) -> Result<Option<i64>> {
        match &self.engine {
            Engine::Sqlite(c) => {
                let n = self.execute(sql, params)?;
                Ok((n == 1).then(|| c.last_insert_rowid()))
            }
            Engine::Postgres(_) => {
                let rows = self.query_rows(&format!("{sql} RETURNING id"), params)?;
                rows.first().map(|r| r.get(0)).transpose()
            }
        }
    }

    /// All rows of a query.
    ///
    /// # Errors
    /// The engine's error.
    pub fn query_rows<P: Params>(&self, sql: &str, params: P) -> Result<Vec<Row>> {
        let values = params.values();
        match &self.engine {
            Engine::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let n = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(values.iter().map(lite)))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut vals = Vec::with_capacity(n);
                    for i in 0..n {
                        vals.push(from_lite(r.get_ref(i)?));
                    }
                    out.push(Row { values: vals });
                }
                Ok(out)
            }
            Engine::Postgres(pg) => {
                let rows = pg.run(sql, &values, |client, stmt, params| {
                    client.query(stmt, params)
                })?;
                rows.iter()
                    .map(|r| {
                        let values = (0..r.len())
                            .map(|i| r.try_get::<_, PgValue>(i).map(|v| v.0))
                            .collect::<std::result::Result<Vec<_>, _>>()?;
                        Ok(Row { values })
                    })
                    .collect()
            }
        }
    }

    /// The first row of a query, mapped; [`Error::QueryReturnedNoRows`] when none.
    ///
    /// # Errors
    /// The engine's error, or `f`'s.
    pub fn query_row<T, P: Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        let rows = self.query_rows(sql, params)?;
        match rows.first() {
            Some(r) => f(r),
            None => Err(Error::QueryReturnedNoRows),
        }
    }

    /// Every row of a query, mapped (rusqlite's `prepare` + `query_map`, collected).
    /// On SQLite each row is mapped as it is read, so a large result (the index's
    /// fingerprints at start-up) never exists twice in memory.
    ///
    /// # Errors
    /// The engine's error, or `f`'s.
    pub fn query_map<T, P: Params>(
        &self,
        sql: &str,
        params: P,
        mut f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        match &self.engine {
            Engine::Sqlite(c) => {
                let values = params.values();
                let mut stmt = c.prepare_cached(sql)?;
                let n = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(values.iter().map(lite)))?;
                let mut out = Vec::new();
                let mut row = Row {
                    values: Vec::with_capacity(n),
                };
                while let Some(r) = rows.next()? {
                    row.values.clear();
                    for i in 0..n {
                        row.values.push(from_lite(r.get_ref(i)?));
                    }
                    out.push(f(&row));
                }
                Ok(out.into_iter())
            }
            Engine::Postgres(_) => {
                let rows = self.query_rows(sql, params)?;
                Ok(rows.iter().map(&mut f).collect::<Vec<_>>().into_iter())
            }
        }
    }

    /// rusqlite's `prepare`: a statement bound to this connection.
    ///
    /// # Errors
    /// None at preparation: errors come when it runs.
    pub fn prepare<'c>(&'c self, sql: &str) -> Result<Statement<'c>> {
        Ok(Statement {
            conn: self,
            sql: sql.to_string(),
        })
    }

    /// Same as [`Connection::prepare`]: both engines cache prepared statements.
    ///
    /// # Errors
    /// None at preparation.
    pub fn prepare_cached<'c>(&'c self, sql: &str) -> Result<Statement<'c>> {
        self.prepare(sql)
    }

    /// Begins a write transaction that holds the write lock at once: `BEGIN IMMEDIATE`
    /// on SQLite (see `store::begin_write`); on PostgreSQL a transaction-scoped
    /// advisory lock ([`WRITE_LOCK`]) that every store write transaction takes first.
    ///
    /// That lock is what keeps the store's read-then-write transactions (is this match
    /// known? is this decision a move into infringing?) exactly as correct across
    /// processes as they are on SQLite, where one writer at a time is the rule: two
    /// processes recording the same match or deciding the same match one after the
    /// other see each other's committed rows. Readers never wait for it, and the
    /// outbox's claims are conditional updates that need no lock. Finer locks (per
    /// match, per queue) can replace it where write throughput across many machines
    /// matters.
    ///
    /// # Errors
    /// The engine's error.
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        let begin = if self.is_postgres() {
            format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})")
        } else {
            "BEGIN IMMEDIATE".to_string()
        };
        self.execute_batch(&begin)?;
        Ok(Transaction {
            conn: self,
            done: false,
        })
    }
}

/// The PostgreSQL advisory lock key store write transactions take (an arbitrary
/// constant: "copyhound" in a 64-bit space no other application is expected to use).
pub const WRITE_LOCK: i64 = 0x636f_7079_686f_756e;

/// A statement to run (see [`Connection::prepare`]).
pub struct Statement<'c> {
    conn: &'c Connection,
    sql: String,
}

impl Statement<'_> {
    /// # Errors
    /// The engine's error.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.conn.execute(&self.sql, params)
    }

    /// # Errors
    /// The engine's error, or `f`'s.
    pub fn query_map<T, P: Params>(
        &mut self,
        params: P,
        f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        self.conn.query_map(&self.sql, params, f)
    }

    /// # Errors
    /// The engine's error, or `f`'s.
    pub fn query_row<T, P: Params>(
        &mut self,
        params: P,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        self.conn.query_row(&self.sql, params, f)
    }

    /// # Errors
    /// The engine's error.
    pub fn query<P: Params>(&mut self, params: P) -> Result<Rows> {
        Ok(Rows {
            rows: self.conn.query_rows(&self.sql, params)?.into_iter(),
            current: None,
        })
    }
}

/// Rows read by [`Statement::query`].
pub struct Rows {
    rows: std::vec::IntoIter<Row>,
    current: Option<Row>,
}

impl Rows {
    /// The next row, as rusqlite's `Rows::next`.
    ///
    /// # Errors
    /// None: the rows were read when the query ran.
    pub fn next(&mut self) -> Result<Option<&Row>> {
        self.current = self.rows.next();
        Ok(self.current.as_ref())
    }
}

/// A transaction: rolled back when dropped without [`Transaction::commit`].
pub struct Transaction<'c> {
    conn: &'c mut Connection,
    done: bool,
}

impl Transaction<'_> {
    /// # Errors
    /// The engine's error; the transaction is then rolled back.
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Nothing to report to: the caller is already returning its own error.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // SAFETY: `client` is taken once, here, and never used again: `self` is being
        // dropped.
        let client = unsafe { std::mem::ManuallyDrop::take(&mut self.client) };
        // Closing the connection blocks on the driver's runtime, which must not happen
        // on an async runtime's thread (a store dropped inside a task).
        let client = client.into_inner();
        blocking(move || drop(client));
    }
}

impl Pg {
    /// Prepares `sql` (translated, cached) and runs `f` with it and `values`.
    fn run<T>(
        &self,
        sql: &str,
        values: &[Value],
        f: impl FnOnce(
                &mut postgres::Client,
                &postgres::Statement,
                &[&(dyn postgres::types::ToSql + Sync)],
            ) -> std::result::Result<T, postgres::Error>
            + Send,
    ) -> Result<T>
    where
        T: Send,
    {
        let mut client = self.client.borrow_mut();
        let mut statements = self.statements.borrow_mut();
        let stmt = match statements.get(sql) {
            Some(s) => s.clone(),
            None => {
                let translated = translate(sql);
                let client = &mut *client;
                match blocking(|| client.prepare(&translated)) {
                    Ok(s) => {
                        // Some statements are built at run time (a queue page's offset
                        // is in its text): the cache is bounded, and simply emptied
                        // when full, which costs one re-preparation per statement.
                        if statements.len() >= MAX_CACHED_STATEMENTS {
                            statements.clear();
                        }
                        statements.insert(sql.to_string(), s.clone());
                        s
                    }
                    // A parameter whose type PostgreSQL cannot infer (`?2 IS NULL OR
                    // status = ?2`): prepare again with the types of the values sent.
                    // Not cached, since the next call's values may be typed otherwise.
                    Err(e)
                        if e.code() == Some(&postgres::error::SqlState::INDETERMINATE_DATATYPE)
                            || e.code()
                                == Some(&postgres::error::SqlState::AMBIGUOUS_PARAMETER) =>
                    {
                        let types: Vec<Type> = values.iter().map(Value::pg_type).collect();
                        blocking(|| client.prepare_typed(&translated, &types))?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = values
            .iter()
            .map(|v| v as &(dyn postgres::types::ToSql + Sync))
            .collect();
        let client = &mut *client;
        Ok(blocking(|| f(client, &stmt, &params))?)
    }
}

/// Runs a blocking PostgreSQL call. The `postgres` crate drives its connection on a
/// runtime of its own, which may not be entered from an async runtime's thread: on a
/// multi-threaded runtime's worker the call is wrapped in `block_in_place` (the other
/// tasks move to other workers); on a current-thread runtime (tests) it runs on a
/// scoped thread of its own; outside any runtime it just runs.
pub fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match tokio::runtime::Handle::try_current() {
        Err(_) => f(),
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        Ok(_) => std::thread::scope(|s| match s.spawn(f).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
    }
}

/// `?N` and `?` placeholders to PostgreSQL's `$N`, outside string literals; `LIKE` to
/// `ILIKE`, because SQLite's `LIKE` ignores (ASCII) case and the store's searches rely
/// on that; and SQLite's index hints (`INDEXED BY name`) dropped, since PostgreSQL's
/// planner takes none.
pub fn translate(sql: &str) -> String {
    let mut sql = sql.replace(" LIKE ", " ILIKE ");
    while let Some(i) = sql.find("INDEXED BY ") {
        let rest = &sql[i + "INDEXED BY ".len()..];
        let name_len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        sql.replace_range(i..i + "INDEXED BY ".len() + name_len, "");
    }
    let sql = sql.as_str();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut in_string = false;
    let mut next_anon = 1;
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_string = !in_string;
            out.push(c);
        } else if c == '?' && !in_string {
            let mut digits = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                digits.push(d);
                chars.next();
            }
            out.push('$');
            if digits.is_empty() {
                out.push_str(&next_anon.to_string());
                next_anon += 1;
            } else {
                out.push_str(&digits);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn lite(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as L;
    match v {
        Value::Null => L::Null,
        Value::Integer(i) => L::Integer(*i),
        Value::Real(f) => L::Real(*f),
        Value::Text(s) => L::Text(s.clone()),
        Value::Blob(b) => L::Blob(b.clone()),
        Value::Bool(b) => L::Integer(i64::from(*b)),
    }
}

fn from_lite(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef as L;
    match v {
        L::Null => Value::Null,
        L::Integer(i) => Value::Integer(i),
        L::Real(f) => Value::Real(f),
        L::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        L::Blob(b) => Value::Blob(b.to_vec()),
    }
}

type BoxError = Box<dyn StdError + Sync + Send>;

/// Encodes a [`Value`] as whatever type PostgreSQL inferred for the parameter, so one
/// integer can fill a BIGINT, INTEGER, DOUBLE or BOOLEAN parameter alike.
impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, BoxError> {
        match (self, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Integer(i), t) if *t == Type::INT8 => i.to_sql(ty, out),
            (Value::Integer(i), t) if *t == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            (Value::Integer(i), t) if *t == Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
            (Value::Integer(i), t) if *t == Type::FLOAT8 => (*i as f64).to_sql(ty, out),
            (Value::Integer(i), t) if *t == Type::BOOL => (*i != 0).to_sql(ty, out),
            (Value::Integer(i), t) if *t == Type::TEXT || *t == Type::VARCHAR => {
                i.to_string().to_sql(ty, out)
            }
            (Value::Real(f), t) if *t == Type::FLOAT8 => f.to_sql(ty, out),
            (Value::Real(f), t) if *t == Type::FLOAT4 => (*f as f32).to_sql(ty, out),
            (Value::Bool(b), t) if *t == Type::BOOL => b.to_sql(ty, out),
            (Value::Bool(b), t) if *t == Type::INT8 => i64::from(*b).to_sql(ty, out),
            (Value::Bool(b), t) if *t == Type::INT4 => i32::from(*b).to_sql(ty, out),
            (Value::Text(s), t) if *t == Type::BYTEA => s.as_bytes().to_sql(ty, out),
            (Value::Text(s), _) => s.as_str().to_sql(ty, out),
            (Value::Blob(b), _) => b.as_slice().to_sql(ty, out),
            (v, t) => Err(format!("cannot send {v:?} as {t}").into()),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// Any column PostgreSQL sends, read into a [`Value`].
struct PgValue(Value);

impl<'a> postgres::types::FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<PgValue, BoxError> {
        use postgres::types::FromSql as F;
        let v = match *ty {
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Integer(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => Value::Integer(i64::from(i16::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
            Type::BYTEA => Value::Blob(<Vec<u8> as F>::from_sql(ty, raw)?),
            Type::NUMERIC => numeric(raw)?,
            _ => Value::Text(<String as F>::from_sql(ty, raw)?),
        };
        Ok(PgValue(v))
    }

    fn from_sql_null(_ty: &Type) -> std::result::Result<PgValue, BoxError> {
        Ok(PgValue(Value::Null))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// PostgreSQL's binary NUMERIC (what `SUM(BIGINT)` returns): base-10000 digits with a
/// weight. Whole numbers come back as integers, others as doubles.
fn numeric(raw: &[u8]) -> std::result::Result<Value, BoxError> {
    let word = |i: usize| -> std::result::Result<i16, BoxError> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated numeric".into())
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| "bad numeric")?;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    let scale = word(3)?;
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let mut value = 0f64;
    for i in 0..ndigits {
        let exp = weight - i32::try_from(i).map_err(|_| "bad numeric")?;
        value += f64::from(word(4 + i)?) * 10000f64.powi(exp);
    }
    let value = if sign == 0x4000 { -value } else { value };
    if scale == 0 && value.abs() < 9.0e18 {
        Ok(Value::Integer(value as i64))
    } else {
        Ok(Value::Real(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_translated_outside_strings() {
        assert_eq!(
            translate("SELECT ?1, '?', ?2 WHERE a = ?1"),
            "SELECT $1, '?', $2 WHERE a = $1"
        );
        assert_eq!(translate("a = ? AND b = ?"), "a = $1 AND b = $2");
        assert_eq!(
            translate("FROM matches INDEXED BY matches_host_original\n WHERE x LIKE ?1"),
            "FROM matches \n WHERE x ILIKE $1"
        );
    }

    #[test]
    fn numeric_decodes() {
        // 12345678 = digits [1234, 5678], weight 1, scale 0.
        let raw = [0u8, 2, 0, 1, 0, 0, 0, 0, 0x04, 0xD2, 0x16, 0x2E];
        assert_eq!(numeric(&raw).unwrap(), Value::Integer(12_345_678));
        // 0 = no digits.
        assert_eq!(
            numeric(&[0, 0, 0, 0, 0, 0, 0, 0]).unwrap(),
            Value::Integer(0)
        );
    }
}
