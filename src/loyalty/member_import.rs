//! Members brought over from another loyalty program: a CSV file of point
//! balances (and optionally VIP tier, referral code and birthday) read into
//! rows Advocate can apply. Pure: no database. The file is read as RFC 4180
//! asks (quoted fields, doubled quotes, line ends inside quotes), with or
//! without a UTF-8 byte order mark, with CRLF or LF line ends; a column
//! mapping says which header holds which field; every row that cannot be
//! used is reported with its line number and a reason that never repeats
//! the shopper's data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::calendar;

/// The most points one row may bring.
pub const MAX_POINTS: i64 = 1_000_000_000;
/// The most rows (besides the header) one file may hold.
pub const MAX_ROWS: usize = 250_000;
/// The most columns a header may have.
pub const MAX_COLUMNS: usize = 200;
/// The longest field, in bytes.
pub const MAX_FIELD: usize = 1_000;

/// What a file is called in Advocate: the SHA-256 of its bytes (hex, the
/// first 32 characters). The same file imported twice has the same id.
pub fn file_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    hex::encode(&digest[..16])
}

/// Why a file cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not UTF-8 text (save it as CSV UTF-8)")]
    NotUtf8,
    #[error("line {0}: a quoted field is not closed")]
    UnclosedQuote(usize),
    #[error("line {0}: a field is longer than {MAX_FIELD} bytes")]
    FieldTooLong(usize),
    #[error("the header has more than {MAX_COLUMNS} columns")]
    TooManyColumns,
    #[error("the file has more than {MAX_ROWS} rows")]
    TooManyRows,
    #[error("the header names column {0:?} twice")]
    DuplicateColumn(String),
}

/// A CSV file: its header and its records, each with the line it starts on
/// (the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvFile {
    pub columns: Vec<String>,
    pub records: Vec<(usize, Vec<String>)>,
}

/// Reads a CSV file. Blank lines are skipped; a record shorter than the
/// header reads its missing fields as empty.
pub fn parse_csv(bytes: &[u8]) -> Result<CsvFile, FileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| FileError::NotUtf8)?;
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start = 1;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut field_started = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
        } else {
            match c {
                '"' if field.is_empty() && !field_started => {
                    quoted = true;
                    field_started = true;
                }
                ',' => {
                    record.push(std::mem::take(&mut field));
                    field_started = false;
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' | '\r' => {
                    record.push(std::mem::take(&mut field));
                    field_started = false;
                    finish(&mut records, std::mem::take(&mut record), start)?;
                    line += 1;
                    start = line;
                }
                _ => {
                    field.push(c);
                    field_started = true;
                }
            }
        }
        if field.len() > MAX_FIELD {
            return Err(FileError::FieldTooLong(line));
        }
    }
    if quoted {
        return Err(FileError::UnclosedQuote(start));
    }
    if field_started || !record.is_empty() {
        record.push(field);
        finish(&mut records, record, start)?;
    }
    let mut records = records.into_iter();
    let (_, header) = records.next().ok_or(FileError::Empty)?;
    if header.len() > MAX_COLUMNS {
        return Err(FileError::TooManyColumns);
    }
    let columns: Vec<String> = header.iter().map(|c| c.trim().to_owned()).collect();
    for (i, c) in columns.iter().enumerate() {
        if !c.is_empty() && columns[..i].iter().any(|o| o.eq_ignore_ascii_case(c)) {
            return Err(FileError::DuplicateColumn(c.clone()));
        }
    }
    Ok(CsvFile {
        columns,
        records: records.collect(),
    })
}

/// Adds a record unless it is a blank line.
fn finish(
    records: &mut Vec<(usize, Vec<String>)>,
    record: Vec<String>,
    line: usize,
) -> Result<(), FileError> {
    if record.len() == 1 && record[0].trim().is_empty() {
        return Ok(());
    }
    if records.len() > MAX_ROWS {
        return Err(FileError::TooManyRows);
    }
    records.push((line, record));
    Ok(())
}

/// Which column holds which field (header names, matched ignoring case and
/// surrounding space). A customer is found by `customer_id` when the row
/// has one, else by `email`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub customer_id: Option<String>,
    pub email: Option<String>,
    pub points: Option<String>,
    pub tier: Option<String>,
    pub referral_code: Option<String>,
    pub birthday: Option<String>,
}

