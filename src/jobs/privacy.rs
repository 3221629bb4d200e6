//! Removing personal data from raw payloads we must keep (held or failed
//! webhook deliveries) once the customer they concern is redacted.

use serde_json::Value;

/// Keys whose value is personal data wherever they appear.
const PERSONAL_KEYS: &[&str] = &[
    "email",
    "contact_email",
    "customer_email",
    "phone",
    "first_name",
    "last_name",
    "note",
    "browser_ip",
    "billing_address",
    "shipping_address",
    "default_address",
    "addresses",
    "client_details",
    "landing_site",
    "referring_site",
];

/// The body with every personal value replaced by `null`. A body that is not
/// JSON cannot be sorted into personal and not, so nothing of it is kept.
pub fn redact_body(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            strip(&mut value);
            serde_json::to_vec(&value).unwrap_or_default()
        }
        Err(_) => br#"{"redacted":true}"#.to_vec(),
    }
}

fn strip(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if PERSONAL_KEYS.contains(&key.as_str()) {
                    *child = Value::Null;
                } else {
                    strip(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn personal_values_are_nulled_and_the_rest_kept() {
        let body = br#"{"id":820982911946154508,"email":"a@b.c","customer":{"id":1,"first_name":"Ann","phone":"1"},"line_items":[{"price":"1.00","billing_address":{"city":"X"}}]}"#;
        let out = String::from_utf8(super::redact_body(body)).unwrap();
        assert!(out.contains("820982911946154508"), "{out}");
        assert!(out.contains(r#""price":"1.00""#));
        for personal in ["a@b.c", "Ann", "\"X\""] {
            assert!(!out.contains(personal), "{personal} left in {out}");
        }
    }

    #[test]
    fn a_body_that_is_not_json_is_dropped_whole() {
        assert_eq!(super::redact_body(b"email=a@b.c"), br#"{"redacted":true}"#);
    }
}
