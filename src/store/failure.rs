//! Whether a database failure can succeed later. Queues (the webhook inbox)
//! retry what can: a busy or locked database, a lost connection or an
//! exhausted pool, a serialization failure or deadlock, a duplicate key on
//! PostgreSQL (a concurrent writer inserted the row first), a full disk, and
//! whatever the environment may still fix (a schema a rolling deploy is
//! about to migrate, a missing privilege). What the data itself causes
//! fails the same way every time: a CHECK, NOT NULL or foreign key
//! violation, an overflow, a
//! value out of range or of the wrong type, a row that does not decode.
//! Retrying those only delays the dead letter, so they are permanent. The
//! reason given names the kind of failure and at most a constraint's name,
//! never the values involved.

use sqlx::error::{DatabaseError, ErrorKind};

/// What a failure means for a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// May succeed if tried again later.
    Transient,
    /// Fails the same way every time; the reason is readable and holds no
    /// data values.
    Permanent(String),
}

/// Classifies a failure by its kind and, for database errors, by
/// SQLSTATE (PostgreSQL) or result code (SQLite).
pub fn classify(error: &sqlx::Error) -> Failure {
    use sqlx::Error as E;
    match error {
        E::Database(db) => classify_database(db.as_ref()),
        E::RowNotFound => permanent("an expected row is missing"),
        E::ColumnDecode { .. } | E::Decode(_) => {
            permanent("a stored value does not decode (wrong type or out of range)")
        }
        E::Encode(_) => permanent("a value is out of the range the store accepts"),
        // I/O, TLS, the pool, a crashed worker, a protocol hiccup (also
        // raised where a concurrent writer won a race, see
        // `ledger::spend`), a schema that does not match yet.
        _ => Failure::Transient,
    }
}

fn permanent(reason: &str) -> Failure {
    Failure::Permanent(reason.to_owned())
}

fn classify_database(db: &dyn DatabaseError) -> Failure {
    let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
    // A duplicate key is what a concurrent writer leaves when it inserted
    // the same row first (two deliveries about one new customer on
    // PostgreSQL); tried again, the handler finds that row and passes.
    // SQLite has one writer, whose transaction read what it writes: there a
    // duplicate key comes back the same every time.
    if db.kind() == ErrorKind::UniqueViolation && !sqlite {
        return Failure::Transient;
    }
    if let Some(constraint) = constraint_kind(db) {
        return Failure::Permanent(constraint);
    }
    let code = db.code().unwrap_or_default();
    if sqlite {
        classify_sqlite(code.parse().unwrap_or(0), db.message())
    } else {
        classify_sqlstate(&code)
    }
}

/// Constraint violations, with the constraint's name when the database
/// gives one (a schema name, never a value).
fn constraint_kind(db: &dyn DatabaseError) -> Option<String> {
    let what = match db.kind() {
        ErrorKind::UniqueViolation => "a unique constraint",
        ErrorKind::ForeignKeyViolation => "a foreign key",
        ErrorKind::NotNullViolation => "a NOT NULL constraint",
        ErrorKind::CheckViolation => "a CHECK constraint",
        _ => return None,
    };
    let name = db.constraint().map(str::to_owned).or_else(|| {
        // SQLite names the constraint at the end of its message:
        // "CHECK constraint failed: customers_balance_in_range".
        db.message()
            .split_once("constraint failed: ")
            .map(|(_, name)| name.to_owned())
    });
    Some(match name {
        Some(name) => format!("the database refused the change: {what} ({name}) was violated"),
        None => format!("the database refused the change: {what} was violated"),
    })
}

/// PostgreSQL SQLSTATE classes the data causes: data exceptions (22, such
/// as 22003 numeric value out of range), integrity constraint violations
/// (23) and program limits (54, such as an index row too large: SQLite's
/// TOOBIG). Every other class (08 connection, 40 serialization failure or
/// deadlock, 53 resources, 55P03 lock not available, 57 operator
/// intervention, 42 an object missing) can pass.
fn classify_sqlstate(code: &str) -> Failure {
    match code.get(..2) {
        Some("22") => permanent("the database refused a value (out of range or malformed)"),
        Some("23") => permanent("the database refused the change: a constraint was violated"),
        Some("54") => permanent("the database refused a value that is too big"),
        _ => Failure::Transient,
    }
}

