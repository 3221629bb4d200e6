//! Advocate's verdicts on Shopify artifacts, for the differential tests in
//! `tests/differential/`: reads one JSON case per line on stdin, writes one
//! JSON verdict per line on stdout, in order, using the crate's real
//! verifiers (no re-implementation here).
//!
//! Cases: `{"kind":"webhook","secret","body","header"}`,
//! `{"kind":"oauth"|"proxy","secret","query","now","max_skew"}` (the raw
//! query string), `{"kind":"session","secret","api_key","token"}`.
//! Verdicts: `{"accept":bool,"reason":"..."}`; for sessions also the
//! `admin`, `extension` and `pos` verifiers' answers.

use std::io::{BufRead, Write};

use advocate::shopify::{
    hmac::Signer,
    query,
    session_token::{AdminTokenVerifier, ExtensionTokenVerifier, PosTokenVerifier},
};
use secrecy::SecretString;
use serde_json::{json, Value};

fn text<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field].as_str().unwrap_or_default()
}

fn judge(case: &Value) -> Value {
    let secret = SecretString::from(text(case, "secret").to_owned());
    let signer = Signer::new(&secret, None);
    let query_verdict = |result: Result<(), query::QueryError>| match result {
        Ok(()) => json!({ "accept": true, "reason": "ok" }),
        Err(e) => json!({ "accept": false, "reason": format!("{e:?}") }),
    };
    match text(case, "kind") {
        "webhook" => {
            let ok = signer.verify_webhook(text(case, "body").as_bytes(), text(case, "header"));
            json!({ "accept": ok, "reason": if ok { "ok" } else { "BadSignature" } })
        }
        "oauth" | "proxy" => {
            let pairs = query::parse_pairs(text(case, "query"));
            let now = case["now"].as_i64().unwrap_or_default();
            let skew = case["max_skew"].as_i64().unwrap_or(90);
            query_verdict(if text(case, "kind") == "oauth" {
                query::verify_oauth(&signer, &pairs, now, skew)
            } else {
                query::verify_proxy(&signer, &pairs, now, skew)
            })
        }
        "session" => {
            let api_key = text(case, "api_key");
            let token = text(case, "token");
            let admin = AdminTokenVerifier::new(api_key, &secret, None).verify(token);
            let extension = ExtensionTokenVerifier::new(api_key, &secret, None).verify(token);
            let pos = PosTokenVerifier::new(api_key, &secret, None).verify(token);
            let name = |r: Result<(), advocate::shopify::session_token::SessionTokenError>| {
                r.map_or_else(|e| format!("{e:?}"), |()| "ok".to_owned())
            };
            json!({
                "accept": admin.is_ok() || extension.is_ok() || pos.is_ok(),
                "admin": name(admin.map(|_| ())),
                "extension": name(extension.map(|_| ())),
                "pos": name(pos.map(|_| ())),
            })
        }
        other => json!({ "accept": false, "reason": format!("unknown kind {other:?}") }),
    }
}

fn main() -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let verdict = match serde_json::from_str::<Value>(&line) {
            Ok(case) => judge(&case),
            Err(e) => json!({ "accept": false, "reason": format!("unreadable case: {e}") }),
        };
        writeln!(out, "{verdict}")?;
    }
    out.flush()
}
