//! The two migration folders (`migrations/sqlite`, `migrations/postgres`)
//! must build one schema, because one store layer speaks to both. This
//! migrates a fresh database of each kind, reads back what each built (from
//! SQLite's `sqlite_master` and pragmas, from PostgreSQL's catalogs),
//! brings both into one shape and compares: tables, columns (type by
//! [`TYPES`], nullability, default, how ids are generated), primary keys,
//! unique constraints, indexes (columns, uniqueness, whether partial),
//! foreign keys, and CHECK constraints by name (their SQL differs by
//! dialect). A difference the dialects force is listed in [`ALLOWED`] with
//! its reason; an allowance that no longer matches a difference fails too,
//! so the list stays true.

use std::collections::{BTreeMap, BTreeSet};

use advocate::store::{DatabaseUrl, Store};
use sqlx::{AnyPool, Row};

use crate::helpers::{Backend, TestDb};

/// Declared types, as SQLite keeps them and as PostgreSQL reports them,
/// with the one name the comparison uses. SQLite integers are 64-bit
/// whatever they are called; `INTEGER` appears only for `INTEGER PRIMARY
/// KEY`, which makes the column the rowid. A type missing here reads as
/// `sqlite FOO` or `postgres foo` and so never matches: add it here first.
const TYPES: &[(&str, &str, &str)] = &[
    // (SQLite, PostgreSQL, common)
    ("INTEGER", "bigint", "int64"),
    ("BIGINT", "bigint", "int64"),
    ("TEXT", "text", "text"),
    ("BLOB", "bytea", "bytes"),
];

crate::on_both_backends!(migration_0020_dates_the_ledger_recorded_before_it);

/// Migration 0020 gives every entry recorded before it a business time as
/// it says: an order's earning its processing time, a cancellation its
/// cancellation time (neither later than the recording), anything else its
/// recording time.
async fn migration_0020_dates_the_ledger_recorded_before_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = DatabaseUrl::parse(db.url.clone()).expect("database url");
    let store = Store::connect(&url, 2).await.expect("connect");
    let folder = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let mut migrator = sqlx::migrate::Migrator::new(std::path::Path::new(folder))
        .await
        .expect("migrations");
    let before: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < 20)
        .cloned()
        .collect();
    migrator.migrations = before.into();
    migrator.run(store.writer()).await.expect("migrate to 0019");
    sqlx::query(
        "INSERT INTO shops (domain, status, created_at, updated_at) \
         VALUES ('old.myshopify.com', 'installed', 1, 1)",
    )
    .execute(store.writer())
    .await
    .unwrap();
    let shop: i64 = sqlx::query_scalar("SELECT id FROM shops")
        .fetch_one(store.reader())
        .await
        .unwrap();
    for sql in [
        // Processed at 1,000, cancelled at 5,000; processed at 9,000 (after
        // its earning was recorded: a clock ahead); no processing time.
        "INSERT INTO orders (shop_id, order_id, currency, subtotal_minor, total_minor, \
         processed_at, cancelled_at, created_at, updated_at) VALUES \
         ($1, 10, 'USD', 1, 1, 1000, 5000, 2000, 2000), \
         ($1, 11, 'USD', 1, 1, 9000, NULL, 2000, 2000), \
         ($1, 12, 'USD', 1, 1, NULL, NULL, 2000, 2000)",
        "INSERT INTO points_ledger (shop_id, customer_id, points, kind, reason, source_key, \
         order_id, created_at) VALUES \
         ($1, 7, 10, 'earn', 'r', 'order:10:v1', 10, 3000), \
         ($1, 7, -10, 'cancel', 'r', 'order:10:v2', 10, 6000), \
         ($1, 7, 5, 'earn', 'r', 'order:11:v1', 11, 4000), \
         ($1, 7, 5, 'earn', 'r', 'order:12:v1', 12, 4500), \
         ($1, 7, -2, 'clawback', 'r', 'order:11:v2', 11, 7000), \
         ($1, 7, 50, 'adjustment', 'r', 'adjust:1', NULL, 8000)",
    ] {
        sqlx::query(sql)
            .bind(shop)
            .execute(store.writer())
            .await
            .expect(sql);
    }
    store.migrate().await.expect("migrate");
    let dated: Vec<(String, i64)> =
        sqlx::query_as("SELECT source_key, occurred_at FROM points_ledger ORDER BY source_key")
            .fetch_all(store.reader())
            .await
            .unwrap();
    assert_eq!(
        dated,
        [
            ("adjust:1", 8000),
            ("order:10:v1", 1000),
            ("order:10:v2", 5000),
            ("order:11:v1", 4000),
            ("order:11:v2", 7000),
            ("order:12:v1", 4500),
        ]
        .map(|(k, t)| (k.to_owned(), t))
    );
}