/// The fields of a mapping, by name (as the API and the admin page name
/// them).
pub const FIELDS: [&str; 6] = [
    "customer_id",
    "email",
    "points",
    "tier",
    "referral_code",
    "birthday",
];

impl Mapping {
    pub fn get(&self, field: &str) -> Option<&str> {
        match field {
            "customer_id" => self.customer_id.as_deref(),
            "email" => self.email.as_deref(),
            "points" => self.points.as_deref(),
            "tier" => self.tier.as_deref(),
            "referral_code" => self.referral_code.as_deref(),
            "birthday" => self.birthday.as_deref(),
            _ => None,
        }
    }

    pub fn set(&mut self, field: &str, column: Option<String>) {
        let slot = match field {
            "customer_id" => &mut self.customer_id,
            "email" => &mut self.email,
            "points" => &mut self.points,
            "tier" => &mut self.tier,
            "referral_code" => &mut self.referral_code,
            "birthday" => &mut self.birthday,
            _ => return,
        };
        *slot = column.filter(|c| !c.trim().is_empty());
    }
}

/// The export format of a loyalty app: its name and the header of each
/// field in its files (see docs/member-import.md for where each comes
/// from). A field may be spelt in more than one way.
#[derive(Debug, Clone, Copy)]
pub struct Format {
    pub id: &'static str,
    pub name: &'static str,
    pub columns: &'static [(&'static str, &'static [&'static str])],
}

/// The formats Advocate knows: the column names each app publishes for
/// the files it imports or exports (docs/member-import.md gives the page
/// of each). `generic` matches the common spellings of every field; any
/// CSV works with a mapping of its own.
pub const FORMATS: &[Format] = &[
    Format {
        id: "generic",
        name: "Any CSV (columns matched by name)",
        columns: &[
            (
                "customer_id",
                &[
                    "customer_id",
                    "customer id",
                    "customerid",
                    "shopify customer id",
                    "shopify_customer_id",
                    "shopify id",
                ],
            ),
            (
                "email",
                &[
                    "email",
                    "e-mail",
                    "email address",
                    "customer email",
                    "customer_email",
                ],
            ),
            (
                "points",
                &[
                    "points",
                    "points balance",
                    "points_balance",
                    "point balance",
                    "balance",
                ],
            ),
            (
                "tier",
                &[
                    "tier",
                    "vip tier",
                    "vip_tier",
                    "vip tier name",
                    "membership type",
                ],
            ),
            (
                "referral_code",
                &[
                    "referral code",
                    "referral_code",
                    "referral url",
                    "referral_url",
                    "referral link",
                ],
            ),
            (
                "birthday",
                &[
                    "birthday",
                    "birthdate",
                    "date of birth",
                    "date_of_birth",
                    "birthday(mm/dd)",
                    "birthdate (yyyy-mm-dd)",
                    "dob",
                ],
            ),
        ],
    },
    Format {
        id: "smile",
        name: "Smile.io (points import file)",
        columns: &[("email", &["email"]), ("points", &["points"])],
    },
    Format {
        id: "rivo",
        name: "Rivo (loyalty data import file)",
        columns: &[
            ("email", &["Email"]),
            ("points", &["Points Balance"]),
            ("tier", &["VIP Tier"]),
            ("birthday", &["Birthdate"]),
        ],
    },
    Format {
        id: "yotpo",
        name: "Yotpo Loyalty (customers import file)",
        columns: &[
            ("email", &["Email"]),
            ("points", &["Points Balance"]),
            (
                "birthday",
                &[
                    "Birthday (MM/DD) or (MM/DD/YYYY)",
                    "Birthday (MM/DD)",
                    "Birthday",
                ],
            ),
        ],
    },
    Format {
        id: "growave",
        name: "Growave (rewards import file)",
        columns: &[
            ("customer_id", &["Customer ID"]),
            ("email", &["Email"]),
            ("points", &["Points"]),
            ("birthday", &["Birthdate (YYYY-MM-DD)", "Birthdate"]),
        ],
    },
    Format {
        id: "bon",
        name: "BON Loyalty (migration file)",
        columns: &[
            ("customer_id", &["Shopify ID"]),
            ("email", &["Email"]),
            ("points", &["Points Balance"]),
        ],
    },
    Format {
        id: "joy",
        name: "Joy Loyalty (customers export)",
        columns: &[
            ("email", &["Email"]),
            ("points", &["Points"]),
            ("tier", &["Membership Type"]),
            ("birthday", &["Birthday", "Birthday(MM/DD)"]),
        ],
    },
];

