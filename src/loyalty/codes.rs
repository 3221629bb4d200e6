//! Codes shoppers see: referral codes and reward discount codes. Random
//! from the operating system's generator, in an alphabet without look-alike
//! characters (no 0/O, 1/I), so they can be read aloud and typed.

use rand::Rng;

const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

fn random(len: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A referral code: 8 characters, 40 bits.
pub fn referral_code() -> String {
    random(8)
}

/// A discount code for a reward: `prefix-XXXX-XXXX-XXXX`, 60 bits.
pub fn discount_code(prefix: &str) -> String {
    format!("{prefix}-{}-{}-{}", random(4), random(4), random(4))
}

#[cfg(test)]
mod tests {
    /// True for a string shaped like a referral code.
    fn is_referral_code(raw: &str) -> bool {
        raw.len() == 8 && raw.bytes().all(|b| super::ALPHABET.contains(&b))
    }

    #[test]
    fn codes_have_their_shape_and_differ() {
        let a = super::referral_code();
        assert!(is_referral_code(&a));
        assert!(!is_referral_code("ABCD0123"));
        let code = super::discount_code("ADV");
        assert_eq!(code.len(), 18);
        assert!(code.starts_with("ADV-"));
        assert_ne!(super::discount_code("ADV"), code);
    }
}
