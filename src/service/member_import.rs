//! Members brought over from another loyalty program: a CSV file read,
//! checked against the shop's customers and program, shown as a dry run,
//! then imported once per file.
//!
//! The dry run and the import share one plan ([`plan`]), so they agree:
//! the same rows are usable, the same points added, the same problems
//! reported. The import writes in transactions of [`CHUNK`] rows, so
//! webhook intake waits at most one chunk, and each row's effects are
//! idempotent (the ledger entry's source key is the file and the
//! customer; the referral code, birthday and tier floor are set to a
//! value): an import stopped half-way is finished by importing the file
//! again, and a file imported before changes nothing. The file itself is
//! never stored; problems name a line and a reason, never the row's data.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::{
    engine::{tiers, EngineError},
    loyalty::{
        member_import::{
            self as rules, CsvFile, FileError, Key, Mapping, MappingError, Problem, Row,
        },
        points::Points,
        CustomerId, EpochMs, ShopId,
    },
    store::{
        customers,
        ledger::{self, NewEntry},
        member_imports::{self, Found, ImportRecord},
        program::{self, Program},
        Store,
    },
};

/// Rows written per transaction.
pub const CHUNK: usize = 500;
/// Changes listed in an answer (all are counted).
pub const LISTED_CHANGES: usize = 100;
/// Problems listed in an answer (all are counted).
pub const LISTED_PROBLEMS: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    File(#[from] FileError),
    #[error("{0}")]
    Mapping(#[from] MappingError),
    #[error("unknown format {0:?}")]
    UnknownFormat(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What the mapping step shows: the file's columns, the app format they
/// look like, and the mapping it suggests.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub file_id: String,
    pub rows: usize,
    pub columns: Vec<String>,
    /// The detected format (`generic` when no app's fits).
    pub format: &'static str,
    pub mapping: Mapping,
    pub formats: Vec<FormatOut>,
    /// The earlier import of this file, if any.
    pub imported: Option<ImportRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FormatOut {
    pub id: &'static str,
    pub name: &'static str,
}

/// Reads the header of a file and suggests a mapping.
pub async fn inspect(store: &Store, shop_id: i64, bytes: &[u8]) -> Result<Inspection, ImportError> {
    let file = rules::parse_csv(bytes)?;
    let format = rules::detect(&file.columns)
        .or_else(|| rules::format("generic"))
        .expect("the generic format exists");
    let file_id = rules::file_id(bytes);
    let mut conn = store.reader().acquire().await?;
    let imported = member_imports::find(&mut conn, shop_id, &file_id).await?;
    Ok(Inspection {
        file_id,
        rows: file.records.len(),
        mapping: rules::suggest(format, &file.columns),
        columns: file.columns,
        format: format.id,
        formats: rules::FORMATS
            .iter()
            .map(|f| FormatOut {
                id: f.id,
                name: f.name,
            })
            .collect(),
        imported,
    })
}

/// How to read a file: a format (its mapping is suggested from the
/// header), or a mapping of the merchant's own (it wins).
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub format: Option<String>,
    pub mapping: Option<Mapping>,
}

/// One customer's change, as the dry run shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub line: usize,
    pub customer_id: i64,
    pub points: i64,
    pub balance_before: i64,
    pub balance_after: i64,
    /// The tier id held at least from now on.
    pub tier: Option<String>,
    pub referral_code: Option<String>,
    pub birthday: Option<String>,
}

/// What a dry run would do, or what an import did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file_id: String,
    pub format: String,
    pub dry_run: bool,
    /// The file was imported before: nothing changed now, and the counts
    /// are those of that import.
    pub already_imported: bool,
    pub rows: usize,
    /// Rows applied (or that would be).
    pub usable: usize,
    /// Points added, over all usable rows.
    pub points: i64,
    pub changes_total: usize,
    /// The first [`LISTED_CHANGES`] changes, in file order.
    pub changes: Vec<Change>,
    pub problems_total: usize,
    /// The first [`LISTED_PROBLEMS`] problems, by line.
    pub problems: Vec<Problem>,
}