/// A format by id.
pub fn format(id: &str) -> Option<&'static Format> {
    FORMATS.iter().find(|f| f.id == id)
}

/// The mapping a format gives a header: each field to the first column the
/// format names for it that the header has.
pub fn suggest(format: &Format, columns: &[String]) -> Mapping {
    let mut mapping = Mapping::default();
    for (field, names) in format.columns {
        let found = names.iter().find_map(|name| {
            columns
                .iter()
                .find(|c| c.trim().eq_ignore_ascii_case(name))
                .cloned()
        });
        mapping.set(field, found);
    }
    mapping
}

/// The app format whose columns the header has all of, the one naming the
/// most fields first; None when no app format fits (the generic one does).
pub fn detect(columns: &[String]) -> Option<&'static Format> {
    let has = |names: &[&str]| {
        names
            .iter()
            .any(|n| columns.iter().any(|c| c.trim().eq_ignore_ascii_case(n)))
    };
    FORMATS
        .iter()
        .filter(|f| f.id != "generic")
        .filter(|f| f.columns.iter().all(|(_, names)| has(names)))
        .max_by_key(|f| (f.columns.len(), std::cmp::Reverse(f.id)))
}

/// Why a mapping cannot be used with a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("map a customer_id or an email column: rows are matched to customers by one of them")]
    NoKey,
    #[error("map at least one of points, tier, referral_code or birthday")]
    NothingToImport,
    #[error("{field} is mapped to column {column:?}, which the file does not have")]
    UnknownColumn { field: &'static str, column: String },
}

/// A mapping resolved against a header: each field's column index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Columns {
    pub customer_id: Option<usize>,
    pub email: Option<usize>,
    pub points: Option<usize>,
    pub tier: Option<usize>,
    pub referral_code: Option<usize>,
    pub birthday: Option<usize>,
}

/// Checks a mapping against the header.
pub fn resolve(mapping: &Mapping, columns: &[String]) -> Result<Columns, MappingError> {
    let index = |field: &'static str| -> Result<Option<usize>, MappingError> {
        let Some(name) = mapping.get(field) else {
            return Ok(None);
        };
        columns
            .iter()
            .position(|c| c.trim().eq_ignore_ascii_case(name.trim()))
            .map(Some)
            .ok_or_else(|| MappingError::UnknownColumn {
                field,
                column: name.chars().take(80).collect(),
            })
    };
    let resolved = Columns {
        customer_id: index("customer_id")?,
        email: index("email")?,
        points: index("points")?,
        tier: index("tier")?,
        referral_code: index("referral_code")?,
        birthday: index("birthday")?,
    };
    if resolved.customer_id.is_none() && resolved.email.is_none() {
        return Err(MappingError::NoKey);
    }
    if resolved.points.is_none()
        && resolved.tier.is_none()
        && resolved.referral_code.is_none()
        && resolved.birthday.is_none()
    {
        return Err(MappingError::NothingToImport);
    }
    Ok(resolved)
}

/// How a row names its customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A Shopify customer id.
    Id(i64),
    /// The hash of an email (`identity::email`): the address is not kept.
    Email(String),
}

/// A row that can be applied once its customer is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub key: Key,
    /// Points to add (None: the row brings none).
    pub points: Option<i64>,
    /// A tier as written (an id or a name of the program's tiers).
    pub tier: Option<String>,
    /// Upper-cased.
    pub referral_code: Option<String>,
    /// `MM-DD`.
    pub birthday: Option<String>,
}

/// A row that cannot be used, and why (never with the row's data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: usize,
    pub reason: String,
}

impl Problem {
    pub fn new(line: usize, reason: impl Into<String>) -> Self {
        Self {
            line,
            reason: reason.into(),
        }
    }
}