/// Differences the dialects force, by fact key (see [`Schema`]), each with
/// the reason it is allowed.
const ALLOWED: &[(&str, &str)] = &[(
    "webhook_bodies: column id",
    "SQLite's rowid, so a body is found and deleted in the table's own b-tree; the ids are \
     those of inbox rows (never reused there), not assigned by this table",
)];

/// A schema as facts: the key names a thing the same way on both backends
/// (`customers: column email`, `orders: index orders_spend_by_customer`,
/// `points_ledger: unique (shop_id, source_key)`), the value says what it
/// is in common words (`text, null`). A table's own fact is keyed by its
/// bare name, so a missing table reads as one difference.
type Schema = BTreeMap<String, String>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgresql_migrations_build_the_same_schema() {
    let (_sqlite_db, sqlite) = migrated(Backend::Sqlite).await;
    let (_postgres_db, postgres) = migrated(Backend::Postgres).await;
    let sqlite = sqlite_schema(sqlite.writer()).await;
    let postgres = postgres_schema(postgres.writer()).await;

    // Two empty readings would compare equal: make sure both saw the schema.
    for (backend, schema) in [("SQLite", &sqlite), ("PostgreSQL", &postgres)] {
        for fact in [
            "customers: column points_balance",
            "points_ledger: unique (shop_id, source_key)",
            "orders: index orders_counted_by_paid_at",
            "redemptions: check redemptions_points_in_range",
            "orders: foreign key (shop_id)",
        ] {
            assert!(
                schema.contains_key(fact),
                "{backend} schema as read lacks `{fact}`: the reader is broken"
            );
        }
    }

    let differences = compare(&sqlite, &postgres, ALLOWED);
    assert!(
        differences.is_empty(),
        "migrations/sqlite and migrations/postgres build different schemas \
         (fix with a new migration on the wrong side, or allow it in ALLOWED \
         with a reason):\n{}",
        differences.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_changed_on_one_backend_only_is_reported() {
    let (_sqlite_db, sqlite) = migrated(Backend::Sqlite).await;
    let (_postgres_db, postgres) = migrated(Backend::Postgres).await;
    // Scratch databases: change each side the way a one-sided migration would.
    for statement in [
        "ALTER TABLE customers DROP COLUMN search_key",
        "DROP INDEX orders_maturing",
    ] {
        sqlx::query(statement)
            .execute(sqlite.writer())
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    for statement in [
        "ALTER TABLE orders ALTER COLUMN name SET NOT NULL",
        "ALTER TABLE nps_responses DROP CONSTRAINT nps_responses_score_check",
        "CREATE INDEX orders_by_email ON orders (shop_id, email_hash)",
    ] {
        sqlx::query(statement)
            .execute(postgres.writer())
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let sqlite = sqlite_schema(sqlite.writer()).await;
    let postgres = postgres_schema(postgres.writer()).await;

    let differences = compare(&sqlite, &postgres, ALLOWED);
    assert_eq!(
        differences,
        [
            "customers: column search_key: SQLite has nothing, PostgreSQL has `text, null`",
            "nps_responses: check nps_responses_score_check: SQLite has `check`, PostgreSQL has nothing",
            "orders: column name: SQLite has `text, null`, PostgreSQL has `text, not null`",
            "orders: index orders_by_email: SQLite has nothing, PostgreSQL has `(shop_id, email_hash)`",
            "orders: index orders_maturing: SQLite has nothing, PostgreSQL has `(spendable_at), partial`",
        ]
    );
}

#[test]
fn comparison_reports_each_difference_once_and_a_missing_table_as_one() {
    let ours = schema(&[
        ("shops", "table"),
        ("shops: column id", "int64, not null, identity"),
        ("shops: column domain", "text, not null"),
        ("gone", "table"),
        ("gone: column x", "int64, null"),
    ]);
    let theirs = schema(&[
        ("shops", "table"),
        ("shops: column id", "int64, not null, identity"),
        ("shops: column domain", "text, null"),
        ("shops: index shops_by_domain", "(domain)"),
    ]);
    assert_eq!(
        compare(&ours, &theirs, &[]),
        [
            "gone: SQLite has `table`, PostgreSQL has nothing",
            "shops: column domain: SQLite has `text, not null`, PostgreSQL has `text, null`",
            "shops: index shops_by_domain: SQLite has nothing, PostgreSQL has `(domain)`",
        ]
    );
    assert!(compare(&ours, &ours, &[]).is_empty());
}

#[test]
fn an_allowed_difference_passes_and_a_stale_allowance_fails() {
    let ours = schema(&[("t", "table"), ("t: index only_here", "(a), partial")]);
    let theirs = schema(&[("t", "table")]);
    let allowed = [("t: index only_here", "one dialect only")];
    assert!(compare(&ours, &theirs, &allowed).is_empty());
    assert_eq!(
        compare(&ours, &ours, &allowed),
        ["t: index only_here: allowed to differ (one dialect only), but does not"]
    );
    assert_eq!(
        compare(&theirs, &theirs, &allowed),
        ["t: index only_here: allowed to differ, but neither side has it"]
    );
}

#[test]
fn check_names_follow_postgresql_naming_when_sqlite_has_none() {
    let sql = "CREATE TABLE nps (
        id INTEGER PRIMARY KEY, -- a comment, with a check (x) in it
        score BIGINT NOT NULL CHECK (score BETWEEN 0 AND 10),
        kind TEXT DEFAULT 'check, this' CONSTRAINT nps_kind_known CHECK (kind IN ('a', 'b')),
        low BIGINT, high BIGINT,
        CHECK (low <= high),
        CONSTRAINT nps_low_in_range CHECK (typeof(low) = 'integer' AND low >= 0)
    )";
    let columns = ["id", "score", "kind", "low", "high"].map(String::from);
    assert_eq!(
        sqlite_check_names("nps", sql, &columns.into_iter().collect()),
        [
            "nps_score_check",
            "nps_kind_known",
            "nps_check",
            "nps_low_in_range"
        ]
    );
}

fn schema(facts: &[(&str, &str)]) -> Schema {
    facts
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// A fresh database of `backend`, migrated as the application does.
async fn migrated(backend: Backend) -> (TestDb, Store) {
    let db = TestDb::new(backend).await;
    let url = DatabaseUrl::parse(db.url.clone()).expect("database url");
    let store = Store::connect(&url, 2).await.expect("connect");
    store.migrate().await.expect("migrate");
    (db, store)
}

/// One line per difference, sorted by key; the keys of a table that one
/// side lacks altogether are left out (the table's own line says it).
fn compare(sqlite: &Schema, postgres: &Schema, allowed: &[(&str, &str)]) -> Vec<String> {
    let show = |value: Option<&String>| match value {
        Some(value) => format!("`{value}`"),
        None => "nothing".to_owned(),
    };
    let allowed: BTreeMap<&str, &str> = allowed.iter().copied().collect();
    let keys: BTreeSet<&String> = sqlite.keys().chain(postgres.keys()).collect();
    let table_missing = |key: &str| {
        key.split_once(": ")
            .is_some_and(|(table, _)| sqlite.contains_key(table) != postgres.contains_key(table))
    };
    let mut differences = Vec::new();
    for key in keys {
        let (ours, theirs) = (sqlite.get(key), postgres.get(key));
        let differs = ours != theirs;
        match allowed.get(key.as_str()) {
            Some(reason) if !differs => {
                differences.push(format!("{key}: allowed to differ ({reason}), but does not"))
            }
            Some(_) => {}
            None if differs && !table_missing(key) => differences.push(format!(
                "{key}: SQLite has {}, PostgreSQL has {}",
                show(ours),
                show(theirs)
            )),
            None => {}
        }
    }
    for key in allowed.keys() {
        if !sqlite.contains_key(*key) && !postgres.contains_key(*key) {
            differences.push(format!("{key}: allowed to differ, but neither side has it"));
        }
    }
    differences
}

fn common_type(declared: &str, column: usize, backend: &str) -> String {
    TYPES
        .iter()
        .find(|names| [names.0, names.1][column].eq_ignore_ascii_case(declared))
        .map(|names| names.2.to_owned())
        .unwrap_or_else(|| format!("{backend} {declared}"))
}

fn column_fact(common: &str, nullable: bool, default: Option<String>, generated: &str) -> String {
    let mut fact = format!("{common}, {}", if nullable { "null" } else { "not null" });
    if let Some(default) = default {
        fact.push_str(&format!(", default {default}"));
    }
    if !generated.is_empty() {
        fact.push_str(&format!(", {generated}"));
    }
    fact
}

fn list(columns: &[String]) -> String {
    format!("({})", columns.join(", "))
}

/// Rows grouped by their first `n` text columns, in query order.
type Grouped = BTreeMap<Vec<String>, Vec<sqlx::any::AnyRow>>;

fn group(rows: Vec<sqlx::any::AnyRow>, n: usize) -> Grouped {
    let mut grouped = Grouped::new();
    for row in rows {
        let key = (0..n).map(|i| row.get::<String, _>(i)).collect();
        grouped.entry(key).or_default().push(row);
    }
    grouped
}

async fn fetch(pool: &AnyPool, sql: &str) -> Vec<sqlx::any::AnyRow> {
    sqlx::query(sql)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn sqlite_schema(pool: &AnyPool) -> Schema {
    // The migration runner's table and SQLite's own (`sqlite_sequence`) are
    // not the application's schema.
    const OURS: &str = "m.type = 'table' AND m.name NOT LIKE 'sqlite%' \
                        AND m.name <> '_sqlx_migrations'";
    let mut schema = Schema::new();
    let tables = fetch(
        pool,
        &format!("SELECT m.name, m.sql FROM sqlite_master m WHERE {OURS} ORDER BY m.name"),
    )
    .await;
    let columns = fetch(
        pool,
        &format!(
            "SELECT m.name, p.name, p.type, p.\"notnull\", p.pk, p.dflt_value \
             FROM sqlite_master m, pragma_table_info(m.name) p WHERE {OURS} \
             ORDER BY m.name, p.cid"
        ),
    )
    .await;
    let columns = group(columns, 1);
    for table in &tables {
        let name: String = table.get(0);
        let sql: String = table.get(1);
        schema.insert(name.clone(), "table".into());
        let rows = columns
            .get(&vec![name.clone()])
            .map_or(&[][..], Vec::as_slice);
        let mut primary_key: Vec<(i64, String)> = Vec::new();
        for row in rows {
            let pk: i64 = row.get(4);
            if pk > 0 {
                primary_key.push((pk, row.get(1)));
            }
        }
        primary_key.sort();
        let mut names = BTreeSet::new();
        for row in rows {
            let column: String = row.get(1);
            let declared: String = row.get(2);
            let not_null: i64 = row.get(3);
            let default: Option<String> = row.get(5);
            // `INTEGER PRIMARY KEY` makes the column the rowid: never NULL,
            // filled in when omitted; AUTOINCREMENT also never reuses an id,
            // as a PostgreSQL identity does not.
            let rowid = primary_key.len() == 1
                && primary_key[0].1 == column
                && declared.eq_ignore_ascii_case("INTEGER");
            let generated = match (rowid, sql.to_uppercase().contains("AUTOINCREMENT")) {
                (true, true) => "identity",
                (true, false) => "rowid (ids may be reused)",
                (false, _) => "",
            };
            schema.insert(
                format!("{name}: column {column}"),
                column_fact(
                    &common_type(&declared, 0, "sqlite"),
                    not_null == 0 && !rowid,
                    default,
                    generated,
                ),
            );
            names.insert(column);
        }
        if !primary_key.is_empty() {
            let columns: Vec<String> = primary_key.into_iter().map(|(_, c)| c).collect();
            schema.insert(format!("{name}: primary key"), list(&columns));
        }
        for check in sqlite_check_names(&name, &sql, &names) {
            schema.insert(format!("{name}: check {check}"), "check".into());
        }
    }

    let indexes = fetch(
        pool,
        &format!(
            "SELECT m.name, il.name, il.\"unique\", il.origin, il.partial, ii.name \
             FROM sqlite_master m, pragma_index_list(m.name) il, pragma_index_info(il.name) ii \
             WHERE {OURS} ORDER BY m.name, il.name, ii.seqno"
        ),
    )
    .await;
    for (key, rows) in group(indexes, 2) {
        let (table, index) = (&key[0], &key[1]);
        let origin: String = rows[0].get(3);
        let unique: i64 = rows[0].get(2);
        let partial: i64 = rows[0].get(4);
        let columns: Vec<String> = rows
            .iter()
            .map(|row| {
                row.get::<Option<String>, _>(5)
                    .unwrap_or_else(|| "<expression>".into())
            })
            .collect();
        match origin.as_str() {
            // The primary key's index: compared as the primary key.
            "pk" => {}
            // A UNIQUE constraint: SQLite names its index itself.
            "u" => {
                schema.insert(
                    format!("{table}: unique {}", list(&columns)),
                    "constraint".into(),
                );
            }
            _ => {
                schema.insert(
                    format!("{table}: index {index}"),
                    index_fact(&columns, unique != 0, partial != 0),
                );
            }
        }
    }

    let foreign_keys = fetch(
        pool,
        &format!(
            "SELECT m.name, CAST(f.id AS TEXT), f.\"table\", f.\"from\", f.\"to\", f.on_delete \
             FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE {OURS} \
             ORDER BY m.name, f.id, f.seq"
        ),
    )
    .await;
    for (key, rows) in group(foreign_keys, 2) {
        let from: Vec<String> = rows.iter().map(|row| row.get(3)).collect();
        let to: Vec<String> = rows
            .iter()
            .map(|row| {
                row.get::<Option<String>, _>(4)
                    .unwrap_or_else(|| "<primary key>".into())
            })
            .collect();
        let referenced: String = rows[0].get(2);
        let on_delete: String = rows[0].get(5);
        schema.insert(
            format!("{}: foreign key {}", key[0], list(&from)),
            format!(
                "references {referenced} {}, on delete {}",
                list(&to),
                on_delete.to_lowercase()
            ),
        );
    }
    schema
}

fn index_fact(columns: &[String], unique: bool, partial: bool) -> String {
    let mut fact = list(columns);
    if unique {
        fact.push_str(", unique");
    }
    if partial {
        fact.push_str(", partial");
    }
    fact
}

async fn postgres_schema(pool: &AnyPool) -> Schema {
    let mut schema = Schema::new();
    let columns = fetch(
        pool,
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
                c.is_nullable::text, c.is_identity::text, c.column_default::text \
         FROM information_schema.columns c \
         JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
           AND c.table_name <> '_sqlx_migrations' \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .await;
    for row in columns {
        let table: String = row.get(0);
        let column: String = row.get(1);
        let data_type: String = row.get(2);
        let common = common_type(&data_type, 1, "postgres");
        let default = row
            .get::<Option<String>, _>(5)
            .map(|default| postgres_default(&default, &common));
        schema.insert(table.clone(), "table".into());
        schema.insert(
            format!("{table}: column {column}"),
            column_fact(
                &common,
                row.get::<String, _>(3) == "YES",
                default,
                if row.get::<String, _>(4) == "YES" {
                    "identity"
                } else {
                    ""
                },
            ),
        );
    }

    // Constraints with the columns they cover, in key order; a foreign
    // key's referenced column beside each of its own.
    let constraints = fetch(
        pool,
        "SELECT t.relname::text, c.conname::text, c.contype::text, \
                COALESCE(a.attname::text, ''), COALESCE(r.relname::text, ''), \
                COALESCE(ra.attname::text, ''), c.confdeltype::text \
         FROM pg_constraint c \
         JOIN pg_class t ON t.oid = c.conrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         LEFT JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(attnum, fattnum, ord) ON TRUE \
         LEFT JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum \
         LEFT JOIN pg_class r ON r.oid = c.confrelid \
         LEFT JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = k.fattnum \
         WHERE n.nspname = current_schema() AND c.contype IN ('p', 'u', 'f', 'c') \
           AND t.relname <> '_sqlx_migrations' \
         ORDER BY 1, 2, k.ord",
    )
    .await;
    for (key, rows) in group(constraints, 3) {
        let (table, name, kind) = (&key[0], &key[1], key[2].as_str());
        let columns: Vec<String> = rows.iter().map(|row| row.get(3)).collect();
        match kind {
            "p" => {
                schema.insert(format!("{table}: primary key"), list(&columns));
            }
            "u" => {
                schema.insert(
                    format!("{table}: unique {}", list(&columns)),
                    "constraint".into(),
                );
            }
            "f" => {
                let referenced: String = rows[0].get(4);
                let to: Vec<String> = rows.iter().map(|row| row.get(5)).collect();
                let on_delete = match rows[0].get::<String, _>(6).as_str() {
                    "a" => "no action",
                    "r" => "restrict",
                    "c" => "cascade",
                    "n" => "set null",
                    "d" => "set default",
                    other => panic!("unknown foreign key action {other}"),
                };
                schema.insert(
                    format!("{table}: foreign key {}", list(&columns)),
                    format!(
                        "references {referenced} {}, on delete {on_delete}",
                        list(&to)
                    ),
                );
            }
            _ => {
                schema.insert(format!("{table}: check {name}"), "check".into());
            }
        }
    }

    // Indexes that no primary key or unique constraint owns, one row per
    // key column (an expression's text where it is not a column).
    let indexes = fetch(
        pool,
        "SELECT t.relname::text, i.relname::text, \
                CASE WHEN ix.indisunique THEN 1 ELSE 0 END::bigint, \
                CASE WHEN ix.indpred IS NOT NULL THEN 1 ELSE 0 END::bigint, \
                pg_get_indexdef(ix.indexrelid, k.n, true), \
                CASE WHEN ix.indkey[k.n - 1] = 0 THEN 1 ELSE 0 END::bigint \
         FROM pg_index ix \
         JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         CROSS JOIN LATERAL generate_series(1, ix.indnkeyatts::int) AS k(n) \
         WHERE n.nspname = current_schema() AND t.relname <> '_sqlx_migrations' \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
                           WHERE c.conindid = ix.indexrelid AND c.conrelid = ix.indrelid \
                             AND c.contype IN ('p', 'u', 'x')) \
         ORDER BY 1, 2, k.n",
    )
    .await;
    for (key, rows) in group(indexes, 2) {
        let columns: Vec<String> = rows
            .iter()
            .map(|row| {
                if row.get::<i64, _>(5) == 1 {
                    "<expression>".to_owned()
                } else {
                    row.get::<String, _>(4).trim_matches('"').to_owned()
                }
            })
            .collect();
        schema.insert(
            format!("{}: index {}", key[0], key[1]),
            index_fact(
                &columns,
                rows[0].get::<i64, _>(2) == 1,
                rows[0].get::<i64, _>(3) == 1,
            ),
        );
    }
    schema
}

/// PostgreSQL shows a default with its cast (`'{}'::text`, `'-1'::integer`);
/// SQLite keeps it as written (`'{}'`, `-1`).
fn postgres_default(default: &str, common: &str) -> String {
    let mut value = default;
    while let Some((before, cast)) = value.rsplit_once("::") {
        if cast.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ') {
            value = before;
        } else {
            break;
        }
    }
    let value = value.trim_matches(|c| c == '(' || c == ')');
    if common == "int64" {
        let unquoted = value.trim_matches('\'');
        if unquoted.parse::<i64>().is_ok() {
            return unquoted.to_owned();
        }
    }
    value.to_owned()
}

/// The names of a SQLite table's CHECK constraints, read from its CREATE
/// TABLE text. An unnamed one gets the name PostgreSQL would give it:
/// `<table>_<column>_check` when its expression names one column,
/// `<table>_check` otherwise.
fn sqlite_check_names(table: &str, sql: &str, columns: &BTreeSet<String>) -> Vec<String> {
    let tokens = sql_tokens(sql);
    let mut names = Vec::new();
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        match token.as_str() {
            "(" => depth += 1,
            ")" => depth = depth.saturating_sub(1),
            _ => {}
        }
        // CHECK as a constraint is at the level of the column list.
        if depth != 1 || !token.eq_ignore_ascii_case("check") {
            continue;
        }
        if i >= 2 && tokens[i - 2].eq_ignore_ascii_case("constraint") {
            names.push(tokens[i - 1].trim_matches('"').to_owned());
            continue;
        }
        let mut inner = 0usize;
        let mut named = BTreeSet::new();
        for token in &tokens[i + 1..] {
            match token.as_str() {
                "(" => inner += 1,
                ")" => {
                    inner -= 1;
                    if inner == 0 {
                        break;
                    }
                }
                word => {
                    let word = word.trim_matches('"');
                    if columns.iter().any(|c| c.eq_ignore_ascii_case(word)) {
                        named.insert(word.to_lowercase());
                    }
                }
            }
        }
        let mut named = named.into_iter();
        names.push(match (named.next(), named.next()) {
            (Some(column), None) => format!("{table}_{column}_check"),
            _ => format!("{table}_check"),
        });
    }
    names
}

/// Words, quoted strings and identifiers (each one token), and single
/// punctuation characters; whitespace and comments dropped.
fn sql_tokens(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
            continue;
        }
        if c == '\'' || c == '"' {
            i += 1;
            // A doubled quote is the quote character itself.
            while i < chars.len() {
                if chars[i] == c {
                    if chars.get(i + 1) == Some(&c) {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else {
            i += 1;
        }
        tokens.push(chars[start..i.min(chars.len())].iter().collect());
    }
    tokens
}