/// A file read and checked against the shop: the changes to make, in file
/// order, and the problems.
struct Plan {
    file_id: String,
    format: &'static str,
    rows: usize,
    changes: Vec<Change>,
    points: i64,
    problems: Vec<Problem>,
}

/// What the import of a file would do; changes nothing.
pub async fn dry_run(
    store: &Store,
    shop_id: i64,
    bytes: &[u8],
    reading: &Reading,
) -> Result<Report, ImportError> {
    let plan = plan(store, shop_id, bytes, reading).await?;
    let mut conn = store.reader().acquire().await?;
    let earlier = member_imports::find(&mut conn, shop_id, &plan.file_id).await?;
    let done = earlier.as_ref().is_some_and(|r| r.status == "done");
    Ok(report(plan, true, done))
}

/// Imports a file once: a file imported before changes nothing (its
/// report says so); one stopped half-way is finished.
pub async fn import(
    store: &Store,
    shop_id: i64,
    bytes: &[u8],
    reading: &Reading,
    now: i64,
) -> Result<Report, ImportError> {
    let file_id = rules::file_id(bytes);
    {
        let mut conn = store.reader().acquire().await?;
        if let Some(done) = member_imports::find(&mut conn, shop_id, &file_id)
            .await?
            .filter(|r| r.status == "done")
        {
            return Ok(earlier_report(done));
        }
    }
    let plan = plan(store, shop_id, bytes, reading).await?;
    let mut tx = store.begin().await?;
    member_imports::start(
        &mut tx,
        shop_id,
        &plan.file_id,
        plan.format,
        plan.rows as i64,
        now,
    )
    .await?;
    tx.commit().await?;
    let name = rules::format(plan.format).map_or(plan.format, |f| f.name);
    for chunk in plan.changes.chunks(CHUNK) {
        apply(store, shop_id, &plan.file_id, name, chunk, now).await?;
    }
    let mut tx = store.begin().await?;
    let counts = (
        plan.changes.len() as i64,
        plan.points,
        plan.problems.len() as i64,
    );
    member_imports::finish(&mut tx, shop_id, &plan.file_id, counts, now).await?;
    tx.commit().await?;
    tracing::info!(
        shop_id,
        file_id = %plan.file_id,
        imported = plan.changes.len(),
        problems = plan.problems.len(),
        "members imported"
    );
    Ok(report(plan, false, false))
}

/// The shop's imports, latest first.
pub async fn history(store: &Store, shop_id: i64) -> Result<Vec<ImportRecord>, ImportError> {
    let mut conn = store.reader().acquire().await?;
    Ok(member_imports::list(&mut conn, shop_id, 50).await?)
}