/// SQLite result codes the data causes: TOOBIG (18), CONSTRAINT (19),
/// MISMATCH (20), RANGE (25), and the "integer overflow" a SUM() raises.
/// Extended codes carry the primary code in their low byte. Every other
/// code (BUSY, LOCKED, IOERR, FULL, a table missing) can pass.
fn classify_sqlite(code: i64, message: &str) -> Failure {
    match code & 0xff {
        18 => permanent("the database refused a value that is too big"),
        19 => permanent("the database refused the change: a constraint was violated"),
        20 => permanent("the database refused a value of the wrong type"),
        25 => permanent("the database refused a value out of range"),
        _ if message.contains("integer overflow") => {
            permanent("integer overflow in the database: a figure is out of range")
        }
        _ => Failure::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite_error(sql: &str) -> sqlx::Error {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        sqlx::query(
            "CREATE TABLE t (n BIGINT NOT NULL CONSTRAINT t_n_in_range \
             CHECK (typeof(n) = 'integer' AND n BETWEEN -10 AND 10) UNIQUE)",
        )
        .execute(&mut conn)
        .await
        .expect("table");
        sqlx::query("INSERT INTO t (n) VALUES (1)")
            .execute(&mut conn)
            .await
            .expect("row");
        sqlx::query(sql)
            .execute(&mut conn)
            .await
            .expect_err("the statement must fail")
    }

    #[tokio::test]
    async fn deterministic_sqlite_failures_are_permanent_and_name_no_values() {
        let overflow =
            sqlite_error("SELECT SUM(x) FROM (SELECT 9223372036854775807 AS x UNION ALL SELECT 1)")
                .await;
        assert_eq!(
            classify(&overflow),
            permanent("integer overflow in the database: a figure is out of range")
        );
        let check = sqlite_error("INSERT INTO t (n) VALUES (2.5)").await;
        assert_eq!(
            classify(&check),
            Failure::Permanent(
                "the database refused the change: a CHECK constraint (t_n_in_range) was violated"
                    .into()
            )
        );
        // SQLite's one writer read what it writes: a duplicate key is the
        // data's, and comes back the same every time.
        let unique = sqlite_error("INSERT INTO t (n) VALUES (1)").await;
        match classify(&unique) {
            Failure::Permanent(reason) => {
                assert!(reason.contains("unique constraint"), "{reason}");
                assert!(!reason.contains('1'), "no values: {reason}");
            }
            Failure::Transient => panic!("a unique violation on SQLite is permanent"),
        }
    }

    #[test]
    fn passing_failures_are_transient() {
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), Failure::Transient);
        assert_eq!(classify_sqlite(5, "database is locked"), Failure::Transient);
        assert_eq!(
            classify_sqlite(517, "database is locked"),
            Failure::Transient
        );
        assert_eq!(classify_sqlstate("40001"), Failure::Transient);
        assert_eq!(classify_sqlstate("40P01"), Failure::Transient);
        assert_eq!(classify_sqlstate("08006"), Failure::Transient);
        assert_eq!(classify_sqlstate("55P03"), Failure::Transient);
        assert_eq!(
            classify_sqlite(1, "no such table: customers"),
            Failure::Transient
        );
        assert!(matches!(classify_sqlstate("22003"), Failure::Permanent(_)));
        assert!(matches!(classify_sqlstate("23514"), Failure::Permanent(_)));
        assert!(matches!(classify_sqlstate("54000"), Failure::Permanent(_)));
        assert!(matches!(
            classify(&sqlx::Error::Decode("real".into())),
            Failure::Permanent(_)
        ));
    }
}
