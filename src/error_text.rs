//! Error texts that are safe to store and log. Errors about a payload tend
//! to quote it (serde's "invalid type: string \"555-625-1199\", expected
//! i64", a GraphQL error naming the value it refused), and those texts end
//! up in `last_error` columns the merchant can read, and in the logs, where
//! customers/redact cannot reach them. Every error text stored in a queue's
//! `last_error` or logged by the inbox and the outbox goes through here.
//!
//! The rule: keep the kind of error and where it happened (the JSON path,
//! the line and column), drop the value. Concretely, [`sanitise`] replaces
//! every quoted segment ("..", '..', `..`), every word with an `@` in it and
//! every run of seven or more digits (separators such as `-`, `.`, spaces
//! and brackets between them included) with `<redacted>`; and
//! [`payload_error`] rebuilds a serde error about a body from its kind, its
//! expected type and the JSON path of the offending value, which it finds
//! in the body from the error's line and column.

/// What a dropped value is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Runs of at least this many digits are taken for personal numbers
/// (phones, card-like numbers, dates); shorter ones (counts, line and
/// column, HTTP statuses) are kept.
const MIN_DIGITS: usize = 7;

/// `text` with quoted segments, e-mail-like words and long digit runs
/// replaced by [`REDACTED`]. Idempotent.
pub fn sanitise(text: &str) -> String {
    let unquoted = drop_quoted(text);
    let words = drop_at_words(&unquoted);
    drop_digit_runs(&words)
}

fn closing_quote(open: char) -> Option<char> {
    match open {
        '"' => Some('"'),
        '`' => Some('`'),
        '\'' => Some('\''),
        '\u{201c}' => Some('\u{201d}'),
        '\u{2018}' => Some('\u{2019}'),
        _ => None,
    }
}

fn drop_quoted(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        // An apostrophe inside a word ("can't", "shop's") opens nothing.
        let opens =
            closing_quote(c).filter(|_| c != '\'' || i == 0 || !chars[i - 1].is_alphanumeric());
        if let Some(close) = opens {
            let mut j = i + 1;
            while j < chars.len() {
                if chars[j] == '\\' {
                    j += 2;
                    continue;
                }
                if chars[j] == close {
                    break;
                }
                j += 1;
            }
            // An unterminated quote runs to the end: nothing after it is kept.
            out.push_str(REDACTED);
            i = j + 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn drop_at_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        // `%40` is an `@` that went through a URL.
        if word.contains('@') || word.to_ascii_lowercase().contains("%40") {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace()
            || matches!(c, ',' | ';' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>')
        {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn drop_digit_runs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The run: digits, with single separators between them.
        let start = i;
        let mut end = i;
        let mut digits = 0;
        let mut j = i;
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digits += 1;
                j += 1;
                end = j;
            } else if let Some(gap) = separator_gap(&chars[j..]) {
                j += gap;
            } else {
                break;
            }
        }
        if digits >= MIN_DIGITS {
            out.push_str(REDACTED);
        } else {
            out.extend(&chars[start..end]);
        }
        i = end;
    }
    out
}

/// The length of a separator between two digit groups ("-", ") ", " - ")
/// at the start of `rest`, when a digit follows it.
fn separator_gap(rest: &[char]) -> Option<usize> {
    let is_separator = |c: &char| matches!(c, '-' | '.' | ' ' | '(' | ')' | '+' | '/');
    let gap = rest.iter().take(3).take_while(|c| is_separator(c)).count();
    (gap > 0 && rest.get(gap).is_some_and(char::is_ascii_digit)).then_some(gap)
}

/// An error about a JSON `body` (serde's text, "… at line L column C"),
/// rebuilt without the values it quotes: its kind, the type expected, and
/// the JSON path of the value at fault, e.g.
/// `invalid type: integer, expected a string at $.customer.phone (line 1, column 52)`.
pub fn payload_error(message: &str, body: &[u8]) -> String {
    let (message, position) = split_position(message);
    let kind = kind_of(message);
    match position {
        Some((line, column)) => {
            let path = json_path_at(body, offset_of(body, line, column));
            format!("{kind} at {path} (line {line}, column {column})")
        }
        None => kind,
    }
}

/// ("message", Some((line, column))) from "message at line L column C".
fn split_position(message: &str) -> (&str, Option<(usize, usize)>) {
    let Some((head, tail)) = message.rsplit_once(" at line ") else {
        return (message, None);
    };
    let mut parts = tail.split(" column ");
    match (
        parts.next().and_then(|l| l.trim().parse().ok()),
        parts.next().and_then(|c| c.trim().parse().ok()),
    ) {
        (Some(line), Some(column)) => (head, Some((line, column))),
        _ => (message, None),
    }
}

/// The error's kind with any value it quotes left out.
fn kind_of(message: &str) -> String {
    let expected = message
        .rsplit_once(", expected ")
        .map(|(_, e)| e.trim())
        .filter(|e| {
            e.len() <= 48
                && e.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_')
        });
    let with_expected = |kind: String| match expected {
        Some(e) => format!("{kind}, expected {e}"),
        None => kind,
    };
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            // serde names what it found ("integer `5`", "string \"x\"",
            // "map"): the words before the value.
            let found: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphabetic() || *c == ' ')
                .collect();
            return with_expected(format!("{prefix}{}", found.trim()));
        }
    }
    for kind in [
        "invalid length",
        "unknown variant",
        "unknown field",
        "missing field",
        "duplicate field",
    ] {
        if let Some(rest) = message.strip_prefix(kind) {
            let field = rest
                .trim()
                .strip_prefix('`')
                .and_then(|r| r.split_once('`'))
                .map(|(name, _)| name)
                .filter(|_| kind.ends_with("field") && !kind.starts_with("unknown"))
                .filter(|name| is_plain_key(name));
            return match field {
                Some(name) => format!("{kind} {name}"),
                None if kind == "missing field" || kind == "duplicate field" => kind.to_owned(),
                None => with_expected(kind.to_owned()),
            };
        }
    }
    sanitise(message)
}