/// Reads each record with the resolved columns: the rows that can be
/// applied, and a problem for each that cannot.
pub fn rows(file: &CsvFile, columns: &Columns) -> (Vec<Row>, Vec<Problem>) {
    let mut rows = Vec::with_capacity(file.records.len());
    let mut problems = Vec::new();
    for (line, record) in &file.records {
        match row(*line, record, columns) {
            Ok(row) => rows.push(row),
            Err(reason) => problems.push(Problem::new(*line, reason)),
        }
    }
    (rows, problems)
}

fn row(line: usize, record: &[String], columns: &Columns) -> Result<Row, String> {
    let cell = |index: Option<usize>| -> Option<&str> {
        index
            .and_then(|i| record.get(i))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    let key = match (cell(columns.customer_id), cell(columns.email)) {
        (Some(id), _) => Key::Id(customer_id(id)?),
        (None, Some(email)) => {
            if !email.contains('@') || email.len() > 254 {
                return Err("the email is not an email address".into());
            }
            Key::Email(super::identity::email(Some(email)).ok_or("the email is empty")?)
        }
        (None, None) => return Err("no customer id or email".into()),
    };
    Ok(Row {
        line,
        key,
        points: cell(columns.points).map(points).transpose()?,
        tier: cell(columns.tier).map(|t| t.chars().take(100).collect()),
        referral_code: cell(columns.referral_code).map(referral_code).transpose()?,
        birthday: cell(columns.birthday).map(birthday).transpose()?,
    })
}

/// A Shopify customer id: a positive integer, or its GraphQL id
/// (`gid://shopify/Customer/123`).
fn customer_id(raw: &str) -> Result<i64, String> {
    let digits = raw.strip_prefix("gid://shopify/Customer/").unwrap_or(raw);
    digits
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| "the customer id is not a Shopify customer id".into())
}

/// Points: a whole number from 0 to [`MAX_POINTS`]; `12.0` reads as 12.
fn points(raw: &str) -> Result<i64, String> {
    let whole = match raw.split_once('.') {
        Some((whole, fraction)) if fraction.bytes().all(|b| b == b'0') => whole,
        Some(_) => return Err("points is not a whole number".into()),
        None => raw,
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(if whole.starts_with('-') {
            "points is below 0".into()
        } else {
            "points is not a whole number (write 52620, not 52,620)".into()
        });
    }
    match whole.parse::<i64>() {
        Ok(p) if p <= MAX_POINTS => Ok(p),
        _ => Err(format!("points is above {MAX_POINTS}")),
    }
}

/// A referral code, or the code at the end of a referral link (its `ref`
/// or `code` parameter, or its last path segment): 4 to 32 letters,
/// digits, `-` or `_`, upper-cased.
fn referral_code(raw: &str) -> Result<String, String> {
    let code = if raw.contains("://") {
        let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| matches!(*k, "ref" | "code" | "referral_code"))
            .map(|(_, v)| v)
            .unwrap_or_else(|| path.trim_end_matches('/').rsplit('/').next().unwrap_or(""))
    } else {
        raw
    };
    let valid = (4..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(code.to_ascii_uppercase())
    } else {
        Err("the referral code is not 4 to 32 letters, digits, - or _".into())
    }
}

/// A birthday: `MM-DD`, `--MM-DD`, a date `YYYY-MM-DD`, or `MM/DD` and
/// `MM/DD/YYYY` as the US-made apps write it (month first). The year is
/// not kept.
fn birthday(raw: &str) -> Result<String, String> {
    let bad = || "the birthday is not a date as MM-DD, YYYY-MM-DD or MM/DD/YYYY".to_owned();
    let month_day = if raw.contains('/') {
        let mut parts = raw.split('/');
        let (m, d) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let year_ok = parts
            .next()
            .is_none_or(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()));
        if !year_ok || parts.next().is_some() || m.is_empty() || m.len() > 2 || d.len() > 2 {
            return Err(bad());
        }
        format!("{m:0>2}-{d:0>2}")
    } else {
        match raw.len() {
            10 if raw.as_bytes()[4] == b'-' => raw[5..].to_owned(),
            7 if raw.starts_with("--") => raw[2..].to_owned(),
            _ => raw.to_owned(),
        }
    };
    calendar::parse_birthday(&month_day)
        .map(|(m, d)| format!("{m:02}-{d:02}"))
        .ok_or_else(bad)
}

