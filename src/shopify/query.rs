//! Signed query strings: the OAuth callback / app-load `hmac` and the app
//! proxy `signature`. Both are HMAC-SHA256 (hex) with the client secret over
//! a canonical form of the other parameters; they differ in that form.
//!
//! The app proxy form joins a repeated key's values with `,`, so a shopper
//! who adds `logged_in_customer_id=5555` to a storefront URL gets a request
//! Shopify signs as `logged_in_customer_id=5555,1`: the signature holds, but
//! no single value is the one Shopify vouches for. A repeated
//! [`PROXY_SINGLE_VALUED`] parameter is therefore refused before the
//! signature is checked: it is wrong whoever signed it, and refusing it
//! first means no later reader can pick a value out of it.
//!
//! The proxy form also has no separator between pairs, so one signed
//! message can be split into pairs more than one way: a logged-out shopper
//! who asks for `?a=1logged_in_customer_id%3D42m` gets a signature over
//! `a=1logged_in_customer_id=42mlogged_in_customer_id=path_prefix=…`, which
//! also holds for `a=1&logged_in_customer_id=42&mlogged_in_customer_id=&…`:
//! a customer Shopify never vouched for. A proxy query may therefore carry
//! only the parameters Shopify sets ([`PROXY_PARAMETERS`]; none is a suffix
//! of another), and no `=` inside a value: then every `=` of the message
//! ends one of those names, the message splits one way only, and each value
//! read is the one Shopify set.

use super::hmac::Signer;

/// Query parameters as decoded pairs, in the order they came.
pub fn parse_pairs(raw_query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw_query.trim_start_matches('?').as_bytes())
        .into_owned()
        .collect()
}