/// One chunk of changes in one transaction.
async fn apply(
    store: &Store,
    shop_id: i64,
    file_id: &str,
    format_name: &str,
    changes: &[Change],
    now: i64,
) -> Result<(), ImportError> {
    let mut tx = store.begin().await?;
    let program = program::get_program(&mut tx, shop_id).await?;
    let keys: Vec<String> = changes
        .iter()
        .map(|c| format!("import:{file_id}:{}", c.customer_id))
        .collect();
    let reasons: Vec<String> = changes
        .iter()
        .map(|c| format!("Carried over from {format_name}: {} points", c.points))
        .collect();
    let entries: Vec<NewEntry<'_>> = changes
        .iter()
        .zip(keys.iter().zip(&reasons))
        .filter(|(c, _)| c.points > 0)
        .map(|(c, (key, reason))| NewEntry {
            settings_version: Some(program.version),
            ..NewEntry::new(
                shop_id,
                c.customer_id,
                c.points,
                ledger::kind::IMPORT,
                reason,
                key,
            )
        })
        .collect();
    ledger::append_many(&mut tx, shop_id, &entries, &[], now).await?;
    let codes: Vec<(i64, &str)> = changes
        .iter()
        .filter_map(|c| Some((c.customer_id, c.referral_code.as_deref()?)))
        .collect();
    member_imports::set_referral_codes(&mut tx, shop_id, &codes, now).await?;
    let birthdays: Vec<(i64, &str)> = changes
        .iter()
        .filter_map(|c| Some((c.customer_id, c.birthday.as_deref()?)))
        .collect();
    customers::set_birthdays(&mut tx, shop_id, &birthdays, now).await?;
    // Imported points are not earned on orders: they move no tier. A tier
    // carried over is held at least from now on.
    for c in changes {
        if let Some(tier) = &c.tier {
            member_imports::set_tier_floor(&mut tx, shop_id, c.customer_id, tier, now).await?;
            tiers::reevaluate_carried_over(
                &mut tx,
                ShopId(shop_id),
                &program,
                CustomerId(c.customer_id),
                EpochMs(now),
                &format!("carried over from {format_name}"),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Reads the file, finds each row's customer and checks its tier and
/// referral code against the shop; read-only.
async fn plan(
    store: &Store,
    shop_id: i64,
    bytes: &[u8],
    reading: &Reading,
) -> Result<Plan, ImportError> {
    let file = rules::parse_csv(bytes)?;
    let (format, mapping) = mapping_for(&file, reading)?;
    let columns = rules::resolve(&mapping, &file.columns)?;
    let (rows, mut problems) = rules::rows(&file, &columns);
    let mut conn = store.reader().acquire().await?;
    let program = program::get_program(&mut conn, shop_id).await?;
    let found = find_customers(&mut conn, shop_id, &rows).await?;
    let mut matched = Vec::with_capacity(rows.len());
    for row in rows {
        match found.get(&row.key) {
            Some(Ok(customer)) => {
                let customer = *customer;
                matched.push((row, customer.customer_id, customer.points_balance));
            }
            Some(Err(reason)) => problems.push(Problem::new(row.line, *reason)),
            None => problems.push(Problem::new(
                row.line,
                match row.key {
                    Key::Id(_) => "no customer with this id in Advocate",
                    Key::Email(_) => "no customer with this email in Advocate",
                },
            )),
        }
    }
    let balances: HashMap<i64, i64> = matched.iter().map(|(_, c, b)| (*c, *b)).collect();
    let kept = rules::first_per_customer(
        matched.into_iter().map(|(r, c, _)| (r, c)).collect(),
        &mut problems,
    );
    let codes: Vec<&str> = kept
        .iter()
        .filter_map(|(r, _)| r.referral_code.as_deref())
        .collect();
    let owners = member_imports::code_owners(&mut conn, shop_id, &codes).await?;
    drop(conn);
    let mut codes_in_file: BTreeMap<String, usize> = BTreeMap::new();
    let mut changes = Vec::with_capacity(kept.len());
    let mut points = Points::ZERO;
    for (row, customer) in kept {
        match change(&program, &row, customer, &balances, &owners, &codes_in_file) {
            Ok(change) => {
                if let Some(code) = &change.referral_code {
                    codes_in_file.insert(code.clone(), row.line);
                }
                points = points
                    .checked_add(Points::new(change.points).unwrap_or(Points::ZERO))
                    .unwrap_or(points);
                changes.push(change);
            }
            Err(reason) => problems.push(Problem::new(row.line, reason)),
        }
    }
    problems.sort_by_key(|p| p.line);
    Ok(Plan {
        file_id: rules::file_id(bytes),
        format,
        rows: file.records.len(),
        changes,
        points: points.get(),
        problems,
    })
}

/// The format and mapping a file is read with: the merchant's mapping, or
/// the one the format (named, or detected) suggests.
fn mapping_for(file: &CsvFile, reading: &Reading) -> Result<(&'static str, Mapping), ImportError> {
    let format = match reading.format.as_deref() {
        Some(id) => rules::format(id)
            .ok_or_else(|| ImportError::UnknownFormat(id.chars().take(40).collect()))?,
        None => rules::detect(&file.columns)
            .or_else(|| rules::format("generic"))
            .expect("the generic format exists"),
    };
    let mapping = match &reading.mapping {
        Some(mapping) => mapping.clone(),
        None => rules::suggest(format, &file.columns),
    };
    Ok((format.id, mapping))
}

/// Each row key's customer, or why the key names none usable.
async fn find_customers(
    conn: &mut sqlx::AnyConnection,
    shop_id: i64,
    rows: &[Row],
) -> Result<HashMap<Key, Result<Found, &'static str>>, sqlx::Error> {
    let ids: Vec<i64> = rows
        .iter()
        .filter_map(|r| match r.key {
            Key::Id(id) => Some(id),
            Key::Email(_) => None,
        })
        .collect();
    let hashes: Vec<&str> = rows
        .iter()
        .filter_map(|r| match &r.key {
            Key::Email(hash) => Some(hash.as_str()),
            Key::Id(_) => None,
        })
        .collect();
    let mut found: HashMap<Key, Result<Found, &'static str>> = HashMap::new();
    for (id, customer) in member_imports::customers_by_id(conn, shop_id, &ids).await? {
        found.insert(Key::Id(id), Ok(customer));
    }
    for (hash, customers) in member_imports::customers_by_email(conn, shop_id, &hashes).await? {
        let one = match customers.as_slice() {
            [one] => Ok(*one),
            _ => Err("more than one customer has this email: use the customer id"),
        };
        found.insert(Key::Email(hash), one);
    }
    Ok(found)
}

/// A row's change for its customer, or why it cannot be made.
fn change(
    program: &Program,
    row: &Row,
    customer: i64,
    balances: &HashMap<i64, i64>,
    owners: &HashMap<String, i64>,
    codes_in_file: &BTreeMap<String, usize>,
) -> Result<Change, String> {
    let tier = match &row.tier {
        Some(written) => Some(
            program
                .settings
                .tiers
                .levels
                .iter()
                .find(|l| {
                    l.id.eq_ignore_ascii_case(written)
                        || l.name.trim().eq_ignore_ascii_case(written)
                })
                .map(|l| l.id.clone())
                .ok_or("the tier is not one of the program's tiers (by id or name)")?,
        ),
        None => None,
    };
    if let Some(code) = &row.referral_code {
        if let Some(line) = codes_in_file.get(code) {
            return Err(format!("the referral code is also on line {line}"));
        }
        if owners.get(code).is_some_and(|owner| *owner != customer) {
            return Err("the referral code belongs to another customer".into());
        }
    }
    let points = row.points.unwrap_or(0);
    let before = balances.get(&customer).copied().unwrap_or(0);
    let after = Points::new(before)
        .ok()
        .zip(Points::new(points).ok())
        .and_then(|(b, p)| b.checked_add(p))
        .ok_or("the balance would be out of range")?;
    Ok(Change {
        line: row.line,
        customer_id: customer,
        points,
        balance_before: before,
        balance_after: after.get(),
        tier,
        referral_code: row.referral_code.clone(),
        birthday: row.birthday.clone(),
    })
}

fn report(plan: Plan, dry_run: bool, already_imported: bool) -> Report {
    Report {
        file_id: plan.file_id,
        format: plan.format.to_owned(),
        dry_run,
        already_imported,
        rows: plan.rows,
        usable: plan.changes.len(),
        points: plan.points,
        changes_total: plan.changes.len(),
        changes: plan.changes.into_iter().take(LISTED_CHANGES).collect(),
        problems_total: plan.problems.len(),
        problems: plan.problems.into_iter().take(LISTED_PROBLEMS).collect(),
    }
}

/// The report of a file imported before: its counts, no change now.
fn earlier_report(done: ImportRecord) -> Report {
    Report {
        file_id: done.file_id,
        format: done.format,
        dry_run: false,
        already_imported: true,
        rows: done.row_count as usize,
        usable: done.imported as usize,
        points: done.points,
        changes_total: 0,
        changes: Vec::new(),
        problems_total: done.problems as usize,
        problems: Vec::new(),
    }
}