/// Rows naming a customer already named on an earlier line become
/// problems; answers the rest, in file order.
pub fn first_per_customer(rows: Vec<(Row, i64)>, problems: &mut Vec<Problem>) -> Vec<(Row, i64)> {
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    let mut kept = Vec::with_capacity(rows.len());
    for (row, customer) in rows {
        match seen.get(&customer) {
            Some(first) => problems.push(Problem::new(
                row.line,
                format!("the same customer as line {first}"),
            )),
            None => {
                seen.insert(customer, row.line);
                kept.push((row, customer));
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_file_with_a_bom_crlf_quotes_and_blank_lines_reads_as_written() {
        let file = parse_csv(
            b"\xEF\xBB\xBFEmail,Points,Note\r\n\
              a@example.com,10,\"plain\"\r\n\
              \r\n\
              \"b@example.com\",20,\"two\r\nlines, and \"\"quotes\"\"\"\r\n\
              c@example.com,30",
        )
        .unwrap();
        assert_eq!(file.columns, strings(&["Email", "Points", "Note"]));
        assert_eq!(
            file.records,
            vec![
                (2, strings(&["a@example.com", "10", "plain"])),
                (
                    4,
                    strings(&["b@example.com", "20", "two\r\nlines, and \"quotes\""])
                ),
                (6, strings(&["c@example.com", "30"])),
            ]
        );
    }

    #[test]
    fn broken_files_are_refused_with_the_line() {
        assert_eq!(parse_csv(b""), Err(FileError::Empty));
        assert_eq!(parse_csv(b"\xff\xfe"), Err(FileError::NotUtf8));
        assert_eq!(
            parse_csv(b"email,points\na@b.c,\"10\n"),
            Err(FileError::UnclosedQuote(2))
        );
        assert_eq!(
            parse_csv(b"email,Email\n"),
            Err(FileError::DuplicateColumn("Email".into()))
        );
        let long = format!("email\n{}\n", "x".repeat(MAX_FIELD + 1));
        assert_eq!(parse_csv(long.as_bytes()), Err(FileError::FieldTooLong(2)));
    }

    #[test]
    fn each_bad_field_is_a_problem_of_its_row_without_its_data() {
        let file = parse_csv(
            b"id,email,points,tier,code,birthday\n\
              7,,100,Gold,abc-123,1990-07-04\n\
              ,x@example.com,12.0,,https://shop.example/?ref=Friend5,--02-29\n\
              ,,5,,,\n\
              ,not-an-email,5,,,\n\
              ,y@example.com,\"1,234\",,,\n\
              ,y@example.com,-5,,,\n\
              ,y@example.com,1.5,,,\n\
              ,y@example.com,1000000001,,,\n\
              ,y@example.com,1,,a b,\n\
              ,y@example.com,1,,,13-01\n\
              gid://shopify/Customer/9,,,,,\n\
              0,,1,,,\n",
        )
        .unwrap();
        let mapping = Mapping {
            customer_id: Some("ID".into()),
            email: Some("email".into()),
            points: Some("points".into()),
            tier: Some("tier".into()),
            referral_code: Some("code".into()),
            birthday: Some("birthday".into()),
        };
        let columns = resolve(&mapping, &file.columns).unwrap();
        let (rows, problems) = rows(&file, &columns);
        assert_eq!(
            rows[0],
            Row {
                line: 2,
                key: Key::Id(7),
                points: Some(100),
                tier: Some("Gold".into()),
                referral_code: Some("ABC-123".into()),
                birthday: Some("07-04".into()),
            }
        );
        assert_eq!(rows[1].points, Some(12));
        assert_eq!(rows[1].referral_code.as_deref(), Some("FRIEND5"));
        assert_eq!(rows[1].birthday.as_deref(), Some("02-29"));
        assert_eq!(
            rows[1].key,
            Key::Email(crate::loyalty::identity::email(Some("X@example.com ")).unwrap())
        );
        assert_eq!(rows[2].key, Key::Id(9));
        assert_eq!(rows[2].points, None);
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [4, 5, 6, 7, 8, 9, 10, 11, 13]);
        for p in &problems {
            assert!(!p.reason.contains("example"), "{p:?}");
        }
        assert!(problems[2].reason.contains("whole number"));
        assert!(problems[3].reason.contains("below 0"));
    }

    #[test]
    fn a_mapping_needs_a_key_something_to_import_and_columns_the_file_has() {
        let columns = strings(&["Email", "Points"]);
        let mut mapping = suggest(format("smile").unwrap(), &columns);
        assert_eq!(mapping.email.as_deref(), Some("Email"));
        assert_eq!(mapping.points.as_deref(), Some("Points"));
        assert!(resolve(&mapping, &columns).is_ok());
        assert_eq!(detect(&columns).map(|f| f.id), Some("smile"));
        mapping.points = None;
        assert_eq!(
            resolve(&mapping, &columns),
            Err(MappingError::NothingToImport)
        );
        mapping.email = None;
        mapping.points = Some("Points".into());
        assert_eq!(resolve(&mapping, &columns), Err(MappingError::NoKey));
        mapping.email = Some("mail".into());
        assert!(matches!(
            resolve(&mapping, &columns),
            Err(MappingError::UnknownColumn { field: "email", .. })
        ));
    }

    #[test]
    fn birthdays_read_in_the_ways_the_apps_write_them() {
        for (raw, want) in [
            ("07-04", "07-04"),
            ("--07-04", "07-04"),
            ("1990-07-04", "07-04"),
            ("7/4", "07-04"),
            ("07/04/1990", "07-04"),
            ("02/29", "02-29"),
        ] {
            assert_eq!(birthday(raw).as_deref(), Ok(want), "{raw}");
        }
        for raw in ["13-01", "1990/07/04", "7/4/90", "04.07.1990", "07-32", "//"] {
            assert!(birthday(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn the_apps_files_are_recognised_by_their_columns() {
        let detected = |cols: &[&str]| detect(&strings(cols)).map(|f| f.id);
        assert_eq!(detected(&["email", "points"]), Some("smile"));
        assert_eq!(
            detected(&[
                "Email",
                "Points Balance",
                "Birthdate",
                "VIP Tier",
                "Activation Date"
            ]),
            Some("rivo")
        );
        assert_eq!(
            detected(&["Customer ID", "Email", "Points", "Birthdate (YYYY-MM-DD)"]),
            Some("growave")
        );
        assert_eq!(
            detected(&["Email", "Points Balance", "Shopify ID"]),
            Some("bon")
        );
        assert_eq!(
            detected(&["Email", "Name", "Membership Type", "Points", "Birthday"]),
            Some("joy")
        );
        assert_eq!(detected(&["mail", "score"]), None);
        let mapping = suggest(
            format("generic").unwrap(),
            &strings(&["E-mail", "Balance", "VIP tier", "Referral URL", "DOB"]),
        );
        assert_eq!(mapping.email.as_deref(), Some("E-mail"));
        assert_eq!(mapping.points.as_deref(), Some("Balance"));
        assert_eq!(mapping.tier.as_deref(), Some("VIP tier"));
        assert_eq!(mapping.referral_code.as_deref(), Some("Referral URL"));
        assert_eq!(mapping.birthday.as_deref(), Some("DOB"));
    }

    #[test]
    fn a_customer_named_twice_keeps_the_first_line() {
        let row = |line| Row {
            line,
            key: Key::Id(1),
            points: Some(1),
            tier: None,
            referral_code: None,
            birthday: None,
        };
        let mut problems = Vec::new();
        let kept = first_per_customer(vec![(row(2), 1), (row(3), 2), (row(4), 1)], &mut problems);
        assert_eq!(kept.iter().map(|(r, _)| r.line).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(problems, [Problem::new(4, "the same customer as line 2")]);
    }

    #[test]
    fn the_file_id_is_the_files_digest() {
        assert_eq!(file_id(b"a"), file_id(b"a"));
        assert_ne!(file_id(b"a"), file_id(b"b"));
        assert_eq!(file_id(b"a").len(), 32);
    }
}