/// The first value of `name`.
pub fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// OAuth form: drop `hmac` and `signature`; `key[]` parameters become
/// `key=["a", "b"]`; `%` and `&` escaped in keys and values, `=` in keys;
/// sorted by key; joined with `&`.
pub fn oauth_message(pairs: &[(String, String)]) -> String {
    let mut grouped: Vec<(String, String)> = Vec::new();
    let mut arrays: Vec<(String, Vec<String>)> = Vec::new();
    for (key, value) in pairs {
        if key == "hmac" || key == "signature" {
            continue;
        }
        if let Some(base) = key.strip_suffix("[]") {
            match arrays.iter_mut().find(|(k, _)| k == base) {
                Some((_, values)) => values.push(value.clone()),
                None => arrays.push((base.to_owned(), vec![value.clone()])),
            }
        } else {
            grouped.push((key.clone(), value.clone()));
        }
    }
    for (key, values) in arrays {
        let list = values
            .iter()
            .map(|v| format!("\"{v}\""))
            .collect::<Vec<_>>()
            .join(", ");
        grouped.push((key, format!("[{list}]")));
    }
    let escape_value = |s: &str| s.replace('%', "%25").replace('&', "%26");
    let escape_key = |s: &str| escape_value(s).replace('=', "%3D");
    let mut parts: Vec<(String, String)> = grouped
        .iter()
        .map(|(k, v)| (escape_key(k), escape_value(v)))
        .collect();
    parts.sort();
    parts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// App proxy form: drop `signature`; repeated keys' values joined by `,`;
/// sorted by key; `key=value` concatenated with no separator.
pub fn proxy_message(pairs: &[(String, String)]) -> String {
    let mut grouped: Vec<(String, Vec<&str>)> = Vec::new();
    for (key, value) in pairs {
        if key == "signature" {
            continue;
        }
        match grouped.iter_mut().find(|(k, _)| k == key) {
            Some((_, values)) => values.push(value),
            None => grouped.push((key.clone(), vec![value])),
        }
    }
    grouped.sort_by(|a, b| a.0.cmp(&b.0));
    grouped
        .iter()
        .map(|(k, v)| format!("{k}={}", v.join(",")))
        .collect()
}

/// Every parameter an app proxy request may carry: the ones Shopify adds.
/// Advocate's storefront calls add none of their own.
pub const PROXY_PARAMETERS: [&str; 5] = [
    "shop",
    "logged_in_customer_id",
    "path_prefix",
    "timestamp",
    "signature",
];

/// App proxy parameters Shopify sets once and Advocate reads as one value.
pub const PROXY_SINGLE_VALUED: [&str; 4] =
    ["shop", "logged_in_customer_id", "timestamp", "signature"];

/// Why a signed query was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    /// Names the parameter, never its values.
    #[error("the parameter `{0}` appears more than once")]
    RepeatedParameter(&'static str),
    /// App proxy queries: a parameter Shopify does not send, which could
    /// re-split the signed form. Its name is not repeated back.
    #[error("a parameter Shopify does not send is present")]
    UnexpectedParameter,
    /// App proxy queries: an `=` inside a value, which makes the signed
    /// form ambiguous.
    #[error("a parameter value contains `=`")]
    AmbiguousParameter,
    /// OAuth queries: a plain key (not `key[]`) that appears twice.
    #[error("a parameter appears more than once")]
    RepeatedKey,
    #[error("the request is not signed")]
    Unsigned,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the request has no valid timestamp")]
    NoTimestamp,
    #[error("the request is too old or from the future")]
    Stale,
}

/// Verifies an OAuth/app-load query (`hmac`) and its timestamp.
pub fn verify_oauth(
    signer: &Signer,
    pairs: &[(String, String)],
    now_secs: i64,
    max_skew_secs: i64,
) -> Result<(), QueryError> {
    // Shopify never repeats a plain key in a callback or app load, and its
    // libraries disagree on how a repeat would be signed: refuse it.
    for (i, (key, _)) in pairs.iter().enumerate() {
        if !key.ends_with("[]") && pairs[..i].iter().any(|(k, _)| k == key) {
            return Err(QueryError::RepeatedKey);
        }
    }
    let hmac = get(pairs, "hmac").ok_or(QueryError::Unsigned)?;
    if !signer.verify_hex(oauth_message(pairs).as_bytes(), hmac) {
        return Err(QueryError::BadSignature);
    }
    check_timestamp(pairs, now_secs, max_skew_secs)
}

/// Verifies an app proxy query (`signature`) and its timestamp.
pub fn verify_proxy(
    signer: &Signer,
    pairs: &[(String, String)],
    now_secs: i64,
    max_skew_secs: i64,
) -> Result<(), QueryError> {
    if pairs
        .iter()
        .any(|(k, _)| !PROXY_PARAMETERS.contains(&k.as_str()))
    {
        return Err(QueryError::UnexpectedParameter);
    }
    if pairs.iter().any(|(_, v)| v.contains('=')) {
        return Err(QueryError::AmbiguousParameter);
    }
    refuse_repeated(pairs, &PROXY_SINGLE_VALUED)?;
    let signature = get(pairs, "signature").ok_or(QueryError::Unsigned)?;
    if !signer.verify_hex(proxy_message(pairs).as_bytes(), signature) {
        return Err(QueryError::BadSignature);
    }
    check_timestamp(pairs, now_secs, max_skew_secs)
}

/// The first of `names` that appears more than once, as an error.
fn refuse_repeated(pairs: &[(String, String)], names: &[&'static str]) -> Result<(), QueryError> {
    for name in names {
        if pairs.iter().filter(|(k, _)| k == name).count() > 1 {
            return Err(QueryError::RepeatedParameter(name));
        }
    }
    Ok(())
}

fn check_timestamp(pairs: &[(String, String)], now: i64, max_skew: i64) -> Result<(), QueryError> {
    let ts: i64 = get(pairs, "timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or(QueryError::NoTimestamp)?;
    // `abs_diff` cannot overflow, whatever timestamp a signed query claims.
    if now.abs_diff(ts) > max_skew.unsigned_abs() {
        return Err(QueryError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn signer(secret: &str) -> Signer {
        Signer::new(&SecretString::from(secret.to_owned()), None)
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_proxy_query_that_can_be_split_another_way_is_refused() {
        let s = signer("hush");
        // What a logged-out shopper asks Shopify for, signed by Shopify.
        let asked = pairs(&[
            ("a", "1logged_in_customer_id=42m"),
            ("logged_in_customer_id", ""),
            ("path_prefix", "/apps/loyalty"),
            ("shop", "shop-name.myshopify.com"),
            ("timestamp", "1317327555"),
        ]);
        let signature = s.sign_hex(proxy_message(&asked).as_bytes());
        // The same message split another way: no `=` in any value, one
        // `logged_in_customer_id`, and it is 42.
        let resplit = pairs(&[
            ("a", "1"),
            ("logged_in_customer_id", "42"),
            ("mlogged_in_customer_id", ""),
            ("path_prefix", "/apps/loyalty"),
            ("shop", "shop-name.myshopify.com"),
            ("timestamp", "1317327555"),
        ]);
        assert_eq!(
            proxy_message(&resplit),
            proxy_message(&asked),
            "one message, two splits"
        );
        for query in [&asked, &resplit] {
            let mut query = query.clone();
            query.push(("signature".into(), signature.clone()));
            assert_eq!(
                verify_proxy(&s, &query, 1317327555, 90),
                Err(QueryError::UnexpectedParameter)
            );
        }
        let mut with_equals = pairs(&[
            ("logged_in_customer_id", ""),
            ("path_prefix", "/apps/loyalty=1"),
            ("shop", "shop-name.myshopify.com"),
            ("timestamp", "1317327555"),
        ]);
        let signature = s.sign_hex(proxy_message(&with_equals).as_bytes());
        with_equals.push(("signature".into(), signature));
        assert_eq!(
            verify_proxy(&s, &with_equals, 1317327555, 90),
            Err(QueryError::AmbiguousParameter)
        );
    }

    #[test]
    fn no_proxy_parameter_name_is_a_suffix_of_another() {
        // What makes the signed form split one way only.
        for a in PROXY_PARAMETERS {
            for b in PROXY_PARAMETERS {
                assert!(a == b || !a.ends_with(b), "{b} ends {a}");
            }
        }
    }

    #[test]
    fn an_extreme_timestamp_is_stale_not_an_overflow() {
        for ts in [i64::MIN, i64::MAX] {
            let p = pairs(&[("timestamp", &ts.to_string())]);
            assert_eq!(
                check_timestamp(&p, 1_700_000_000, 90),
                Err(QueryError::Stale)
            );
        }
    }

    #[test]
    fn vector_o1_shopify_docs() {
        let query = "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173";
        let p = parse_pairs(query);
        assert_eq!(
            oauth_message(&p),
            "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173"
        );
        assert_eq!(verify_oauth(&signer("hush"), &p, 1337178173, 90), Ok(()));
        assert_eq!(
            verify_oauth(&signer("hush"), &p, 1337178173 + 91, 90),
            Err(QueryError::Stale)
        );
    }

    #[test]
    fn vector_o2_shopify_python_api() {
        let s = signer("hush");
        let a = pairs(&[
            ("shop", "some-shop.myshopify.com"),
            ("code", "a94a110d86d2452eb3e2af4cfb8a3828"),
            ("timestamp", "1337178173"),
        ]);
        assert_eq!(
            s.sign_hex(oauth_message(&a).as_bytes()),
            "2cb1a277650a659f1b11e92a4a64275b128e037f2c3390e3c8fd2d8721dac9e2"
        );
        let b = pairs(&[
            ("shop", "some-shop.myshopify.com"),
            ("ids[]", "2"),
            ("ids[]", "1"),
        ]);
        assert_eq!(
            oauth_message(&b),
            r#"ids=["2", "1"]&shop=some-shop.myshopify.com"#
        );
        assert_eq!(
            s.sign_hex(oauth_message(&b).as_bytes()),
            "b93b9f82996f6f8bf9f1b7bbddec284c8fabacdc4e12dc80550b4705f3003b1e"
        );
        let c = pairs(&[("a", "1&b=2"), ("c=3&d", "4")]);
        assert_eq!(oauth_message(&c), "a=1%26b=2&c%3D3%26d=4");
        assert_eq!(
            signer("secret").sign_hex(oauth_message(&c).as_bytes()),
            "8de3c7e965d22fa21e059868e4004f5b6fbdcef293d1622ff9408edd6325bc6b"
        );
    }

    #[test]
    fn vector_o3_unsorted_php_digest_is_rejected() {
        let p = pairs(&[
            ("shop", "test-shop.myshopify.io"),
            ("state", "1234"),
            ("code", "real_code"),
            ("timestamp", "0"),
            (
                "hmac",
                "b104858f49be2f9dda979fb07f107e0ab337e0e0f32682560dbe9f03c25b5129",
            ),
        ]);
        assert_eq!(
            verify_oauth(&signer("7008c5f4da4718b9b45d26d3fcbbb157"), &p, 0, 90),
            Err(QueryError::BadSignature)
        );
    }

    #[test]
    fn app_proxy_vector_from_shopify_node_library() {
        let p = pairs(&[
            ("extra", "1"),
            ("extra", "2"),
            ("shop", "shop-name.myshopify.com"),
            ("path_prefix", "/apps/awesome_reviews"),
            ("timestamp", "1317327555"),
            (
                "signature",
                "4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb",
            ),
            ("logged_in_customer_id", "1"),
        ]);
        assert_eq!(
            proxy_message(&p),
            "extra=1,2logged_in_customer_id=1path_prefix=/apps/awesome_reviewsshop=shop-name.myshopify.comtimestamp=1317327555"
        );
        let hush = signer("hush");
        assert!(hush.verify_hex(
            proxy_message(&p).as_bytes(),
            "4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb"
        ));
        // Shopify's form, but `extra` is no parameter Shopify sends.
        assert_eq!(
            verify_proxy(&hush, &p, 1317327555, 90),
            Err(QueryError::UnexpectedParameter)
        );

        let mut p: Vec<_> = p.into_iter().filter(|(k, _)| k != "extra").collect();
        let signature = hush.sign_hex(proxy_message(&p).as_bytes());
        p.retain(|(k, _)| k != "signature");
        p.push(("signature".into(), signature));
        assert_eq!(verify_proxy(&hush, &p, 1317327555, 90), Ok(()));
        let mut forged = p.clone();
        forged[3].1 = "2".into();
        assert_eq!(forged[3].0, "logged_in_customer_id");
        assert_eq!(
            verify_proxy(&hush, &forged, 1317327555, 90),
            Err(QueryError::BadSignature)
        );
        assert_eq!(
            verify_proxy(&hush, &p[..4], 1317327555, 90),
            Err(QueryError::Unsigned)
        );
    }

    #[test]
    fn a_repeated_single_valued_proxy_parameter_is_refused_before_the_signature() {
        for name in PROXY_SINGLE_VALUED {
            let mut p = pairs(&[
                ("shop", "shop-name.myshopify.com"),
                ("logged_in_customer_id", "1"),
                ("timestamp", "1317327555"),
                ("signature", "00"),
            ]);
            p.push((name.to_owned(), "5555".to_owned()));
            assert_eq!(
                verify_proxy(&signer("hush"), &p, 1317327555, 90),
                Err(QueryError::RepeatedParameter(name))
            );
        }
    }

    #[test]
    fn a_repeated_plain_oauth_key_is_refused_and_arrays_are_not() {
        let s = signer("hush");
        let mut p = pairs(&[("shop", "a.myshopify.com"), ("timestamp", "100")]);
        p.push(("shop".into(), "b.myshopify.com".into()));
        p.push(("hmac".into(), s.sign_hex(oauth_message(&p).as_bytes())));
        assert_eq!(verify_oauth(&s, &p, 100, 90), Err(QueryError::RepeatedKey));
        let mut arrays = pairs(&[("ids[]", "1"), ("ids[]", "2"), ("timestamp", "100")]);
        arrays.push(("hmac".into(), s.sign_hex(oauth_message(&arrays).as_bytes())));
        assert_eq!(verify_oauth(&s, &arrays, 100, 90), Ok(()));
    }

    #[test]
    fn signatures_in_another_spelling_are_refused() {
        let s = signer("hush");
        let mut p = pairs(&[("shop", "a.myshopify.com"), ("timestamp", "100")]);
        let good = s.sign_hex(proxy_message(&p).as_bytes());
        for spelling in [good.to_uppercase(), format!(" {good}"), format!("{good} ")] {
            p.retain(|(k, _)| k != "signature");
            p.push(("signature".into(), spelling));
            assert_eq!(verify_proxy(&s, &p, 100, 90), Err(QueryError::BadSignature));
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn any_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
            proptest::collection::vec(("\\PC{0,12}", "\\PC{0,24}"), 0..8)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn arbitrary_queries_are_never_accepted(raw in "\\PC{0,300}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                let s = signer("hush");
                for query in [raw, String::from_utf8_lossy(&bytes).into_owned()] {
                    let p = parse_pairs(&query);
                    prop_assert!(verify_oauth(&s, &p, 1_700_000_000, 90).is_err());
                    prop_assert!(verify_proxy(&s, &p, 1_700_000_000, 90).is_err());
                }
            }

            /// Correctly signed pairs with one byte of one key or value
            /// changed: never accepted.
            #[test]
            fn a_tampered_signed_query_is_never_accepted(
                mut p in any_pairs(),
                which in any::<prop::sample::Index>(),
                in_key in any::<bool>(),
                extra in "[a-z0-9]",
            ) {
                let s = signer("hush");
                p.retain(|(k, _)| !["hmac", "signature", "timestamp"].contains(&k.as_str()));
                p.push(("timestamp".into(), "1700000000".into()));
                let mut oauth = p.clone();
                oauth.push(("hmac".into(), s.sign_hex(oauth_message(&p).as_bytes())));
                let mut proxy = p.clone();
                proxy.push(("signature".into(), s.sign_hex(proxy_message(&p).as_bytes())));
                let i = which.index(p.len());
                let tamper = |q: &mut Vec<(String, String)>| {
                    if in_key { q[i].0.push_str(&extra) } else { q[i].1.push_str(&extra) }
                };
                tamper(&mut oauth);
                tamper(&mut proxy);
                prop_assert!(verify_oauth(&s, &oauth, 1_700_000_000, 90).is_err());
                prop_assert!(verify_proxy(&s, &proxy, 1_700_000_000, 90).is_err());
                prop_assert!(verify_oauth(&signer("other"), &oauth, 1_700_000_000, 90).is_err());
            }
        }
    }
}