/// A key from a schema rather than from a shopper: kept in paths.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && key.chars().filter(char::is_ascii_digit).count() < MIN_DIGITS
}

/// The byte offset just past serde's (1-based) line and column.
fn offset_of(body: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match body[start..].iter().position(|b| *b == b'\n') {
            Some(newline) => start += newline + 1,
            None => return body.len(),
        }
    }
    (start + column).min(body.len())
}

enum Frame {
    Object {
        key: Option<String>,
        expecting_key: bool,
    },
    Array {
        index: usize,
    },
}

/// The JSON path (`$.customer.phone`, `$.line_items[2].price`) of the value
/// being read when the parser stopped at `offset`. Keys that do not look
/// like a schema's are shown as `*`.
fn json_path_at(body: &[u8], offset: usize) -> String {
    let body = &body[..offset.min(body.len())];
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'{' => stack.push(Frame::Object {
                key: None,
                expecting_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, expecting_key }) => {
                    *key = None;
                    *expecting_key = true;
                }
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            b':' => {
                if let Some(Frame::Object { expecting_key, .. }) = stack.last_mut() {
                    *expecting_key = false;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < body.len() && body[j] != b'"' {
                    j += if body[j] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object {
                    key,
                    expecting_key: true,
                }) = stack.last_mut()
                {
                    let raw = &body[start..j.min(body.len())];
                    *key = Some(String::from_utf8_lossy(raw).into_owned());
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::from("$");
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(key), .. } if is_plain_key(key) => {
                path.push('.');
                path.push_str(key);
            }
            Frame::Object { key: Some(_), .. } => path.push_str(".*"),
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::{payload_error, sanitise, REDACTED};

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Customer {
        id: i64,
        phone: Option<String>,
        addresses: Vec<Address>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Address {
        zip: String,
    }

    fn serde_error(body: &str) -> String {
        serde_json::from_str::<Customer>(body)
            .expect_err("the body does not fit")
            .to_string()
    }

    #[test]
    fn a_wrong_type_keeps_its_kind_and_path_and_loses_its_value() {
        let body = "{\"id\":1,\n\"phone\":5556251199,\"addresses\":[]}";
        let raw = serde_error(body);
        assert!(raw.contains("5556251199"), "serde quotes the value: {raw}");
        let safe = payload_error(&raw, body.as_bytes());
        assert_eq!(
            safe,
            "invalid type: integer, expected a string at $.phone (line 2, column 18)"
        );
    }

    #[test]
    fn nested_and_array_paths_are_found() {
        let body = r#"{"id":1,"addresses":[{"zip":"K2P"},{"zip":["John Smith"]}]}"#;
        let safe = payload_error(&serde_error(body), body.as_bytes());
        assert!(
            safe.starts_with("invalid type: sequence, expected a string at $.addresses[1].zip"),
            "{safe}"
        );
        let body = r#"{"id":"john@example.com","addresses":[]}"#;
        let safe = payload_error(&serde_error(body), body.as_bytes());
        assert!(
            safe.starts_with("invalid type: string, expected i64 at $.id"),
            "{safe}"
        );
        assert!(!safe.contains("john"), "{safe}");
    }

    #[test]
    fn missing_fields_name_the_field_and_its_object() {
        let body = r#"{"id":1,"addresses":[{"city":"Ottawa"}]}"#;
        let safe = payload_error(&serde_error(body), body.as_bytes());
        assert!(
            safe.starts_with("missing field zip at $.addresses[0]"),
            "{safe}"
        );
    }

    #[test]
    fn syntax_errors_keep_their_text() {
        let body = r#"{"id":1, "phone": "555"#;
        let safe = payload_error(&serde_error(body), body.as_bytes());
        assert!(
            safe.starts_with("EOF while parsing a string at $.phone"),
            "{safe}"
        );
    }

    #[test]
    fn unusual_keys_are_not_copied_into_paths() {
        let body = r#"{"id":1,"addresses":[],"john@example.com":{"x":1},"phone":7}"#;
        let safe = payload_error(&serde_error(body), body.as_bytes());
        assert!(safe.contains("at $.phone"), "{safe}");
        let mut stack_body = String::from(r#"{"john@example.com":"#);
        stack_body.push_str(r#"{"a":"#);
        let path = super::json_path_at(stack_body.as_bytes(), stack_body.len());
        assert_eq!(path, "$.*.a");
    }

    #[test]
    fn free_text_loses_quoted_values_emails_and_long_numbers() {
        let text = "Variable $input was provided invalid value for phone (\"+1 555-625-1199\"); \
                    customer john@example.com, order 299938123, 'Johnathan' can't be tagged `vip`; \
                    gave up after 10 attempts at line 1 column 52, HTTP 503";
        let safe = sanitise(text);
        for gone in ["555", "john@", "299938123", "Johnathan", "vip"] {
            assert!(!safe.contains(gone), "{gone} in {safe}");
        }
        for kept in [
            "can't",
            "10 attempts",
            "line 1 column 52",
            "HTTP 503",
            "phone",
        ] {
            assert!(safe.contains(kept), "{kept} missing from {safe}");
        }
        assert!(safe.contains(REDACTED));
        assert_eq!(sanitise(&safe), safe, "sanitising twice changes nothing");
    }

    #[test]
    fn spaced_phone_numbers_and_url_encoded_emails_are_dropped() {
        let out =
            sanitise("call 555 - 625 - 1199 or write john%40example.com (JOHN%40EXAMPLE.COM)");
        for gone in ["625", "1199", "john", "JOHN", "example"] {
            assert!(!out.contains(gone), "{gone} left in {out}");
        }
    }

    #[test]
    fn unquoted_phone_numbers_with_separators_are_dropped() {
        let safe = sanitise("call (555) 625-1199 now");
        assert!(!safe.contains("555") && !safe.contains("1199"), "{safe}");
        assert!(safe.ends_with(&format!("{REDACTED} now")), "{safe}");
        assert_eq!(sanitise("2026-01-01"), REDACTED);
    }
}
