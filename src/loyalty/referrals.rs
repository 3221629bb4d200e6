//! Referral rules: whether a friend's order pays the advocate. The checks
//! run in a fixed order and the first that fails decides: self-referral
//! (same customer, email, phone or shipping address), a friend who is not
//! new, an order below the minimum, an advocate at the cap; a burst of
//! referred orders is held for the merchant instead of paid.

use super::{money, settings::Referrals};

/// Who someone is, as far as fraud checks compare: hashed identifiers
/// (see [`super::identity`]), never the personal data itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub customer_id: Option<i64>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

/// The facts about one referred order.
#[derive(Debug, Clone, Default)]
pub struct ReferredOrder {
    pub advocate: Identity,
    pub friend: Identity,
    /// Orders the friend placed before this one.
    pub friend_earlier_orders: i64,
    /// The order's counted amount, minor units.
    pub amount: i64,
    /// Referrals already rewarded (or approved) for this advocate.
    pub advocate_rewarded: i64,
    /// Referred orders for this advocate within the burst window, this one
    /// excluded.
    pub advocate_recent: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Paid once the order passes the pending period unrefunded.
    Qualifies,
    /// Never paid, and why.
    Rejected(String),
    /// Waits for the merchant's approval, and why.
    Held(String),
}

pub fn assess(rules: &Referrals, exponent: u32, order: &ReferredOrder) -> Verdict {
    if let Some(what) = same_person(&order.advocate, &order.friend) {
        return Verdict::Rejected(format!("self-referral: same {what}"));
    }
    if order.friend_earlier_orders > 0 {
        return Verdict::Rejected("the friend is not a new customer".into());
    }
    let minimum = rules
        .minimum_order
        .as_deref()
        .and_then(|m| money::parse_minor(m, exponent))
        .unwrap_or(0);
    if order.amount < minimum {
        return Verdict::Rejected("the order is below the referral minimum".into());
    }
    if order.advocate_rewarded >= i64::from(rules.cap_per_advocate) {
        return Verdict::Rejected("the advocate reached the referral cap".into());
    }
    if order.advocate_recent >= i64::from(rules.burst_limit) {
        return Verdict::Held(format!(
            "more than {} referred orders within {} hours",
            rules.burst_limit, rules.burst_window_hours
        ));
    }
    Verdict::Qualifies
}

/// A friend's email as a discount claim gives it: checked, then normalised
/// the way [`super::identity::email`] hashes emails (trimmed, lower-case),
/// so that variations of one address are one friend and get one code.
/// `+tags` and dots are kept: order emails are hashed with them, and the
/// fraud rules compare those hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendEmail(String);

/// Longest address a mail path carries (RFC 5321).
const MAX_EMAIL_LEN: usize = 254;
/// Longest local part (RFC 5321).
const MAX_LOCAL_LEN: usize = 64;

impl FriendEmail {
    /// `None` unless `raw` looks deliverable: one `@`, a local part, a
    /// domain of non-empty labels with at least one dot, no spaces or
    /// control characters, at most 254 characters.
    pub fn parse(raw: &str) -> Option<Self> {
        let email = raw.trim().to_lowercase();
        if email.len() > MAX_EMAIL_LEN
            || email
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
        {
            return None;
        }
        let (local, domain) = email.split_once('@')?;
        let labels_ok = domain.split('.').count() >= 2
            && domain
                .split('.')
                .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
        if local.is_empty() || local.len() > MAX_LOCAL_LEN || domain.contains('@') || !labels_ok {
            return None;
        }
        Some(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What two identities share, if anything.
pub fn same_person(a: &Identity, b: &Identity) -> Option<&'static str> {
    fn same<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
        matches!((a, b), (Some(a), Some(b)) if a == b)
    }
    if same(&a.customer_id, &b.customer_id) {
        Some("customer")
    } else if same(&a.email, &b.email) {
        Some("email")
    } else if same(&a.phone, &b.phone) {
        Some("phone")
    } else if same(&a.address, &b.address) {
        Some("shipping address")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friend_emails_must_look_deliverable() {
        for bad in [
            "@",
            "a@",
            "@x.com",
            "a@x",
            "a@x.",
            "a@.com",
            "a@x..com",
            "a b@x.com",
            "a@b@x.com",
            "a@-x.com",
            "<a@x.com>",
            "a@x\n.com",
            "",
        ] {
            assert_eq!(FriendEmail::parse(bad), None, "{bad:?} was accepted");
        }
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(190));
        assert_eq!(FriendEmail::parse(&long), None, "255 characters");
        assert_eq!(
            FriendEmail::parse(&format!("{}@x.com", "a".repeat(65))),
            None,
            "local part over 64"
        );
        for good in [
            "a@x.co",
            "first.last+tag@mail.example.org",
            "o'neil@x-y.com",
        ] {
            assert!(FriendEmail::parse(good).is_some(), "{good:?} was refused");
        }
    }

    #[test]
    fn a_friend_email_is_normalised_as_identity_hashes_it() {
        let a = FriendEmail::parse("  Friend@Example.COM ");
        assert_eq!(
            a.as_ref().map(FriendEmail::as_str),
            Some("friend@example.com")
        );
        assert_eq!(
            super::super::identity::email(a.as_ref().map(FriendEmail::as_str)),
            super::super::identity::email(Some("friend@example.com"))
        );
    }

    fn who(id: i64, email: &str) -> Identity {
        Identity {
            customer_id: Some(id),
            email: Some(email.into()),
            phone: None,
            address: Some(format!("addr-{id}")),
        }
    }

    fn order() -> ReferredOrder {
        ReferredOrder {
            advocate: who(1, "a"),
            friend: who(2, "b"),
            amount: 5_000,
            ..Default::default()
        }
    }

    #[test]
    fn each_rule_decides_in_turn() {
        let rules = Referrals::default();
        assert_eq!(assess(&rules, 2, &order()), Verdict::Qualifies);
        let cases: Vec<(ReferredOrder, &str)> = vec![
            (
                ReferredOrder {
                    friend: who(1, "b"),
                    ..order()
                },
                "self-referral: same customer",
            ),
            (
                ReferredOrder {
                    friend: who(2, "a"),
                    ..order()
                },
                "self-referral: same email",
            ),
            (
                ReferredOrder {
                    friend: Identity {
                        address: Some("addr-1".into()),
                        ..who(2, "b")
                    },
                    ..order()
                },
                "self-referral: same shipping address",
            ),
            (
                ReferredOrder {
                    friend_earlier_orders: 1,
                    ..order()
                },
                "the friend is not a new customer",
            ),
            (
                ReferredOrder {
                    amount: 1_999,
                    ..order()
                },
                "the order is below the referral minimum",
            ),
            (
                ReferredOrder {
                    advocate_rewarded: 25,
                    ..order()
                },
                "the advocate reached the referral cap",
            ),
        ];
        for (case, reason) in cases {
            assert_eq!(assess(&rules, 2, &case), Verdict::Rejected(reason.into()));
        }
        let burst = ReferredOrder {
            advocate_recent: 3,
            ..order()
        };
        assert!(matches!(assess(&rules, 2, &burst), Verdict::Held(_)));
    }

    #[test]
    fn phones_match_too_and_missing_values_never_match() {
        let a = Identity {
            phone: Some("p".into()),
            ..Default::default()
        };
        assert_eq!(same_person(&a, &a.clone()), Some("phone"));
        assert_eq!(
            same_person(&Identity::default(), &Identity::default()),
            None
        );
    }
}
